import type { Check, CheckInput, InstanceInput, InstanceSpec } from './model.js';
import { InstanceInputSchema } from './model.js';
import { wellFormed } from './unicode.js';
import { check, ValidationError, type IssuePath } from './validate.js';

// Shared, frozen defaults: a catalog of 100k instances holds one of each, not 100k.
const NO_META: Readonly<Record<string, string>> = Object.freeze({});
const NO_TAGS: readonly string[] = Object.freeze([]);
const NO_CHECKS: readonly Check[] = Object.freeze([]);
const NO_ADDRESSES: InstanceSpec['taggedAddresses'] = Object.freeze({});
const DEFAULT_WEIGHTS = Object.freeze({ passing: 1, warning: 1 });

/** Where defaults come from: the agent that runs the registry. */
export interface InstanceDefaults {
  readonly node: string;
  readonly nodeAddress: string;
  readonly datacenter: string;
}

/**
 * Validates an instance from a source and fills Consul's defaults: id = service
 * name, port 0, weights {passing: 1, warning: 1}, check ids `service:<id>` (or
 * `service:<id>:<n>` when there are several) and initial status `critical`.
 */
export function normalizeInstance(
  input: unknown,
  source: string,
  defaults: InstanceDefaults,
  where = 'instance',
  base: IssuePath = [],
): InstanceSpec {
  const issues = check(InstanceInputSchema, input, base);
  if (issues.length) throw new ValidationError(where, issues);
  // Whatever the source (a JSON body, a YAML file, Nomad), no lone surrogate reaches the catalog.
  const i = wellFormed(input as InstanceInput);
  const id = i.id ?? i.service;
  const onDefaultNode = i.node === undefined || i.node === defaults.node;
  const checks = !i.checks?.length ? NO_CHECKS : i.checks.map((c, n, all) => normalizeCheck(c, id, i.service, all.length > 1 ? n + 1 : 0));
  const ids = new Set<string>();
  for (const [n, c] of checks.entries()) {
    if (ids.has(c.id)) throw new ValidationError(where, [{ path: [...base, 'checks', n, 'id'], message: `duplicate check id "${c.id}"` }]);
    ids.add(c.id);
  }
  return {
    id,
    service: i.service,
    node: i.node ?? defaults.node,
    nodeAddress: i.nodeAddress ?? (onDefaultNode ? defaults.nodeAddress : (i.address ?? '')),
    nodeMeta: i.nodeMeta ?? NO_META,
    datacenter: i.datacenter ?? defaults.datacenter,
    address: i.address ?? '',
    port: i.port ?? 0,
    tags: i.tags ?? NO_TAGS,
    meta: i.meta ?? NO_META,
    weights: i.weights ?? DEFAULT_WEIGHTS,
    taggedAddresses: i.taggedAddresses ?? NO_ADDRESSES,
    enableTagOverride: i.enableTagOverride ?? false,
    kind: i.kind ?? '',
    checks,
    source,
  };
}

/** Consul's ID for the `ordinal`-th of a service's checks when none is given: `service:<id>`, or `service:<id>:<n>` among several. */
export function defaultCheckId(serviceId: string, ordinal: number): string {
  return ordinal ? `service:${serviceId}:${ordinal}` : `service:${serviceId}`;
}

function normalizeCheck(c: CheckInput, serviceId: string, serviceName: string, ordinal: number): Check {
  return {
    id: c.id ?? defaultCheckId(serviceId, ordinal),
    name: c.name ?? `Service '${serviceName}' check`,
    type: c.type,
    definition: c.definition,
    status: c.status ?? 'critical',
    output: c.output ?? '',
    notes: c.notes ?? '',
  };
}
