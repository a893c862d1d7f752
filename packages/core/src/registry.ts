import { hostname } from 'node:os';
import { defer, distinctUntilChanged, of, retry, Subject, takeUntil, timer, type Observable, type Subscription } from 'rxjs';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { isStoreUnavailable } from './errors.js';
import type { ApplyResult, CatalogEvent, NormalizedEvent, SourceEvent, StoreEntry } from './events.js';
import { CHECK_OUTPUT_MAX, firstBytes } from './health.js';
import { silentLogger, type Logger } from './logger.js';
import { HealthStatusSchema } from './model.js';
import { normalizeInstance, type InstanceDefaults } from './normalize.js';
import { isSource, ownerId, type Catalog, type CatalogStore, type Plugin, type PluginContext } from './plugin.js';
import { check, ValidationError, type IssuePath } from './validate.js';

export interface RegistryOptions {
  readonly store: CatalogStore;
  /** Sources and sinks; started in this order within their kind (sinks first, then sources). */
  readonly plugins?: readonly Plugin[];
  readonly logger?: Logger;
  /** This agent's node (default: the host name) and its address (default 127.0.0.1). */
  readonly node?: string;
  readonly nodeAddress?: string;
  readonly datacenter?: string;
  readonly dataDir?: string;
  /** Relative paths in plugin options resolve against this (default: the working directory). */
  readonly baseDir?: string;
  /** How a failed source stream is restarted. */
  readonly backoff?: BackoffOptions;
}

export interface Registry {
  readonly catalog: Catalog;
  readonly store: CatalogStore;
  /** Starts the store, then sinks, then sources. */
  start(): Promise<void>;
  /** Stops sources, writes what they sent, then stops sinks and the store. Idempotent. */
  stop(): Promise<void>;
  /** Settles once every event published so far has been applied (tests, shutdown). */
  flush(): Promise<void>;
}

interface Pending {
  readonly entries: readonly StoreEntry[];
  /** A source stream's events: held and retried while the store is unavailable. */
  readonly hold: boolean;
  resolve(result: ApplyResult): void;
  reject(error: unknown): void;
}

/**
 * Composes a store, sinks and sources into a running registry.
 *
 * Every source event goes through one queue: it is validated and qualified with its
 * owner, then bursts from all sources are applied as one batch per turn of the
 * event loop. Nothing writes to the store synchronously from inside a store
 * callback: publishing from a watcher lands in the next batch.
 *
 * While the store is unavailable (it throws StoreUnavailableError), `publish()`
 * fails at once so that a client hears it (the HTTP API answers 503), and a source
 * stream's events are held in order and retried with backoff: nothing a source
 * said is dropped, and nothing it says later overtakes what it said before.
 */
