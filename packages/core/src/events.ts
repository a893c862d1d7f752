import type { HealthStatus, InstanceInput, InstanceRef, InstanceSpec, ServiceInstance } from './model.js';

/**
 * What a source says. A source only ever speaks about what it owns:
 * - `upsert`: this instance exists, as described;
 * - `remove`: this instance is gone;
 * - `reset`: replace everything this source owns with exactly these instances
 *   (a file reload, a resync after a reconnect);
 * - `checkStatus`: a check's latest result. Any source may report one (the health
 *   checker reports results for instances that other sources own).
 */
export type SourceEvent =
  | { readonly type: 'upsert'; readonly instance: InstanceInput }
  | { readonly type: 'remove'; readonly ref: Partial<InstanceRef> & { readonly id: string } }
  | { readonly type: 'reset'; readonly instances: readonly InstanceInput[] }
  | CheckStatusEvent;

export interface CheckStatusEvent {
  readonly type: 'checkStatus';
  /** Defaults to the agent's node. */
  readonly node?: string;
  readonly checkId: string;
  readonly status: HealthStatus;
  readonly output?: string;
}

/** A source event once the registry has validated it and filled every default. */
export type NormalizedEvent =
  | { readonly type: 'upsert'; readonly instance: InstanceSpec }
  | { readonly type: 'remove'; readonly ref: InstanceRef }
  | { readonly type: 'reset'; readonly instances: readonly InstanceSpec[] }
  | { readonly type: 'checkStatus'; readonly node: string; readonly checkId: string; readonly status: HealthStatus; readonly output: string };

/** One entry of a batch handed to a store: an event and the source it came from. */
export interface StoreEntry {
  readonly source: string;
  readonly event: NormalizedEvent;
}

/**
 * What a store publishes to watchers. The first event of every subscription is a
 * `snapshot`; then `upsert`/`remove` deltas in index order. All the deltas of one
 * commit carry the same index and are delivered back to back, and a read made
 * while handling any of them already sees the whole commit.
 */
export type CatalogEvent =
  | { readonly type: 'snapshot'; readonly index: number; readonly instances: readonly ServiceInstance[] }
  | { readonly type: 'upsert'; readonly index: number; readonly instance: ServiceInstance; readonly previous?: ServiceInstance }
  | { readonly type: 'remove'; readonly index: number; readonly instance: ServiceInstance };

/** Why one entry of a batch was not applied; the rest of the batch still was. */
export interface Rejection {
  /** Position of the rejected entry in the batch handed to `apply`. */
  readonly entry: number;
  readonly source: string;
  readonly event: NormalizedEvent['type'];
  readonly reason: string;
}

export interface ApplyResult {
  /** The catalog index after the batch (unchanged when the batch changed nothing). */
  readonly index: number;
  /** How many instances were created, changed or removed. */
  readonly changed: number;
  readonly rejected: readonly Rejection[];
}
