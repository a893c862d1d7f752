import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeStoreContract, eventually, hasProgram, reset, spec, startRedis, startSentinel, tempDir, upsert, type RedisProcess } from '@signpost/testing';
import { isStoreUnavailable, silentLogger, StoreUnavailableError } from '@signpost/core';
import { Redis } from 'ioredis';
import { parseOptions, redisStore, type RedisStore, type RedisStoreOptions } from './index.js';

const ctx = { logger: silentLogger(), node: 'n', datacenter: 'dc1', dataDir: '' };
let nodes = 0;
/** A replica's context: each replica runs its own node, as the store requires. */
const nextCtx = (): typeof ctx => ({ ...ctx, node: `n${++nodes}` });

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
  describeStoreContract('redis', () => redisStore({ url: redis.url, keyPrefix: `t-${randomUUID()}:` }), {
    replicas: () => {
      const keyPrefix = `r-${randomUUID()}:`;
      return () => redisStore({ url: redis.url, keyPrefix });
    },
  });

  it('shares one catalog and one index between replicas, each serving reads from its own view', async () => {
    const keyPrefix = `shared-${randomUUID()}:`;
    const a = redisStore({ url: redis.url, keyPrefix });
    const b = redisStore({ url: redis.url, keyPrefix });
    await a.start(nextCtx());
    await b.start(nextCtx());
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
      await c.start(nextCtx());
      expect([c.index, [...c.services().keys()]]).toEqual([a.index, [...a.services().keys()]]);
      await c.stop();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('reloads a snapshot when it finds a gap in the stream (commits it never received)', async () => {
    const keyPrefix = `gap-${randomUUID()}:`;
    const follower = redisStore({ url: redis.url, keyPrefix });
    await follower.start(nextCtx());
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

  describe('leases', () => {
    const started: RedisStore[] = [];
    const open = async (options: RedisStoreOptions, context = nextCtx()): Promise<RedisStore> => {
      const store = redisStore({ url: redis.url, ...options });
      await store.start(context);
      started.push(store);
      return store;
    };
    afterEach(async () => {
      for (const s of started.splice(0)) await s.stop();
    });

    it('removes what a dead replica alone held once its lease expires, and keeps what a live replica also asserts', async () => {
      const keyPrefix = `lease-${randomUUID()}:`;
      const a = await open({ keyPrefix, leaseTtl: '600ms' });
      const b = await open({ keyPrefix, leaseTtl: '600ms' });
      // Both replicas load the same file (source "static"): one owner, two holders.
      const shared = spec('shared', { id: 's1' }, 'static');
      await a.apply([upsert(shared), upsert(spec('web', { id: 'only-a' }, 'http'))]);
      await b.apply([upsert(shared)]);
      await eventually(() => b.instances('web').length === 1, 2000, 'b to see a\'s instance');
      const before = b.index;
      // A dies: it stops refreshing its lease (what stop() leaves behind is what a crash leaves).
      await a.stop();
      started.splice(started.indexOf(a), 1);
      const t0 = Date.now();
      await eventually(() => b.instances('web').length === 0, 5000, 'the reaper to remove a\'s instance');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
      expect(b.instances('shared').map((i) => i.id)).toEqual(['s1']);
      expect(b.index).toBe(before + 1);
    });

    it('keeps what a replica restarted within its lease says again, once the old life\'s lease expires', async () => {
      const keyPrefix = `restart-${randomUUID()}:`;
      const a = await open({ keyPrefix, leaseTtl: '600ms' });
      const b = await open({ keyPrefix, leaseTtl: '600ms' });
      await a.apply([reset('http@a', [spec('svc-a', { id: 'a1', node: 'a' }, 'http@a')])]);
      await b.apply([reset('http@b', [spec('svc-b', { id: 'b1', node: 'b' }, 'http@b')])]);
      const oldLife = a.replicaId;
      // A is killed (no lease released) and starts again at once: a new life, saying what its API holds.
      await a.stop();
      started.splice(started.indexOf(a), 1);
      const again = await open({ keyPrefix, leaseTtl: '600ms' });
      await again.apply([reset('http@a', [spec('svc-a', { id: 'a1', node: 'a' }, 'http@a')])]);
      const raw = new Redis(redis.url);
      try {
        await eventually(async () => (await raw.zscore(`${keyPrefix}leases`, oldLife)) === null, 5000, 'the old life\'s lease to be reaped');
      } finally {
        raw.disconnect();
      }
      for (const replica of [again, b]) {
        await eventually(() => replica.index === b.index && replica.index === again.index, 2000, 'the replicas to converge');
        expect([...replica.services().keys()].sort()).toEqual(['svc-a', 'svc-b']);
      }
    });

    it('refuses a second live replica with the same node name; the same replica restarted after a crash is let in', async () => {
      const keyPrefix = `claim-${randomUUID()}:`;
      const dirA = await tempDir();
      const dirB = await tempDir();
      const raw = new Redis(redis.url);
      try {
        const a = await open({ keyPrefix, leaseTtl: '30s' }, { ...ctx, node: 'reg-1', dataDir: dirA.path });
        await a.apply([upsert(spec('svc-a', { id: 'a1', node: 'reg-1' }, 'http@reg-1'))]);
        const idA = a.replicaId;
        // A crash leaves its node claimed and its lease running.
        await a.stop();
        started.splice(started.indexOf(a), 1);
        await raw.hset(`${keyPrefix}nodes`, 'reg-1', idA);
        const b = redisStore({ url: redis.url, keyPrefix, leaseTtl: '30s' });
        await expect(b.start({ ...ctx, node: 'reg-1', dataDir: dirB.path })).rejects.toThrow(
          /node "reg-1" is run by another live replica \(.*; its lease runs \d+ s more\)\. Give every replica its own node name \(SIGNPOST_NODE\)/,
        );
        // B was turned away before it wrote anything: A's registration is untouched.
        expect(await raw.hexists(`${keyPrefix}instances`, 'reg-1\u0000a1')).toBe(1);
        // A itself, restarted with its data directory, is the same replica.
        const again = await open({ keyPrefix, leaseTtl: '30s' }, { ...ctx, node: 'reg-1', dataDir: dirA.path });
        expect(again.replicaId).toBe(idA);
      } finally {
        raw.disconnect();
        await dirA.dispose();
        await dirB.dispose();
      }
    });

    it('re-asserts what it holds when it finds its own lease was reaped', async () => {
      const keyPrefix = `reaped-${randomUUID()}:`;
      const a = await open({ keyPrefix, leaseTtl: '600ms' });
      await a.apply([upsert(spec('web', { id: 'w1' }, 'http'))]);
      // As if a reaper had judged this replica dead: its lease, its held set and its instance are gone.
      const raw = new Redis(redis.url);
      try {
        await raw.zrem(`${keyPrefix}leases`, a.replicaId);
        await raw.del(`${keyPrefix}held:${a.replicaId}`);
        await raw.hdel(`${keyPrefix}instances`, `node-a\u0000w1`);
        await raw.incr(`${keyPrefix}index`);
        await raw.xadd(`${keyPrefix}commits`, '*', 'index', String(a.index + 1), 'changes', JSON.stringify([[`node-a\u0000w1`, null]]), 'reaped', '1');
        await eventually(() => a.instances('web').length === 0, 2000, 'the removal');
        await eventually(() => a.instances('web').length === 1, 3000, 'a to re-assert');
        expect(await raw.hexists(`${keyPrefix}instances`, `node-a\u0000w1`)).toBe(1);
      } finally {
        raw.disconnect();
      }
    });

    it('elects exactly one replica, and another one when it goes away', async () => {
      const keyPrefix = `elect-${randomUUID()}:`;
      const a = await open({ keyPrefix, leaseTtl: '600ms' });
      const b = await open({ keyPrefix, leaseTtl: '600ms' });
      const leading = new Map<string, boolean>();
      const sa = a.elect('checks').subscribe((v) => leading.set('a', v));
      const sb = b.elect('checks').subscribe((v) => leading.set('b', v));
      await eventually(() => leading.size === 2, 2000, 'both to report');
      expect([...leading.values()].filter(Boolean)).toHaveLength(1);
      const winner = leading.get('a') ? 'a' : 'b';
      // The leader leaves: it releases the lock and the other takes over within a refresh.
      (winner === 'a' ? sa : sb).unsubscribe();
      await eventually(() => leading.get(winner === 'a' ? 'b' : 'a') === true, 3000, 'the other to lead');
      sa.unsubscribe();
      sb.unsubscribe();
    });
  });

  describe('when redis is unavailable', () => {
    it('serves reads from the view, reports stale contact, fails writes fast, and works again after', async () => {
      const own = await startRedis();
      const keyPrefix = `down-${randomUUID()}:`;
      const a = redisStore({ url: own.url, keyPrefix, timeout: '300ms' });
      await a.start(nextCtx());
      try {
        await a.apply([upsert(spec('web', { id: 'w1' }))]);
        expect(a.contact()).toMatchObject({ knownLeader: true });
        own.pause();
        const t0 = Date.now();
        const failed = await a.apply([upsert(spec('web', { id: 'w2' }))]).catch((e: unknown) => e);
        expect(isStoreUnavailable(failed)).toBe(true);
        expect(String(failed)).toMatch(/redis at redis:\/\/127\.0\.0\.1:\d+ is unavailable .*: the write was not acknowledged/);
        expect(Date.now() - t0).toBeLessThan(2000);
        expect(a.instances('web').map((i) => i.id)).toEqual(['w1']);
        await eventually(() => !a.contact().knownLeader, 3000, 'contact to go stale');
        const stale = a.contact().lastContactMs;
        await new Promise((r) => setTimeout(r, 200));
        expect(a.contact().lastContactMs).toBeGreaterThan(stale);
        own.resume();
        await eventually(() => a.contact().knownLeader, 5000, 'contact to come back');
        // The refused write may still have run once Redis woke (as with any timeout): writing it
        // again is safe, because an upsert of the same instance changes nothing.
        const r = await a.apply([upsert(spec('web', { id: 'w2' }))]);
        expect(r.rejected).toEqual([]);
        expect(a.instances('web').map((i) => i.id)).toEqual(['w1', 'w2']);
      } finally {
        await a.stop();
        await own.stop();
      }
    });

    it('after redis comes back empty, no replica serves part of the catalog: each waits for the others to write theirs', async () => {
      const own = await startRedis();
      const keyPrefix = `settle-${randomUUID()}:`;
      const stores = ['r1', 'r2', 'r3'].map(() => redisStore({ url: own.url, keyPrefix, timeout: '300ms', leaseTtl: '6s' }));
      const fewest: number[] = [];
      try {
        for (const [n, store] of stores.entries()) {
          await store.start({ ...ctx, node: `r${n + 1}` });
          await store.apply([upsert(spec('web', { id: `w${n + 1}`, node: `r${n + 1}` }, `http@r${n + 1}`))]);
        }
        await eventually(() => stores.every((s) => s.instances('web').length === 3), 3000, 'every replica to see all three');
        // A replica learns of the others at its lease refreshes (a third of the lease).
        await eventually(() => stores.every((s) => s.liveReplicas === 3), 10_000, 'every replica to know the others');
        // From here on, record the fewest instances any replica's watchers are shown.
        const subs = stores.map((store, n) => {
          fewest[n] = 3;
          return store.watch().subscribe((e) => {
            const count = e.type === 'snapshot' ? e.instances.length : store.instances('web').length;
            fewest[n] = Math.min(fewest[n]!, count);
          });
        });
        const seen = stores[0]!.index;
        await own.restart();
        await eventually(() => stores.every((s) => s.contact().knownLeader && s.index > seen && s.instances('web').length === 3), 15_000, 'every replica to recover');
        await eventually(() => stores.every((s) => s.index === stores[0]!.index), 5000, 'the replicas to converge');
        for (const sub of subs) sub.unsubscribe();
        expect(fewest).toEqual([3, 3, 3]);
      } finally {
        for (const s of stores) await s.stop();
        await own.stop();
      }
    });

    it('after redis comes back empty, every replica re-asserts what it holds and indexes keep growing', async () => {
      const own = await startRedis();
      const keyPrefix = `lost-${randomUUID()}:`;
      const a = redisStore({ url: own.url, keyPrefix, timeout: '300ms' });
      const b = redisStore({ url: own.url, keyPrefix, timeout: '300ms' });
      await a.start(nextCtx());
      await b.start(nextCtx());
      try {
        await a.apply([upsert(spec('web', { id: 'wa' }, 'http'))]);
        await b.apply([upsert(spec('web', { id: 'wb', node: 'node-b' }, 'http'))]);
        await eventually(() => a.index === b.index, 2000, 'convergence');
        const seen = a.index;
        await own.restart();
        await eventually(() => a.contact().knownLeader && b.contact().knownLeader, 8000, 'both to reconnect');
        // Indexes never go backwards: the catalog in the new Redis starts past what clients saw.
        await eventually(() => a.index > seen && a.index === b.index && a.instances('web').length === 2 && b.instances('web').length === 2, 8000, 'both to re-assert and converge');
        const raw = new Redis(own.url);
        expect((await raw.hkeys(`${keyPrefix}instances`)).sort()).toEqual(['node-a\u0000wa', 'node-b\u0000wb']);
        raw.disconnect();
      } finally {
        await a.stop();
        await b.stop();
        await own.stop();
      }
    });
  });

  describe('replication', () => {
    it('waitReplicas: acknowledges once a replica has the write, and refuses when it cannot', async () => {
      const primary = await startRedis();
      const replica = await startRedis({ replicaOf: primary.port });
      const keyPrefix = `wait-${randomUUID()}:`;
      const one = redisStore({ url: primary.url, keyPrefix, waitReplicas: 1, waitTimeout: '2s' });
      const two = redisStore({ url: primary.url, keyPrefix, waitReplicas: 2, waitTimeout: '200ms' });
      await one.start(nextCtx());
      await two.start(nextCtx());
      const raw = new Redis(replica.url);
      try {
        await inSync(primary);
        await one.apply([upsert(spec('web', { id: 'w1' }))]);
        // Acknowledged means on the replica already.
        expect(await raw.hexists(`${keyPrefix}instances`, 'node-a\u0000w1')).toBe(1);
        const refused = await two.apply([upsert(spec('web', { id: 'w2' }))]).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(StoreUnavailableError);
        expect(String(refused)).toMatch(/reached 1 of the 2 Redis replicas waitReplicas asks for/);
      } finally {
        raw.disconnect();
        await one.stop();
        await two.stop();
        await replica.stop();
        await primary.stop();
      }
    });

    it('Sentinel: follows a failover; reads never stop and no write acknowledged with waitReplicas: 1 is lost', async () => {
      const primary = await startRedis();
      const replica = await startRedis({ replicaOf: primary.port });
      const sentinels = await Promise.all([0, 1, 2].map(() => startSentinel({ primary: primary.port, downAfterMs: 800 })));
      const keyPrefix = `sentinel-${randomUUID()}:`;
      const options: RedisStoreOptions = { keyPrefix, sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`), name: 'mymaster', waitReplicas: 1, timeout: '500ms' };
      const writer = redisStore(options);
      const reader = redisStore(options);
      await inSync(primary);
      await writer.start(nextCtx());
      await reader.start(nextCtx());
      const acknowledged: string[] = [];
      let failures = 0;
      let readsDuringFailover = 0;
      let running = true;
      const writes = (async () => {
        for (let n = 0; running; n++) {
          const id = `w${n}`;
          try {
            await writer.apply([upsert(spec('web', { id }))]);
            acknowledged.push(id);
          } catch (err) {
            if (!isStoreUnavailable(err)) throw err;
            failures++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      })();
      try {
        await eventually(() => acknowledged.length >= 20, 5000, 'writes before the failover');
        await primary.kill();
        const t0 = Date.now();
        // Reads keep answering from the view throughout.
        const reads = setInterval(() => {
          if (reader.instances('web').length > 0) readsDuringFailover++;
        }, 20);
        await eventually(() => failures > 0, 10_000, 'writes to notice the primary is gone');
        // The old primary comes back; the sentinels make it a replica of the new one, so that
        // waitReplicas: 1 can be met again.
        await primary.restart();
        const count = acknowledged.length;
        await eventually(() => acknowledged.length > count + 10, 30_000, 'writes to succeed on the new primary');
        clearInterval(reads);
        running = false;
        await writes;
        expect(readsDuringFailover).toBeGreaterThan(Math.floor((Date.now() - t0) / 20 / 2));
        // A replica that starts now reads the new primary: every acknowledged write is there.
        const late = redisStore(options);
        await late.start(nextCtx());
        const ids = new Set(late.instances('web').map((i) => i.id));
        await late.stop();
        expect(acknowledged.filter((id) => !ids.has(id))).toEqual([]);
        await eventually(() => reader.index === writer.index, 5000, 'the reader to converge');
      } finally {
        running = false;
        await writes.catch(() => undefined);
        await writer.stop();
        await reader.stop();
        for (const s of sentinels) await s.stop();
        await replica.stop();
        await primary.stop();
      }
    }, 60_000);
  });

  it('validates its options', () => {
    expect(() => parseOptions({ url: 'http://x' })).toThrow(/store redis: url: must match/);
    expect(() => parseOptions({ keyPrefx: 'x' })).toThrow(/keyPrefx: unknown key/);
    expect(() => parseOptions({ sentinels: ['127.0.0.1:26379'] })).toThrow(/name: required with sentinels/);
    expect(() => parseOptions({ leaseTtl: '30 seconds' })).toThrow(/leaseTtl/);
    expect(parseOptions({ sentinels: ['10.0.0.1:26379'], name: 'mymaster', waitReplicas: 1 })).toMatchObject({ waitReplicas: 1 });
  });
});

/** Resolves once the primary reports a replica online (its first sync done). */
async function inSync(primary: RedisProcess): Promise<void> {
  const raw = new Redis(primary.url);
  try {
    const deadline = Date.now() + 10_000;
    while (!/slave0:.*state=online/.test(await raw.info('replication'))) {
      if (Date.now() > deadline) throw new Error('the replica did not sync');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    raw.disconnect();
  }
}
