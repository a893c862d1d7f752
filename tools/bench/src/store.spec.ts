import { describe, expect, it } from 'vitest';
import { percentile, table } from './report.js';
import { storeScenario } from './scenarios/store.js';

// Shape only: timings are printed by `npm run bench`, never asserted in tests.
// The load runs in a child process from dist/: the test target builds first.
describe('bench: store scenario', () => {
  it('runs at a small scale and reports every metric', async () => {
    const result = await storeScenario({ scale: 0.01 });
    expect(result.parameters).toMatchObject({ instances: 1000, services: 50 });
    expect(result.metrics.map((m) => m.name)).toEqual([
      'load 1,000 instances from file',
      'agent RSS with the catalog loaded',
      'agent RSS before loading',
      'JS heap used with the catalog loaded',
      'upserts/s, batches of 1000',
      'upserts/s, one per apply',
      'apply → watcher delay, median',
      'apply → watcher delay, p99',
      'publish → sink delay (registry batching), median',
      'publish → sink delay (registry batching), p99',
    ]);
    for (const m of result.metrics) expect(Number.isFinite(m.value)).toBe(true);
    expect(table(result)).toContain('apply → watcher delay, p99');
  });

  it('takes percentiles by nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, n) => n + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });
});
