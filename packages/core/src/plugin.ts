import type { Observable, Subscription } from 'rxjs';
import type { TSchema } from '@sinclair/typebox';
import type { ApplyResult, CatalogEvent, SourceEvent, StoreEntry } from './events.js';
import type { Logger } from './logger.js';
import type { CatalogReader } from './view.js';

/** What every plugin gets at start: where it runs, a logger, and the catalog. */
export interface PluginContext {
  /** Child logger carrying the plugin's name. */
  readonly logger: Logger;
  /** This agent's node name and address (defaults for what sources register). */
  readonly node: string;
  readonly nodeAddress: string;
  readonly datacenter: string;
  /** Where a plugin may keep state across restarts (the agent's data directory). */
  readonly dataDir: string;
  /** Relative paths in options resolve against this (the config file's directory). */
  readonly baseDir: string;
  /** Reads and watches the catalog. */
  readonly catalog: Catalog;
  /**
   * Leadership among the replicas that share this registry's store: emits `true`
   * while this replica holds `name`, `false` while another does. Use it for work
   * that one replica should do for all (run a check, send a webhook). With a store
   * that lives in one process it emits `true` once.
   */
  elect(name: string): Observable<boolean>;
  /**
   * Writes for sources driven by requests (an HTTP registration API): validated,
   * owned by this plugin, batched with other sources' events, and resolved once
   * the store has committed them. Stream sources return `events()` instead.
   */
  publish(events: readonly SourceEvent[]): Promise<ApplyResult>;
  /** Aborted when the registry stops. */
  readonly signal: AbortSignal;
  /**
   * The owner id of what this plugin registers (see `Ownership`): its name, or
   * `name@node` for state local to this replica. Compare instances' `source` with
   * this, never with `name`.
   */
  readonly owner: string;
}

/**
 * Where the state a plugin registers lives, which decides its owner id:
 *
 * - `replica`: the state belongs to this replica alone: registrations made
 *   through its HTTP API, processes its scheduler runs, results of checks it ran.
 *   Another replica of the same registry has its own. The owner id is
 *   `name@node`, so a `reset` at start-up replaces only this replica's state,
 *   and restarting one replica never touches another's registrations.
 * - `shared`: every replica asserts the same state (a services file deployed to
 *   all of them, a Nomad cluster they all follow). The owner id is the name, so
 *   the replicas agree on one owner and any of them may reset it.
 *
 * Choosing `shared` for replica-local state loses data: a replica that restarts
 * resets the owner to what it alone holds, removing what the others registered.
 * Choosing `replica` for shared state is loud instead: the second replica's
 * upserts are refused as owned by the first ("owned by source ...") and logged.
 */
export type Ownership = 'replica' | 'shared';

/** The owner id of what a plugin named `name` registers on replica `node`. */
export function ownerId(name: string, ownership: Ownership, node: string): string {
  return ownership === 'shared' ? name : `${name}@${node}`;
}

/**
 * How current a store's view is. The HTTP API reports it as Consul does, in
 * `X-Consul-KnownLeader` and `X-Consul-LastContact`.
 */
export interface StoreContact {
  /** False while the store cannot reach its backend: reads come from a stale view. */
  readonly knownLeader: boolean;
  /** Milliseconds since the backend last answered (0 for a store without a backend). */
  readonly lastContactMs: number;
}

/** The catalog as sinks see it: the store's reads plus a watch. */
export interface Catalog extends CatalogReader {
  /** How current these reads are. */
  contact(): StoreContact;
  /** A snapshot, then ordered deltas. Completes when the registry stops. */
  watch(): Observable<CatalogEvent>;
  /**
   * Subscribes `handler` to `watch()` with each event contained: a handler that
   * throws is logged with the event and keeps receiving the next ones.
   */
  follow(handler: (event: CatalogEvent) => void): Subscription;
}

/** Every plugin: a factory returns one of these. */
export interface Plugin {
  /** Unique within a registry, without `@`; the owner id of what it registers derives from it (see `Ownership`). */
  readonly name: string;
  /**
   * Whose state this plugin registers. A source must say; a sink that registers
   * through `ctx.publish` (writes driven by requests to this replica) defaults to
   * `replica`.
   */
  readonly ownership?: Ownership;
  start(ctx: PluginContext): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A source says what exists. `events()` is subscribed after start; if the stream
 * errors, the registry logs it and subscribes again with capped backoff, and what
 * the source had registered stays in the catalog meanwhile.
 */
export interface SourcePlugin extends Plugin {
  /** Required of a source: the registry refuses one that does not say. */
  readonly ownership: Ownership;
  events(): Observable<SourceEvent | readonly SourceEvent[]>;
}

/**
 * A sink serves the catalog; it reads `ctx.catalog` from `start()`. A plugin that
 * both serves and registers (an HTTP API) is a sink that also calls `ctx.publish`,
 * or a source too.
 */
export type SinkPlugin = Plugin;

export function isSource(plugin: Plugin): plugin is SourcePlugin {
  return typeof (plugin as Partial<SourcePlugin>).events === 'function';
}

/** What a store gets at start. */
export interface StoreContext {
  readonly logger: Logger;
  readonly node: string;
  readonly datacenter: string;
  readonly dataDir: string;
}

/**
 * The only place where the catalog changes. A store applies each batch atomically
 * as one commit with the next index, and serves reads from a local view that
 * already includes a commit when its events are delivered.
 * Every store passes `describeStoreContract` from `@signpost/testing`.
 */
export interface CatalogStore extends CatalogReader {
  readonly name: string;
  start(ctx: StoreContext): Promise<void>;
  stop(): Promise<void>;
  /**
   * Applies a batch as one commit; bad entries are rejected, the rest commit. A
   * store whose backend is unreachable throws `StoreUnavailableError` (nothing
   * acknowledged) rather than queueing the write.
   */
  apply(entries: readonly StoreEntry[]): Promise<ApplyResult>;
  /** A snapshot, then every later commit's deltas in index order. */
  watch(): Observable<CatalogEvent>;
  /** How current the view is; absent for a store that has no backend to lose. */
  contact?(): StoreContact;
  /**
   * Leadership among replicas sharing the store (see `PluginContext.elect`); absent
   * for a store that lives in one process, whose one replica always leads.
   * Errors while it cannot tell are not thrown: it emits `false`.
   */
  elect?(name: string): Observable<boolean>;
}

/**
 * How a config file names a plugin. A package exports one of these as `plugin`
 * (or `store` for stores) so apps can build it from config by its short name.
 */
export interface PluginModule<O = unknown, P = Plugin> {
  /** Short name used in config (`plugin: static`). */
  readonly name: string;
  readonly kind: 'source' | 'sink' | 'source+sink' | 'store';
  /** JSON schema of the options, for documentation and editors. */
  readonly optionsSchema: TSchema;
  /** Validates raw options; throws a ValidationError naming each bad key. */
  parseOptions(input: unknown): O;
  create(options: O): P;
}