export function createRegistry(options: RegistryOptions): Registry {
  const { store } = options;
  const plugins = options.plugins ?? [];
  const logger = options.logger ?? silentLogger();
  const defaults: InstanceDefaults = {
    node: options.node ?? hostname(),
    nodeAddress: options.nodeAddress ?? '127.0.0.1',
    datacenter: options.datacenter ?? 'dc1',
  };
  const names = new Set<string>();
  const owners = new Map<Plugin, string>();
  for (const p of plugins) {
    if (names.has(p.name)) {
      throw new Error(`two plugins are named "${p.name}": give each a distinct name (the name owns what a source registers)`);
    }
    names.add(p.name);
    if (typeof p.name !== 'string' || !p.name || p.name.includes('@')) {
      throw new Error(`plugin name ${JSON.stringify(p.name)}: must be a non-empty string without "@" (it separates a name from its replica in owner ids)`);
    }
    const ownership = p.ownership ?? (isSource(p) ? undefined : 'replica');
    if (ownership !== 'replica' && ownership !== 'shared') {
      throw new Error(
        `plugin "${p.name}": ownership must be "replica" (state local to this replica) or "shared" (state every replica asserts alike), ` +
          `got ${JSON.stringify(p.ownership)}; a source must say which (see Ownership in @signpost/core)`,
      );
    }
    owners.set(p, ownerId(p.name, ownership, defaults.node));
  }

  const stopping$ = new Subject<void>();
  const abort = new AbortController();
  const subscriptions: Subscription[] = [];
  const started: Plugin[] = [];
  let state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  let storeStarted = false;

  // --- the write queue -------------------------------------------------------
  let queue: Pending[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let inflight: Promise<void> | undefined;
  let accepting = true;
  // Source events waiting for the store to come back, oldest first.
  let held: Pending[] = [];
  let retryTimer: NodeJS.Timeout | undefined;
  let retryAttempt = 0;

  const retryHeld = (): void => {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = undefined;
    queue = [...held, ...queue];
    held = [];
    schedule();
  };

  const schedule = (): void => {
    if (scheduled || inflight || queue.length === 0) return;
    scheduled = setImmediate(() => {
      scheduled = undefined;
      inflight = drain().finally(() => {
        inflight = undefined;
        schedule();
      });
    });
  };

  const drain = async (): Promise<void> => {
    let batch = queue;
    queue = [];
    if (held.length) {
      // Source events that arrived after others were held wait behind them.
      held.push(...batch.filter((p) => p.hold));
      batch = batch.filter((p) => !p.hold);
      if (batch.length === 0) return;
    }
    const entries = batch.flatMap((p) => p.entries);
    try {
      const result = await store.apply(entries);
      if (retryAttempt > 0) {
        logger.info({ attempts: retryAttempt }, 'the store is available again; held source events are being applied');
        retryAttempt = 0;
        if (held.length) retryHeld();
      }
      let offset = 0;
      for (const p of batch) {
        const end = offset + p.entries.length;
        const start = offset;
        p.resolve({
          index: result.index,
          changed: result.changed,
          rejected: result.rejected.filter((r) => r.entry >= start && r.entry < end).map((r) => ({ ...r, entry: r.entry - start })),
        });
        offset = end;
      }
    } catch (error) {
      const unavailable = isStoreUnavailable(error) && accepting;
      for (const p of batch) {
        if (unavailable && p.hold) held.push(p);
        else p.reject(error);
      }
      if (unavailable && held.length && !retryTimer) {
        retryAttempt++;
        const ms = backoffDelay(retryAttempt, options.backoff);
        logger.warn({ err: error instanceof Error ? error.message : error, held: held.length, retryInMs: ms }, 'the store is unavailable; source events are held and retried');
        retryTimer = setTimeout(retryHeld, ms);
      }
    }
  };

  const enqueue = (entries: readonly StoreEntry[], hold = false): Promise<ApplyResult> => {
    if (!accepting) return Promise.reject(new Error('the registry is stopped; nothing more is written'));
    if (entries.length === 0) return Promise.resolve({ index: store.index, changed: 0, rejected: [] });
    return new Promise<ApplyResult>((resolve, reject) => {
      // Behind events already held, so that a source's events keep their order.
      if (hold && held.length) held.push({ entries, hold, resolve, reject });
      else {
        queue.push({ entries, hold, resolve, reject });
        schedule();
      }
    });
  };

  const flush = async (): Promise<void> => {
    while (scheduled || inflight || queue.length) {
      await (inflight ?? new Promise<void>((r) => setImmediate(r)));
    }
  };

  const normalize = (source: string, event: SourceEvent, base: IssuePath): NormalizedEvent => {
    const where = `event from source "${source}"`;
    switch (event.type) {
      case 'upsert':
        return { type: 'upsert', instance: normalizeInstance(event.instance, source, defaults, where, [...base, 'instance']) };
      case 'reset':
        if (!Array.isArray(event.instances)) throw new ValidationError(where, [{ path: [...base, 'instances'], message: 'must be an array' }]);
        return {
          type: 'reset',
          instances: event.instances.map((i, n) => normalizeInstance(i, source, defaults, where, [...base, 'instances', n])),
        };
      case 'remove':
        if (typeof event.ref?.id !== 'string' || !event.ref.id) {
          throw new ValidationError(where, [{ path: [...base, 'ref', 'id'], message: 'must be a non-empty string' }]);
        }
        return { type: 'remove', ref: { node: event.ref.node ?? defaults.node, id: event.ref.id } };
      case 'checkStatus': {
        const issues = check(HealthStatusSchema, event.status, [...base, 'status']);
        if (typeof event.checkId !== 'string' || !event.checkId) issues.push({ path: [...base, 'checkId'], message: 'must be a non-empty string' });
        if (issues.length) throw new ValidationError(where, issues);
        return { type: 'checkStatus', node: event.node ?? defaults.node, checkId: event.checkId, status: event.status, output: firstBytes(event.output ?? '', CHECK_OUTPUT_MAX) };
      }
      default:
        throw new ValidationError(where, [{ path: [...base, 'type'], message: `unknown event type ${JSON.stringify((event as { type?: unknown }).type)}` }]);
    }
  };

  // --- what plugins see -------------------------------------------------------
  const watch = (): Observable<CatalogEvent> => store.watch().pipe(takeUntil(stopping$));
  const alwaysInContact = { knownLeader: true, lastContactMs: 0 } as const;
  const elect = (name: string): Observable<boolean> =>
    (store.elect ? store.elect(name).pipe(distinctUntilChanged()) : of(true)).pipe(takeUntil(stopping$));
  const catalog: Catalog = {
    contact: () => store.contact?.() ?? alwaysInContact,
    get index() {
      return store.index;
    },
    get servicesIndex() {
      return store.servicesIndex;
    },
    get nodesIndex() {
      return store.nodesIndex;
    },
    serviceIndex: (s) => store.serviceIndex(s),
    nodeIndex: (n) => store.nodeIndex(n),
    services: () => store.services(),
    instances: (s, f) => store.instances(s, f),
    allInstances: () => store.allInstances(),
    nodes: () => store.nodes(),
    node: (n) => store.node(n),
    instance: (r) => store.instance(r),
    instanceByKey: (k) => store.instanceByKey(k),
    instanceByCheck: (n, c) => store.instanceByCheck(n, c),
    ownedBy: (s) => store.ownedBy(s),
    watch,
    follow(handler) {
      return watch().subscribe((event) => {
        try {
          handler(event);
        } catch (err) {
          logger.error({ err, event: event.type, index: event.index }, 'catalog handler failed on one event; it keeps receiving the next ones');
        }
      });
    },
  };

  const contextFor = (plugin: Plugin): PluginContext => {
    const log = logger.child({ plugin: plugin.name });
    const owner = owners.get(plugin)!;
    return {
      owner,
      logger: log,
      node: defaults.node,
      nodeAddress: defaults.nodeAddress,
      datacenter: defaults.datacenter,
      dataDir: options.dataDir ?? '',
      baseDir: options.baseDir ?? process.cwd(),
      catalog,
      elect,
      signal: abort.signal,
      publish(events) {
        let entries: StoreEntry[];
        try {
          entries = events.map((e, n) => ({ source: owner, event: normalize(owner, e, [n]) }));
        } catch (error) {
          return Promise.reject(error);
        }
        return enqueue(entries);
      },
    };
  };

  const follow = (plugin: Plugin & { events(): Observable<SourceEvent | readonly SourceEvent[]> }, log: Logger): void => {
    const owner = owners.get(plugin)!;
    const sub = defer(() => plugin.events())
      .pipe(
        retry({
          resetOnSuccess: true,
          delay: (err: unknown, attempt: number) => {
            const ms = backoffDelay(attempt, options.backoff);
            log.error({ err, attempt, retryInMs: ms }, 'source stream failed; what it registered stays; restarting');
            return timer(ms);
          },
        }),
        takeUntil(stopping$),
      )
      .subscribe({
        next: (value) => {
          const list = (Array.isArray(value) ? value : [value]) as readonly SourceEvent[];
          const entries: StoreEntry[] = [];
          for (const [n, event] of list.entries()) {
            try {
              entries.push({ source: owner, event: normalize(owner, event, list.length > 1 ? [n] : []) });
            } catch (err) {
              log.error({ err: err instanceof Error ? err.message : err }, 'source sent an invalid event; it was dropped');
            }
          }
          enqueue(entries, true).then(
            (result) => {
              for (const r of result.rejected) log.error({ reason: r.reason, event: r.event }, 'event rejected by the store');
            },
            (err: unknown) => {
              if (state !== 'stopped') log.error({ err }, 'store write failed');
            },
          );
        },
        complete: () => log.debug('source stream completed'),
      });
    subscriptions.push(sub);
  };

  return {
    catalog,
    store,
    flush,
    async start() {
      if (state !== 'new') throw new Error(`the registry cannot start: it is ${state}`);
      state = 'starting';
      const sinks = plugins.filter((p) => !isSource(p));
      const sources = plugins.filter(isSource);
      try {
        await store.start({ logger: logger.child({ store: store.name }), node: defaults.node, datacenter: defaults.datacenter, dataDir: options.dataDir ?? '' });
        storeStarted = true;
        for (const plugin of [...sinks, ...sources]) {
          try {
            await plugin.start(contextFor(plugin));
          } catch (err) {
            throw new Error(`plugin "${plugin.name}" failed to start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
          }
          started.push(plugin);
        }
        for (const source of sources) follow(source, logger.child({ plugin: source.name }));
        state = 'running';
        logger.info({ node: defaults.node, datacenter: defaults.datacenter, store: store.name, plugins: plugins.map((p) => p.name) }, 'registry started');
      } catch (err) {
        state = 'running';
        await this.stop();
        throw err;
      }
    },
    async stop() {
      if (state === 'stopping' || state === 'stopped' || state === 'new') {
        state = state === 'new' ? 'stopped' : state;
        return;
      }
      state = 'stopping';
      stopping$.next();
      stopping$.complete();
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      abort.abort();
      // Plugins may still publish while they stop (a scheduler deregistering what it ran).
      for (const plugin of started.splice(0).reverse()) {
        try {
          await plugin.stop();
        } catch (err) {
          logger.error({ err, plugin: plugin.name }, 'plugin failed to stop cleanly');
        }
      }
      await flush();
      accepting = false;
      if (retryTimer) clearTimeout(retryTimer);
      if (held.length) {
        logger.error({ held: held.reduce((n, p) => n + p.entries.length, 0) }, 'stopping while the store is unavailable: held source events were not applied');
        for (const p of held.splice(0)) p.reject(new Error('the registry stopped before the store came back'));
      }
      if (storeStarted) await store.stop();
      state = 'stopped';
      logger.info('registry stopped');
    },
  };
}
