import { isDeepStrictEqual } from 'node:util';
import type { ApplyResult, Rejection, StoreEntry } from './events.js';
import type { Check, InstanceSpec, ServiceInstance } from './model.js';
import { instanceKey } from './model.js';
import type { CatalogReader, InstanceChange } from './view.js';

/** What a batch does to the catalog, computed without touching it. */
export interface BatchPlan {
  /** The changes in first-touched order; empty when the batch changes nothing. */
  readonly changes: readonly InstanceChange[];
  readonly rejected: readonly Rejection[];
}

/**
 * Works out what a batch of source events does to the catalog, as one commit at
 * `index`. Pure: it reads the current state and returns the changes, so every
 * store (memory, Redis, SQL…) applies exactly the same rules:
 *
 * - ownership: a source may only change or remove instances it owns, and `reset`
 *   replaces only what that source owns (a replica-scoped owner `http@a` may also
 *   take over what the bare `http` owns: see `owns`);
 * - no-ops (an upsert identical to what is stored, a check result that did not
 *   change) produce no change and so no index bump and no watcher wake-up;
 * - re-registering an instance keeps the status of checks whose definition did not
 *   change (Consul does the same: hashicorp/consul#868, #4904), so a file reload
 *   does not flap health;
 * - one bad entry is rejected with a reason; the rest of the batch still applies.
 */
export function planBatch(current: CatalogReader, entries: readonly StoreEntry[], index: number): BatchPlan {
  const overlay = new Map<string, ServiceInstance | null>();
  const order: string[] = [];
  const rejected: Rejection[] = [];

  const get = (key: string): ServiceInstance | undefined => {
    const o = overlay.get(key);
    return o === null ? undefined : (o ?? (overlay.has(key) ? undefined : current.instanceByKey(key)));
  };
  const set = (key: string, value: ServiceInstance | null): void => {
    if (!overlay.has(key)) order.push(key);
    overlay.set(key, value);
  };
  const upsert = (source: string, spec: InstanceSpec): string | undefined => {
    const key = instanceKey(spec);
    const existing = get(key);
    if (existing && !owns(source, existing.source)) {
      return `instance ${spec.node}/${spec.id} is owned by source "${existing.source}"`;
    }
    const merged = existing ? keepCheckStatus(spec, existing) : spec;
    if (existing && sameSpec(existing, merged)) return undefined;
    set(key, { ...merged, source, createIndex: existing?.createIndex ?? index, modifyIndex: index });
    return undefined;
  };

  for (const [entry, { source, event }] of entries.entries()) {
    const reject = (reason: string): void => {
      rejected.push({ entry, source, event: event.type, reason });
    };
    switch (event.type) {
      case 'upsert': {
        const why = upsert(source, event.instance);
        if (why) reject(why);
        break;
      }
      case 'remove': {
        const key = instanceKey(event.ref);
        const existing = get(key);
        if (!existing) break; // removing what is not there is a no-op, as in Consul
        if (!owns(source, existing.source)) {
          reject(`instance ${event.ref.node}/${event.ref.id} is owned by source "${existing.source}"`);
          break;
        }
        set(key, null);
        break;
      }
      case 'reset': {
        const wanted = new Set(event.instances.map(instanceKey));
        const owned = new Set(current.ownedBy(source));
        for (const [key, value] of overlay) {
          if (value?.source === source) owned.add(key);
          else owned.delete(key);
        }
        for (const key of owned) if (!wanted.has(key) && get(key)) set(key, null);
        for (const spec of event.instances) {
          const why = upsert(source, spec);
          if (why) reject(why);
        }
        break;
      }
      case 'checkStatus': {
        const target = findByCheck(current, overlay, event.node, event.checkId);
        if (!target) {
          reject(`no check "${event.checkId}" on node "${event.node}"`);
          break;
        }
        const checks = target.checks.map((c) =>
          c.id === event.checkId && (c.status !== event.status || c.output !== event.output)
            ? { ...c, status: event.status, output: event.output }
            : c,
        );
        if (checks.every((c, n) => c === target.checks[n])) break;
        set(instanceKey(target), { ...target, checks, modifyIndex: index });
        break;
      }
    }
  }

  const changes: InstanceChange[] = [];
  for (const key of order) {
    const before = current.instanceByKey(key);
    const after = overlay.get(key) ?? undefined;
    if (!before && !after) continue;
    if (before && after && before === after) continue;
    changes.push(after ? (before ? { key, before, after } : { key, after }) : { key, before: before! });
  }
  return { changes, rejected };
}

/**
 * May `source` change an instance owned by `owner`? Its own, and, for a
 * replica-scoped owner (`name@node`, see `Ownership`), what the bare `name`
 * owns: before owner ids named the replica, every replica's HTTP API owned its
 * registrations as `http`, and a catalog kept in Redis across the upgrade still
 * holds them so. Without this, the upgraded replica's re-registration would be
 * refused and the lease reaper would then remove the old copies.
 */
export function owns(source: string, owner: string): boolean {
  if (owner === source) return true;
  const at = source.indexOf('@');
  return at > 0 && !owner.includes('@') && source.slice(0, at) === owner;
}

export function applyResult(index: number, plan: BatchPlan): ApplyResult {
  return { index, changed: plan.changes.length, rejected: plan.rejected };
}

function findByCheck(
  current: CatalogReader,
  overlay: ReadonlyMap<string, ServiceInstance | null>,
  node: string,
  checkId: string,
): ServiceInstance | undefined {
  for (const value of overlay.values()) {
    if (value && value.node === node && value.checks.some((c) => c.id === checkId)) return value;
  }
  const found = current.instanceByCheck(node, checkId);
  return found && overlay.has(instanceKey(found)) ? undefined : found;
}

function keepCheckStatus(spec: InstanceSpec, existing: ServiceInstance): InstanceSpec {
  if (!spec.checks.length || !existing.checks.length) return spec;
  const old = new Map<string, Check>(existing.checks.map((c) => [c.id, c]));
  let kept = false;
  const checks = spec.checks.map((c) => {
    const prev = old.get(c.id);
    if (!prev || prev.type !== c.type || !isDeepStrictEqual(prev.definition, c.definition)) return c;
    kept = true;
    return { ...c, status: prev.status, output: prev.output };
  });
  return kept ? { ...spec, checks } : spec;
}

function sameSpec(a: ServiceInstance, b: InstanceSpec): boolean {
  return (
    a.service === b.service &&
    a.address === b.address &&
    a.port === b.port &&
    a.nodeAddress === b.nodeAddress &&
    a.datacenter === b.datacenter &&
    a.kind === b.kind &&
    a.enableTagOverride === b.enableTagOverride &&
    isDeepStrictEqual(a.tags, b.tags) &&
    isDeepStrictEqual(a.meta, b.meta) &&
    isDeepStrictEqual(a.nodeMeta, b.nodeMeta) &&
    isDeepStrictEqual(a.weights, b.weights) &&
    isDeepStrictEqual(a.taggedAddresses, b.taggedAddresses) &&
    isDeepStrictEqual(a.checks, b.checks)
  );
}
