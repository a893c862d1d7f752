import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@signpost/core';
import { eventually, hasProgram, spec, startRedis, tempDir, upsert, type RedisProcess } from '@signpost/testing';
import { redisStore } from '@signpost/store-redis';
import type { ProxySink } from '@signpost/sink-proxy';
import { startEdge } from './edge.js';

describe.skipIf(!hasProgram('redis-server', 'redis-server'))('edge', () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('routes what the registry writes to redis, follows its changes, and writes nothing itself', async () => {
    const dir = await tempDir();
    const keyPrefix = `edge-${randomUUID()}:`;
    const backend = createServer((req, res) => res.end(`backend saw ${req.url}`));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as { port: number }).port;
    const writer = redisStore({ url: redis.url, keyPrefix });
    await writer.start({ logger: silentLogger(), node: 'w', datacenter: 'dc1', dataDir: '' });
    const edge = await startEdge(undefined, {
      logger: silentLogger(),
      env: { SIGNPOST_REDIS_URL: redis.url, SIGNPOST_REDIS_PREFIX: keyPrefix, SIGNPOST_PROXY_LISTEN: '127.0.0.1:0', SIGNPOST_DATA_DIR: dir.path },
    });
    try {
      const proxy = edge.config.plugins[0] as unknown as ProxySink;
      const url = `http://127.0.0.1:${proxy.addresses()['web']!.port}/app/x`;
      await writer.apply([upsert(spec('app', { address: '127.0.0.1', port, tags: ['traefik.enable=true', 'traefik.http.routers.app.rule=PathPrefix(`/app`)'] }))]);
      await eventually(async () => (await fetch(url)).status === 200, 5000, 'the route');
      expect(await (await fetch(url)).text()).toBe('backend saw /app/x');
      await writer.apply([{ source: 'src-a', event: { type: 'remove', ref: { node: 'node-a', id: 'app' } } }]);
      await eventually(async () => (await fetch(url)).status === 404, 5000, 'the route to go');
      await expect(edge.registry.store.apply([upsert(spec('x'))])).rejects.toThrow(/read-only/);
      // An edge faces clients: a router asking for authentication it cannot give is not served.
      const guarded = `http://127.0.0.1:${proxy.addresses()['web']!.port}/guarded`;
      await writer.apply([
        upsert(spec('guarded', { address: '127.0.0.1', port, tags: ['traefik.enable=true', 'traefik.http.routers.g.rule=PathPrefix(`/guarded`)', 'traefik.http.routers.g.middlewares=auth', 'traefik.http.middlewares.auth.basicauth.users=u:$apr1$x$y'] })),
      ]);
      await eventually(() => proxy.problems().some((p) => p.service === 'guarded' && p.key === 'traefik.http.middlewares.auth.basicauth.users'), 5000, 'the refusal');
      expect((await fetch(guarded)).status).toBe(404);
    } finally {
      await edge.stop();
      await writer.stop();
      await new Promise((r) => backend.close(r));
      await dir.dispose();
    }
  });
});
