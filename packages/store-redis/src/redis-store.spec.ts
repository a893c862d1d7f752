import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStoreContract, eventually, hasProgram, spec, startRedis, upsert, type RedisProcess } from '@signpost/testing';
import { silentLogger } from '@signpost/core';
import { Redis } from 'ioredis';
import { parseOptions, redisStore } from './index.js';

const available = hasProgram('redis-server', 'redis-server');

describe.skipIf(!available)('redis store', () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  // Each test gets its own key prefix on the test's own redis-server.
  describeStoreContract('redis', () => redisStore({ url: redis.url, keyPrefix: `t-${randomUUID()}:` }));

  it('shares one catalog and one index between replicas, each serving reads from its own view', async () => {
    const keyPrefix = `shared-${randomUUID()}:`;
    const a = redisStore({ url: redis.url, keyPrefix });
    const b = redisStore({ url: redis.url, keyPrefix });
    const ctx = { logger: silentLogger(), node: 'n', datacenter: 'dc1', dataDir: '' };
    await a.start(ctx);
    await b.start(ctx);
    try {
      const r = await a.apply([upsert(spec('web', { id: 'w1' }))]);
      await eventually(() => b.index === r.index, 2000, 'replica b to see the commit');
      expect(b.instances('web').map((i) => i.id)).toEqual(['w1']);
      // Both write at once: each commit lands whole, indexes never collide.
      const [x, y] = await Promise.all([a.apply([upsert(spec('db', { id: 'd1' }))]), b.apply([upsert(spec('cache', { id: 'c1' }))])]);
      expect(x.index).not.toBe(y.index);
      await eventually(() => a.index === b.index && a.index === Math.max(x.index, y.index), 2000, 'both replicas to converge');
      expect([...a.services().keys()]).toEqual([...b.services().keys()]);
      // A replica that starts late loads the same state and index.
      const c = redisStore({ url: redis.url, keyPrefix });
      await c.start(ctx);
      expect([c.index, [...c.services().keys()]]).toEqual([a.index, [...a.services().keys()]]);
      await c.stop();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('reloads a snapshot when it finds a gap in the stream (commits it never received)', async () => {
    const keyPrefix = `gap-${randomUUID()}:`;
    const ctx = { logger: silentLogger(), node: 'n', datacenter: 'dc1', dataDir: '' };
    const follower = redisStore({ url: redis.url, keyPrefix });
    await follower.start(ctx);
    const raw = new Redis(redis.url);
    try {
      const r = await follower.apply([upsert(spec('web', { id: 'w1' }))]);
      const snapshots: number[] = [];
      follower.watch().subscribe((e) => e.type === 'snapshot' && snapshots.push(e.index));
      // Two commits land in Redis, but the stream only ever carries the second one (the
      // first was trimmed away before this replica read it).
      const missed = { ...spec('web', { id: 'w2' }), createIndex: r.index + 1, modifyIndex: r.index + 1 };
      const seen = { ...spec('web', { id: 'w3' }), createIndex: r.index + 2, modifyIndex: r.index + 2 };
      await raw.hset(`${keyPrefix}instances`, `node-a\u0000w2`, JSON.stringify(missed), `node-a\u0000w3`, JSON.stringify(seen));
      await raw.set(`${keyPrefix}index`, r.index + 2);
      await raw.xadd(`${keyPrefix}commits`, '*', 'index', String(r.index + 2), 'changes', JSON.stringify([[`node-a\u0000w3`, seen]]));
      await eventually(() => follower.index === r.index + 2, 3000, 'the follower to reload');
      expect(snapshots).toEqual([r.index, r.index + 2]);
      expect(follower.instances('web').map((i) => i.id)).toEqual(['w1', 'w2', 'w3']);
    } finally {
      raw.disconnect();
      await follower.stop();
    }
  });

  it('validates its options', () => {
    expect(() => parseOptions({ url: 'http://x' })).toThrow(/store redis: url: must match/);
    expect(() => parseOptions({ keyPrefx: 'x' })).toThrow(/keyPrefx: unknown key/);
  });
});
