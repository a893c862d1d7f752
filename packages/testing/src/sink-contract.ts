import { describe, expect, it } from 'vitest';
import type { Plugin, StoreEntry } from '@signpost/core';
import { activeHandles } from './helpers.js';
import { eventually, handlesReleased, spec, upsert } from './store-contract.js';
import { RecordingStore, runPlugins } from './harness.js';

export interface SinkContractSetup {
  /** A fresh sink, listening on free ports (`127.0.0.1:0`) if it listens at all. */
  readonly sink: Plugin;
  /**
   * How many catalog changes the sink has taken in, if it can tell (a counter
   * in its stats). With it, the contract also checks that it follows the catalog.
   */
  readonly handled?: () => number;
  /** Removes what the setup made. */
  dispose?(): Promise<void>;
}

const batch = (from: number, n: number, service = 'contract'): StoreEntry[] =>
  Array.from({ length: n }, (_, k) => upsert(spec(service, { id: `${service}-${from + k}`, port: 1000 + ((from + k) % 60000) })));

/**
 * The contract every sink passes: it starts on an empty catalog and on a full
 * one, follows a burst of changes without ever writing to the store from inside
 * a watcher and without logging an error, and releases every handle on stop.
 */
export function describeSinkContract(name: string, setup: () => Promise<SinkContractSetup>): void {
  describe(`sink contract: ${name}`, () => {
    it('starts on a catalog that already has instances, follows a burst of changes, never writes from a watcher, logs no error', async () => {
      const s = await setup();
      const store = new RecordingStore();
      await store.apply(batch(0, 50));
      const run = await runPlugins([s.sink], { store });
      try {
        const before = s.handled?.() ?? 0;
        for (let round = 0; round < 10; round++) {
          await store.apply(batch(round * 100, 100, `contract-${round % 3}`));
          await store.apply([{ source: 'src-a', event: { type: 'remove', ref: { node: 'node-a', id: `contract-${round % 3}-${round * 100}` } } }]);
        }
        await run.registry.flush();
        if (s.handled) await eventually(() => s.handled!() > before, 5000, `${name} to take the changes in`);
        expect(store.nestedWrites).toBe(0);
        expect(run.logger.lines.filter((l) => l.level === 'error')).toEqual([]);
      } finally {
        await run.stop();
        await s.dispose?.();
      }
    });

    it('starts and stops on an empty catalog', async () => {
      const s = await setup();
      const run = await runPlugins([s.sink]);
      await run.stop();
      await s.dispose?.();
      expect(run.logger.lines.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('releases its timers, sockets and watchers on stop', async () => {
      const before = activeHandles();
      const s = await setup();
      const run = await runPlugins([s.sink]);
      await run.store.apply(batch(0, 20));
      await run.registry.flush();
      await run.stop();
      await s.dispose?.();
      await handlesReleased(before);
    });
  });
}
