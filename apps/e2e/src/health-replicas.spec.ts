import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import { createRegistry, silentLogger, type Registry, type SourceEvent, type SourcePlugin } from '@signpost/core';
import { healthChecker, type HealthChecker } from '@signpost/health';
import { redisStore } from '@signpost/store-redis';
import { eventually, hasProgram, startRedis, type RedisProcess } from '@signpost/testing';

/** With the Redis store, each check runs on one replica: the one that wins the election. */
describe.skipIf(!hasProgram('redis-server', 'redis-server'))('health checks across replicas sharing redis', () => {
  let redis: RedisProcess;
  let app: Server;
  let port: number;
  beforeAll(async () => {
    redis = await startRedis();
    app = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    port = (app.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((r) => app?.close(r));
    await redis?.stop();
  });

  it('runs every check on exactly one replica, and another takes over when it stops', async () => {
    const keyPrefix = `health-${randomUUID()}:`;
    const replicas: Array<{ registry: Registry; health: HealthChecker }> = [];
    for (const node of ['r1', 'r2']) {
      const health = healthChecker({ scope: 'elected', minInterval: '10ms' });
      const events = new Subject<SourceEvent>();
      const source: SourcePlugin = { name: 'static', ownership: 'shared', start: async () => undefined, stop: async () => undefined, events: () => events };
      const registry = createRegistry({ store: redisStore({ url: redis.url, keyPrefix, leaseTtl: '900ms' }), plugins: [health, source], logger: silentLogger(), node });
      await registry.start();
      // Both replicas load the same definitions (as from one shared services file).
      events.next({
        type: 'reset',
        instances: [1, 2, 3].map((n) => ({ service: 'app', id: `app-${n}`, node: 'apps', port, checks: [{ type: 'http' as const, definition: { http: `http://127.0.0.1:${port}/`, interval: '50ms' } }] })),
      });
      replicas.push({ registry, health });
    }
    try {
      const store = replicas[0]!.registry.catalog;
      await eventually(() => store.instances('app').length === 3 && store.instances('app').every((i) => i.checks[0]?.status === 'passing'), 5000, 'the checks to pass');
      await new Promise((r) => setTimeout(r, 300));
      const checks = replicas.map((r) => r.health.stats().checks);
      expect(checks.sort()).toEqual([0, 3]);
      const leader = replicas.find((r) => r.health.stats().checks === 3)!;
      const other = replicas.find((r) => r !== leader)!;
      expect(other.health.stats().runs).toBe(0);
      await leader.registry.stop();
      await eventually(() => other.health.stats().checks === 3 && other.health.stats().runs > 0, 5000, 'the other replica to take the checks over');
    } finally {
      for (const r of replicas) await r.registry.stop();
    }
  });
});
