import { describe, expect, it } from 'vitest';
import { hasProgram } from '@signpost/testing';
import { redisScenario } from './scenarios/redis.js';

// Shape only: timings are printed by `npm run bench`, never asserted in tests.
describe.skipIf(!hasProgram('redis-server', 'redis-server'))('bench: redis scenario', () => {
  it('runs at a small scale and reports every metric, the memory store beside the redis store', async () => {
    const result = await redisScenario({ scale: 0.05 });
    expect(result.parameters).toEqual({ upserts: 1000, samples: 100 });
    expect(result.metrics.map((m) => m.name)).toEqual([
      'upserts/s, batches of 1000, memory store',
      'upserts/s, batches of 1000, redis store',
      'redis / memory upserts',
      'write → DNS answer, memory store (one process), median',
      'write → DNS answer, memory store (one process), p99',
      'write on A → DNS answer on B, redis store, median',
      'write on A → DNS answer on B, redis store, p99',
    ]);
    for (const m of result.metrics) expect(m.value).toBeGreaterThan(0);
  }, 60_000);
});
