import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  normalizeInstance,
  type CatalogEvent,
  type CatalogStore,
  type InstanceInput,
  type InstanceSpec,
  type NormalizedEvent,
  type ServiceInstance,
  type StoreContext,
  type StoreEntry,
} from '@signpost/core';
import { silentLogger } from '@signpost/core';
import { activeHandles } from './helpers.js';

const DEFAULTS = { node: 'node-a', nodeAddress: '10.0.0.1', datacenter: 'dc1' };

/** A normalized instance for tests: `spec('web', { node: 'n1', port: 80 })`. */
export function spec(service: string, input: Partial<InstanceInput> = {}, source = 'src-a'): InstanceSpec {
  return normalizeInstance({ service, ...input }, source, DEFAULTS);
}

export const upsert = (instance: InstanceSpec, source = instance.source): StoreEntry => ({ source, event: { type: 'upsert', instance } });
export const remove = (source: string, node: string, id: string): StoreEntry => ({ source, event: { type: 'remove', ref: { node, id } } });
export const reset = (source: string, instances: readonly InstanceSpec[]): StoreEntry => ({ source, event: { type: 'reset', instances } });
export const checkStatus = (
  source: string,
  node: string,
  checkId: string,
  status: 'passing' | 'warning' | 'critical',
  output = '',
): StoreEntry => ({ source, event: { type: 'checkStatus', node, checkId, status, output } satisfies NormalizedEvent });

/** Collects what a subscription receives, for assertions. */
export function record(store: CatalogStore): { events: CatalogEvent[]; stop(): void } {
  const events: CatalogEvent[] = [];
  const sub = store.watch().subscribe((e) => events.push(e));
  return { events, stop: () => sub.unsubscribe() };
}

/**
 * Waits until `predicate` holds, polling the event loop (stores may deliver
 * asynchronously). An async predicate (a request to a process) is polled every
 * 20 ms instead of every 2; a predicate that throws ends the wait with its error.
 */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = predicate();
    const sync = typeof held === 'boolean';
    if (sync ? held : await held) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, sync ? 2 : 20));
  }
}

/** Waits until no kind of live handle outnumbers `before` (a terminal's TTY aside): a stop() released what it took. */
export async function handlesReleased(before: Record<string, number>, timeoutMs = 3000): Promise<void> {
  await eventually(
    () => Object.entries(activeHandles()).every(([kind, n]) => kind === 'TTYWrap' || n <= (before[kind] ?? 0)),
    timeoutMs,
    `handles back to ${JSON.stringify(before)} (now ${JSON.stringify(activeHandles())})`,
  );
}

export interface StoreContractOptions {
  /** Called after each test with the store it made (stop extra processes here). */
  readonly cleanup?: (store: CatalogStore) => Promise<void>;
  /**
   * For a store that several replicas share (Redis): returns a maker of stores
   * on one fresh backend, each a replica of the same catalog. The suite then
   * checks that restarting one replica leaves what the others registered.
   */
  readonly replicas?: () => Promise<() => CatalogStore> | (() => CatalogStore);
}

/**
 * The contract every store passes, unchanged: memory, Redis, or yours.
 * `makeStore` returns a new, empty, not yet started store for each test.
 */
