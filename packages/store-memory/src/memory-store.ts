import {
  applyResult,
  CatalogView,
  planBatch,
  Type,
  validate,
  type ApplyResult,
  type CatalogStore,
  type PluginModule,
  type Static,
  type StoreEntry,
} from '@signpost/core';

export const optionsSchema = Type.Object({}, { additionalProperties: false });
export type MemoryStoreOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): MemoryStoreOptions {
  return validate(optionsSchema, input ?? {}, 'store memory');
}

/**
 * The embedded store: the catalog lives in this process and is gone when it exits
 * (sources re-assert theirs on start). A commit is planned, applied to the view and
 * delivered to watchers synchronously, so a watcher sees a change within
 * microseconds of `apply`.
 */
export class MemoryStore extends CatalogView implements CatalogStore {
  readonly name = 'memory';
  readonly #deferred: Array<() => void> = [];

  async start(): Promise<void> {
    // Nothing to connect to: the catalog lives in this process.
  }

  async stop(): Promise<void> {
    this.close();
  }

  apply(entries: readonly StoreEntry[]): Promise<ApplyResult> {
    return new Promise((resolve, reject) => {
      const run = (): void => {
        try {
          resolve(this.#commit(entries));
        } catch (err) {
          reject(err);
        }
      };
      // A watcher that writes back while a commit is being delivered waits for the
      // delivery to end: commits never nest, and every watcher sees them in order.
      if (this.publishing) this.#deferred.push(run);
      else run();
    });
  }

  #commit(entries: readonly StoreEntry[]): ApplyResult {
    const index = this.index + 1;
    const plan = planBatch(this, entries, index);
    if (plan.changes.length > 0) this.commit(index, plan.changes);
    while (this.#deferred.length && !this.publishing) this.#deferred.shift()!();
    return applyResult(plan.changes.length > 0 ? index : this.index, plan);
  }
}

/** Factory: `memoryStore()`. */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  parseOptions(options);
  return new MemoryStore();
}

/** Config entry: `store: { plugin: memory }`. */
export const store: PluginModule<MemoryStoreOptions, CatalogStore> = {
  name: 'memory',
  kind: 'store',
  optionsSchema,
  parseOptions,
  create: memoryStore,
};
