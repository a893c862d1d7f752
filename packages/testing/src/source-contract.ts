import { describe, expect, it } from 'vitest';
import { ownerId, type SourcePlugin } from '@signpost/core';
import { activeHandles } from './helpers.js';
import { eventually, handlesReleased } from './store-contract.js';
import { runPlugins } from './harness.js';

export interface SourceContractSetup {
  /** A fresh source, with whatever it reads (a file, a fake API) already in place. */
  readonly source: SourcePlugin;
  /** How many instances the source registers from that setup (at least one). */
  readonly expectedInstances: number;
  readonly baseDir?: string;
  /** Removes what the setup made. */
  dispose?(): Promise<void>;
}

/**
 * The contract every source passes: it registers what it was set up with through
 * valid events only, says its ownership and owns it under the owner id that follows, re-asserts its whole state when the
 * registry subscribes again (after a stream error), and releases every handle on
 * stop.
 */
export function describeSourceContract(name: string, setup: () => Promise<SourceContractSetup>): void {
  describe(`source contract: ${name}`, () => {
    it('says whose state it registers: this replica\'s alone, or every replica\'s alike', async () => {
      const s = await setup();
      try {
        expect(['replica', 'shared']).toContain(s.source.ownership);
      } finally {
        await s.dispose?.();
      }
    });

    it('registers its instances through valid events, owned by its owner id', async () => {
      const s = await setup();
      const run = await runPlugins([s.source], s.baseDir ? { baseDir: s.baseDir } : {});
      try {
        await eventually(() => run.store.ownedBy(owner(s.source)).size === s.expectedInstances, 5000, `${s.expectedInstances} instances`);
        expect(run.logger.lines.filter((l) => l.level === 'error')).toEqual([]);
        for (const i of run.store.allInstances()) expect(i.source).toBe(owner(s.source));
      } finally {
        await run.stop();
        await s.dispose?.();
      }
    });

    it('re-asserts its whole state to a new subscription (how the registry restarts it)', async () => {
      const s = await setup();
      const run = await runPlugins([s.source], s.baseDir ? { baseDir: s.baseDir } : {});
      try {
        await eventually(() => run.store.ownedBy(owner(s.source)).size === s.expectedInstances, 5000, 'the first state');
        const seen: unknown[] = [];
        const again = s.source.events().subscribe((e) => seen.push(e));
        await eventually(() => seen.length > 0, 5000, 'a second subscription to say something');
        again.unsubscribe();
        const said = seen.flat() as Array<{ type: string; instances?: unknown[] }>;
        const resets = said.filter((e) => e.type === 'reset');
        const upserts = said.filter((e) => e.type === 'upsert');
        expect(resets.length > 0 || upserts.length >= s.expectedInstances).toBe(true);
        if (resets.length) expect(resets.at(-1)!.instances).toHaveLength(s.expectedInstances);
      } finally {
        await run.stop();
        await s.dispose?.();
      }
    });

    it('releases its timers, sockets and watchers on stop', async () => {
      const before = activeHandles();
      const s = await setup();
      const run = await runPlugins([s.source], s.baseDir ? { baseDir: s.baseDir } : {});
      await eventually(() => run.store.ownedBy(owner(s.source)).size === s.expectedInstances, 5000, 'the state');
      await run.stop();
      await s.dispose?.();
      await handlesReleased(before);
    });
  });
}

/** The owner id of what `source` registers under `runPlugins` (whose node is `test-node`). */
function owner(source: SourcePlugin): string {
  return ownerId(source.name, source.ownership, 'test-node');
}