export function describeStoreContract(name: string, makeStore: () => Promise<CatalogStore> | CatalogStore, options: StoreContractOptions = {}): void {
  describe(`store contract: ${name}`, () => {
    let store: CatalogStore;

    beforeEach(async () => {
      store = await makeStore();
      await store.start({ logger: silentLogger(), node: 'node-a', datacenter: 'dc1', dataDir: '' });
    });

    afterEach(async () => {
      await store.stop();
      await options.cleanup?.(store);
    });

    describe('index rules', () => {
      it('starts at 1, never 0', () => {
        expect(store.index).toBe(1);
        expect(store.servicesIndex).toBeGreaterThanOrEqual(1);
        expect(store.serviceIndex('nothing')).toBeGreaterThanOrEqual(1);
      });

      it('stamps one index per batch and only grows', async () => {
        const r1 = await store.apply([upsert(spec('web', { id: 'w1' })), upsert(spec('web', { id: 'w2' }))]);
        expect(r1.index).toBe(store.index);
        expect(r1.changed).toBe(2);
        const [w1, w2] = store.instances('web');
        expect(w1!.modifyIndex).toBe(r1.index);
        expect(w2!.modifyIndex).toBe(r1.index);
        const r2 = await store.apply([upsert(spec('web', { id: 'w1', port: 81 }))]);
        expect(r2.index).toBeGreaterThan(r1.index);
      });

      it('does not move on a batch that changes nothing', async () => {
        const r1 = await store.apply([upsert(spec('web', { port: 80 }))]);
        const r2 = await store.apply([upsert(spec('web', { port: 80 }))]);
        expect(r2).toMatchObject({ index: r1.index, changed: 0 });
        expect(store.index).toBe(r1.index);
      });

      it('keeps createIndex and bumps modifyIndex on update', async () => {
        const r1 = await store.apply([upsert(spec('web', { port: 80 }))]);
        const r2 = await store.apply([upsert(spec('web', { port: 81 }))]);
        const i = store.instance({ node: 'node-a', id: 'web' })!;
        expect(i).toMatchObject({ createIndex: r1.index, modifyIndex: r2.index, port: 81 });
      });

      it('keeps a per-service index: changing one service does not move another', async () => {
        const r1 = await store.apply([upsert(spec('a')), upsert(spec('b'))]);
        const r2 = await store.apply([upsert(spec('a', { port: 1 }))]);
        expect(store.serviceIndex('a')).toBe(r2.index);
        expect(store.serviceIndex('b')).toBe(r1.index);
        const r3 = await store.apply([remove('src-a', 'node-a', 'a')]);
        expect(store.serviceIndex('a')).toBe(r3.index);
        expect(store.serviceIndex('b')).toBe(r1.index);
      });

      it('moves the services index only when names or tags change', async () => {
        const r1 = await store.apply([upsert(spec('a', { tags: ['x'] }))]);
        expect(store.servicesIndex).toBe(r1.index);
        await store.apply([upsert(spec('a', { tags: ['x'], port: 9 }))]);
        expect(store.servicesIndex).toBe(r1.index);
        const r3 = await store.apply([upsert(spec('a', { tags: ['x', 'y'], port: 9 }))]);
        expect(store.servicesIndex).toBe(r3.index);
      });

      it('moves the nodes index only when a node appears, goes or changes', async () => {
        const r1 = await store.apply([upsert(spec('a', { node: 'n1', nodeAddress: '10.0.0.5' }))]);
        expect(store.nodesIndex).toBe(r1.index);
        await store.apply([upsert(spec('b', { node: 'n1', nodeAddress: '10.0.0.5' }))]);
        expect(store.nodesIndex).toBe(r1.index);
        expect(store.nodeIndex('n1')).toBeGreaterThan(r1.index);
      });
    });

    describe('atomic batches', () => {
      it('delivers a batch as one commit that reads see whole', async () => {
        const seen: Array<{ index: number; count: number }> = [];
        const sub = store.watch().subscribe((e) => {
          if (e.type !== 'snapshot') seen.push({ index: e.index, count: store.instances('web').length });
        });
        const r = await store.apply([upsert(spec('web', { id: '1' })), upsert(spec('web', { id: '2' })), upsert(spec('web', { id: '3' }))]);
        await eventually(() => seen.length === 3, 5000, 'three deltas');
        sub.unsubscribe();
        expect(seen).toEqual([
          { index: r.index, count: 3 },
          { index: r.index, count: 3 },
          { index: r.index, count: 3 },
        ]);
      });

      it('applies the good entries of a batch and rejects the bad ones with a reason', async () => {
        await store.apply([upsert(spec('db', { id: 'db1' }, 'src-b'))]);
        const before = store.instance({ node: 'node-a', id: 'db1' });
        const r = await store.apply([upsert(spec('web')), upsert(spec('db', { id: 'db1', port: 1 }, 'src-a'))]);
        expect(r.changed).toBe(1);
        expect(r.rejected).toHaveLength(1);
        expect(r.rejected[0]).toMatchObject({ entry: 1, source: 'src-a', event: 'upsert' });
        expect(r.rejected[0]!.reason).toMatch(/owned by source "src-b"/);
        expect(store.instance({ node: 'node-a', id: 'db1' })).toEqual(before);
        expect(store.instances('web')).toHaveLength(1);
      });
    });

    describe('ownership', () => {
      it('reset replaces only what that source owns', async () => {
        await store.apply([reset('src-a', [spec('web', { id: 'a1' }), spec('web', { id: 'a2' })])]);
        await store.apply([reset('src-b', [spec('web', { id: 'b1' }, 'src-b')])]);
        await store.apply([reset('src-a', [spec('web', { id: 'a2' }), spec('web', { id: 'a3' })])]);
        expect(store.instances('web').map((i) => i.id)).toEqual(['a2', 'a3', 'b1']);
        await store.apply([reset('src-a', [])]);
        expect(store.instances('web').map((i) => `${i.id}:${i.source}`)).toEqual(['b1:src-b']);
      });

      it("refuses to remove or overwrite another source's instance", async () => {
        await store.apply([upsert(spec('web', {}, 'src-b'))]);
        const r = await store.apply([remove('src-a', 'node-a', 'web')]);
        expect(r.rejected[0]?.reason).toMatch(/owned by source "src-b"/);
        expect(store.instances('web')).toHaveLength(1);
      });

      it('keys instances by node and id, as Consul does', async () => {
        await store.apply([upsert(spec('web', { node: 'n1' })), upsert(spec('web', { node: 'n2' }))]);
        expect(store.instances('web').map((i) => i.node)).toEqual(['n1', 'n2']);
      });

      it("keeps each replica's state apart: a reset by http@a leaves http@b's", async () => {
        await store.apply([reset('http@a', [spec('web', { id: 'a1', node: 'a' }, 'http@a')])]);
        await store.apply([reset('http@b', [spec('web', { id: 'b1', node: 'b' }, 'http@b')])]);
        await store.apply([reset('http@a', [])]);
        expect(store.instances('web').map((i) => `${i.id}:${i.source}`)).toEqual(['b1:http@b']);
        const r = await store.apply([remove('http@a', 'b', 'b1')]);
        expect(r.rejected[0]?.reason).toMatch(/owned by source "http@b"/);
      });

      it('lets a replica-scoped owner take over what its plugin owned under the bare name', async () => {
        await store.apply([upsert(spec('web', { id: 'w1', node: 'a' }, 'http'))]);
        const r = await store.apply([reset('http@a', [spec('web', { id: 'w1', node: 'a', port: 81 }, 'http@a')])]);
        expect(r.rejected).toEqual([]);
        expect(store.instance({ node: 'a', id: 'w1' })).toMatchObject({ source: 'http@a', port: 81 });
      });

      it('treats removing what is not there as a no-op', async () => {
        const r = await store.apply([remove('src-a', 'node-a', 'ghost')]);
        expect(r).toMatchObject({ changed: 0, rejected: [] });
      });
    });

    describe('checks', () => {
      const withCheck = (port = 80) =>
        spec('web', { port, checks: [{ type: 'http', definition: { http: 'http://127.0.0.1/health', interval: '10s' } }] });

      it('starts a check critical and records its results', async () => {
        await store.apply([upsert(withCheck())]);
        expect(store.instances('web')[0]!.checks[0]).toMatchObject({ id: 'service:web', status: 'critical' });
        const r = await store.apply([checkStatus('health', 'node-a', 'service:web', 'passing', 'HTTP 200')]);
        expect(r.changed).toBe(1);
        expect(store.instances('web')[0]!.checks[0]).toMatchObject({ status: 'passing', output: 'HTTP 200' });
        expect(store.instanceByCheck('node-a', 'service:web')?.id).toBe('web');
      });

      it('writes nothing when a result repeats', async () => {
        await store.apply([upsert(withCheck()), checkStatus('health', 'node-a', 'service:web', 'passing', 'ok')]);
        const index = store.index;
        const r = await store.apply([checkStatus('health', 'node-a', 'service:web', 'passing', 'ok')]);
        expect(r).toMatchObject({ index, changed: 0 });
      });

      it('keeps check status when the owner re-registers the same definition', async () => {
        await store.apply([upsert(withCheck())]);
        await store.apply([checkStatus('health', 'node-a', 'service:web', 'passing')]);
        await store.apply([upsert(withCheck(81))]);
        expect(store.instances('web')[0]).toMatchObject({ port: 81, checks: [{ status: 'passing' }] });
      });

      it('rejects a result for an unknown check', async () => {
        const r = await store.apply([checkStatus('health', 'node-a', 'nope', 'passing')]);
        expect(r.rejected[0]?.reason).toMatch(/no check "nope"/);
      });
    });

    describe('reads', () => {
      beforeEach(async () => {
        await store.apply([
          upsert(spec('web', { id: 'w1', node: 'n1', nodeAddress: '10.0.0.1', tags: ['v1', 'blue'], port: 80 })),
          upsert(spec('web', { id: 'w2', node: 'n2', nodeAddress: '10.0.0.2', tags: ['v2', 'blue'], port: 80 })),
          upsert(spec('db', { id: 'd1', node: 'n1', nodeAddress: '10.0.0.1', tags: ['primary'], port: 5432 })),
        ]);
      });

      it('lists services with the union of their tags', () => {
        expect([...store.services()]).toEqual([
          ['db', ['primary']],
          ['web', ['blue', 'v1', 'v2']],
        ]);
      });

      it('filters instances by tags (all must match)', () => {
        expect(store.instances('web', { tags: ['blue'] }).map((i) => i.id)).toEqual(['w1', 'w2']);
        expect(store.instances('web', { tags: ['blue', 'v2'] }).map((i) => i.id)).toEqual(['w2']);
        expect(store.instances('web', { tags: ['v3'] })).toEqual([]);
        expect(store.instances('nothing')).toEqual([]);
      });

      it('lists nodes and one node with its instances', () => {
        expect(store.nodes().map((n) => [n.name, n.address])).toEqual([
          ['n1', '10.0.0.1'],
          ['n2', '10.0.0.2'],
        ]);
        expect(store.node('n1')?.instances.map((i) => i.id)).toEqual(['d1', 'w1']);
        expect(store.node('n9')).toBeUndefined();
      });

      it('reads one instance and what a source owns', () => {
        expect(store.instance({ node: 'n2', id: 'w2' })?.tags).toEqual(['v2', 'blue']);
        expect(store.ownedBy('src-a').size).toBe(3);
        expect(store.ownedBy('other').size).toBe(0);
      });
    });

    describe('watch', () => {
      it('starts with a snapshot of what was written before (watch-after-write)', async () => {
        const r = await store.apply([upsert(spec('web'))]);
        const first = await firstValueFrom(store.watch());
        expect(first.type).toBe('snapshot');
        expect(first.index).toBe(r.index);
        expect(first.type === 'snapshot' && first.instances.map((i) => i.id)).toEqual(['web']);
      });

      it('gives a late subscriber a snapshot, then only later deltas in order', async () => {
        for (let n = 0; n < 5; n++) await store.apply([upsert(spec('web', { id: `w${n}` }))]);
        const late = record(store);
        await eventually(() => late.events.length === 1, 5000, 'the snapshot');
        const r1 = await store.apply([upsert(spec('web', { id: 'w9' }))]);
        const r2 = await store.apply([remove('src-a', 'node-a', 'w0')]);
        await eventually(() => late.events.length === 3, 5000, 'two deltas');
        late.stop();
        const [snap, d1, d2] = late.events as [CatalogEvent, CatalogEvent, CatalogEvent];
        expect(snap.type === 'snapshot' && snap.instances.length).toBe(5);
        expect([d1.type, d1.index, d2.type, d2.index]).toEqual(['upsert', r1.index, 'remove', r2.index]);
        expect(d2.type === 'remove' && d2.instance.id).toBe('w0');
      });

      it('serves many subscribers the same ordered stream', async () => {
        const subs = Array.from({ length: 50 }, () => record(store));
        for (let n = 0; n < 20; n++) await store.apply([upsert(spec('web', { id: `w${n % 4}`, port: n }))]);
        await eventually(() => subs.every((s) => s.events.length === 21), 5000, 'every subscriber');
        const reference = subs[0]!.events.map((e) => `${e.type}@${e.index}`);
        for (const s of subs) {
          expect(s.events.map((e) => `${e.type}@${e.index}`)).toEqual(reference);
          s.stop();
        }
        const indexes = reference.slice(1).map((e) => Number(e.split('@')[1]));
        expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
      });

      it('publishes removes with the last state of the instance', async () => {
        await store.apply([upsert(spec('web', { port: 80 }))]);
        const events = firstValueFrom(store.watch().pipe(take(2), toArray()));
        await store.apply([remove('src-a', 'node-a', 'web')]);
        const [, removed] = await events;
        expect(removed).toMatchObject({ type: 'remove', instance: { id: 'web', port: 80 } });
      });

      it('never loses a write made from inside a watcher, and never nests commits', async () => {
        const seen: number[] = [];
        let wrote = false;
        const sub = store.watch().subscribe((e) => {
          seen.push(e.index);
          if (e.type === 'upsert' && !wrote) {
            wrote = true;
            void store.apply([upsert(spec('echo'))]);
          }
        });
        await store.apply([upsert(spec('web'))]);
        await eventually(() => store.instances('echo').length === 1, 5000, 'the echo write');
        await eventually(() => seen.length === 3, 5000, 'its delta');
        sub.unsubscribe();
        expect(seen).toEqual([...seen].sort((a, b) => a - b));
      });
    });

    // Only for stores replicas share: a skipped case would read as a missing program under CI.
    if (options.replicas) describe('replicas sharing the store', () => {
      it('restarting one replica leaves what another registered, on every replica', async () => {
        const make = await options.replicas!();
        const ctx = (node: string): StoreContext => ({ logger: silentLogger(), node, datacenter: 'dc1', dataDir: '' });
        const a = make();
        const b = make();
        await a.start(ctx('a'));
        await b.start(ctx('b'));
        let again: CatalogStore | undefined;
        try {
          await a.apply([reset('http@a', [spec('svc-a', { id: 'a1', node: 'a' }, 'http@a')])]);
          await b.apply([reset('http@b', [spec('svc-b', { id: 'b1', node: 'b' }, 'http@b')])]);
          await a.stop();
          again = make();
          await again.start(ctx('a'));
          // What a restarted replica says at start: its own registrations, and nothing of the others'.
          await again.apply([reset('http@a', [spec('svc-a', { id: 'a1', node: 'a' }, 'http@a')])]);
          await again.apply([upsert(spec('svc-a', { id: 'a2', node: 'a' }, 'http@a'))]);
          for (const replica of [again, b]) {
            await eventually(() => replica.index === again!.index, 5000, 'the replicas to converge');
            expect([...replica.services().keys()].sort()).toEqual(['svc-a', 'svc-b']);
            expect(replica.instances('svc-a').map((i) => i.id)).toEqual(['a1', 'a2']);
          }
        } finally {
          await again?.stop();
          await b.stop();
        }
      });
    });

    it('stores what sources said exactly (no field lost on the way)', async () => {
      const full = spec('web', {
        id: 'web-1',
        node: 'n1',
        nodeAddress: '10.1.1.1',
        nodeMeta: { rack: 'r1' },
        address: '10.1.1.2',
        port: 8080,
        tags: ['a', 'b'],
        meta: { version: '1.2' },
        weights: { passing: 3, warning: 1 },
        taggedAddresses: { lan_ipv4: { address: '10.1.1.2', port: 8080 } },
        enableTagOverride: true,
        kind: '',
        checks: [{ id: 'c1', name: 'alive', type: 'tcp', definition: { tcp: '10.1.1.2:8080', interval: '5s', timeout: '1s' } }],
      });
      await store.apply([upsert(full)]);
      const got: ServiceInstance = store.instance({ node: 'n1', id: 'web-1' })!;
      const { createIndex, modifyIndex, ...rest } = got;
      expect(rest).toEqual(full);
      expect(createIndex).toBe(modifyIndex);
    });
  });
}
