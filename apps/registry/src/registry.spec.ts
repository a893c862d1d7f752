import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@signpost/core';
import { hasProgram, startRedis, tempDir, type RedisProcess } from '@signpost/testing';
import { startRegistry } from './registry.js';

describe.skipIf(!hasProgram('redis-server', 'redis-server'))('registry replica', () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('runs the default config against the redis it is given: a registration is in redis for every replica', async () => {
    const dir = await tempDir();
    const env = {
      SIGNPOST_REDIS_URL: redis.url,
      SIGNPOST_REDIS_PREFIX: `reg-${randomUUID()}:`,
      SIGNPOST_HTTP_LISTEN: '127.0.0.1:0',
      SIGNPOST_DNS_LISTEN: '127.0.0.1:0',
    };
    // Each replica its own node name and data directory, as the README says (one shared is refused).
    const one = await startRegistry(undefined, { logger: silentLogger(), env: { ...env, SIGNPOST_NODE: 'one', SIGNPOST_DATA_DIR: `${dir.path}/one` } });
    const two = await startRegistry(undefined, { logger: silentLogger(), env: { ...env, SIGNPOST_NODE: 'two', SIGNPOST_DATA_DIR: `${dir.path}/two` } });
    try {
      expect(one.config).toMatchObject({ node: 'one', store: { name: 'redis' } });
      expect(one.config.plugins.map((p) => p.name)).toEqual(['http', 'dns', 'health']);
      const http = one.config.plugins.find((p) => p.name === 'http') as unknown as { address(): { port: number } };
      const res = await fetch(`http://127.0.0.1:${http.address().port}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'web', Port: 80 }) });
      expect(res.status).toBe(200);
      // Read-your-writes on the replica that took it; the other follows the stream.
      expect(one.registry.catalog.instances('web').map((i) => i.node)).toEqual(['one']);
      const deadline = Date.now() + 2000;
      while (two.registry.catalog.instances('web').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(two.registry.catalog.instances('web').map((i) => i.node)).toEqual(['one']);
      expect(two.registry.catalog.index).toBe(one.registry.catalog.index);
    } finally {
      await one.stop();
      await two.stop();
      await dir.dispose();
    }
  });
});
