import { BehaviorSubject, type Observable } from 'rxjs';
import {
  applyResult,
  CatalogView,
  createRegistry,
  planBatch,
  StoreUnavailableError,
  type ApplyResult,
  type StoreContact,
  type CatalogStore,
  type Logger,
  type Plugin,
  type Registry,
  type StoreEntry,
} from '@signpost/core';

/**
 * A store for testing plugins: the same view and planning every store uses, plus
 * a record of each batch it was handed and whether anything wrote to it from
 * inside a watcher (which the registry must never do).
 */
export class RecordingStore extends CatalogView implements CatalogStore {
  readonly name = 'recording';
  readonly batches: StoreEntry[][] = [];
  nestedWrites = 0;
  #downSince: number | undefined;
  /**
   * What `elect()` emits for every name: this replica leads until a test says
   * otherwise with `leadership.next(false)`, as when another replica takes over.
   */
  readonly leadership = new BehaviorSubject<boolean>(true);

  elect(): Observable<boolean> {
    return this.leadership.asObservable();
  }

  /**
   * Simulates the store losing its backend: writes throw StoreUnavailableError
   * and `contact()` reports the view stale, as the Redis store does while Redis
   * is away. `false` brings it back.
   */
  setUnavailable(down: boolean): void {
    this.#downSince = down ? (this.#downSince ?? Date.now()) : undefined;
  }

  contact(): StoreContact {
    return this.#downSince === undefined ? { knownLeader: true, lastContactMs: 0 } : { knownLeader: false, lastContactMs: Date.now() - this.#downSince };
  }

  async start(): Promise<void> {
    // In memory: nothing to connect to.
  }

  async stop(): Promise<void> {
    this.close();
  }

  async apply(entries: readonly StoreEntry[]): Promise<ApplyResult> {
    if (this.#downSince !== undefined) throw new StoreUnavailableError('the recording store is unavailable (setUnavailable(true))');
    if (this.publishing) this.nestedWrites++;
    this.batches.push([...entries]);
    const index = this.index + 1;
    const plan = planBatch(this, entries, index);
    if (plan.changes.length) this.commit(index, plan.changes);
    return applyResult(plan.changes.length ? index : this.index, plan);
  }
}

/** One log line as a test sees it. */
export interface LogLine {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

/** A logger that keeps what it is told, so tests can assert on errors. */
export function memoryLogger(): Logger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: LogLine['level']) =>
      (objOrMsg: object | string, msg?: string): void => {
        if (typeof objOrMsg === 'string') lines.push({ level, msg: objOrMsg, fields: { ...bindings } });
        else lines.push({ level, msg: msg ?? '', fields: { ...bindings, ...(objOrMsg as Record<string, unknown>) } });
      };
    return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (b) => make({ ...bindings, ...b }) };
  };
  return Object.assign(make({}), { lines });
}

export interface Running {
  readonly registry: Registry;
  readonly store: RecordingStore;
  readonly logger: Logger & { readonly lines: LogLine[] };
  stop(): Promise<void>;
}

/** Runs plugins under a real registry with a RecordingStore; the agent node is `test-node`. */
export async function runPlugins(
  plugins: readonly Plugin[],
  options: { baseDir?: string; dataDir?: string; node?: string; store?: RecordingStore } = {},
): Promise<Running> {
  const store = options.store ?? new RecordingStore();
  const logger = memoryLogger();
  const registry = createRegistry({
    store,
    plugins,
    logger,
    node: options.node ?? 'test-node',
    nodeAddress: '127.0.0.1',
    datacenter: 'dc1',
    baseDir: options.baseDir ?? process.cwd(),
    dataDir: options.dataDir ?? '',
    backoff: { initialMs: 20, maxMs: 200 },
  });
  await registry.start();
  return { registry, store, logger, stop: () => registry.stop() };
}
