import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, hasProgram, startRedis, tempDir, type RedisProcess } from '@signpost/testing';
import { appMain, queryA, startApp, type AppProcess } from './processes.js';

/*
 * The high-availability set-up of the README, as real processes: two registry replicas and
 * one edge proxy sharing a redis-server the test starts itself.
 */
const available = hasProgram('redis-server', 'redis-server');
const LEASE_TTL_MS = 1500;

interface Replica {
  readonly name: string;
  readonly http: number;
  readonly dns: number;
  proc: AppProcess;
}

describe.skipIf(!available)('registry replicas and an edge sharing redis', () => {
  let redis: RedisProcess;
  let dir: { path: string; dispose(): Promise<void> };
  let backend: Server;
  let backendPort: number;
  let a: Replica;
  let b: Replica;
  let edge: AppProcess;
  let edgePort: number;
  const keyPrefix = `ha-${randomUUID()}:`;

  const startReplica = async (name: string): Promise<Replica> => {
    const http = await freePort();
    const dns = await freePort();
    const proc = startApp(appMain('registry'), [], {
      SIGNPOST_NODE: name,
      SIGNPOST_REDIS_URL: redis.url,
      SIGNPOST_REDIS_PREFIX: keyPrefix,
      SIGNPOST_LEASE_TTL: `${LEASE_TTL_MS}ms`,
      SIGNPOST_HTTP_LISTEN: `127.0.0.1:${http}`,
      SIGNPOST_DNS_LISTEN: `127.0.0.1:${dns}`,
      SIGNPOST_DATA_DIR: join(dir.path, name),
    });
    await proc.waitFor('registry replica running');
    return { name, http, dns, proc };
  };
  const api = (r: Replica, path: string, init?: RequestInit): Promise<Response> => fetch(`http://127.0.0.1:${r.http}${path}`, init);
  const catalogIds = async (r: Replica, service: string): Promise<string[]> =>
    ((await (await api(r, `/v1/catalog/service/${service}`)).json()) as Array<{ ServiceID: string }>).map((e) => e.ServiceID);
  const register = (r: Replica, id: string): Promise<Response> =>
    api(r, '/v1/agent/service/register', {
      method: 'PUT',
      body: JSON.stringify({
        Name: 'web',
        ID: id,
        Address: '127.0.0.1',
        Port: backendPort,
        Tags: ['traefik.enable=true', 'traefik.http.routers.web.rule=PathPrefix(`/web`)'],
      }),
    });
  const throughEdge = async (): Promise<number> => (await fetch(`http://127.0.0.1:${edgePort}/web/hello`)).status;

  beforeAll(async () => {
    redis = await startRedis();
    dir = await tempDir();
    backend = createServer((_req, res) => res.end('backend'));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    backendPort = (backend.address() as { port: number }).port;
    [a, b] = await Promise.all([startReplica('reg-a'), startReplica('reg-b')]);
    edgePort = await freePort();
    edge = startApp(appMain('edge'), [], { SIGNPOST_REDIS_URL: redis.url, SIGNPOST_REDIS_PREFIX: keyPrefix, SIGNPOST_PROXY_LISTEN: `127.0.0.1:${edgePort}`, SIGNPOST_DATA_DIR: join(dir.path, 'edge') });
    await edge.waitFor('edge running');
  }, 60_000);

  afterAll(async () => {
    for (const p of [a?.proc, b?.proc, edge]) {
      if (p && p.child.exitCode === null) {
        p.child.kill('SIGTERM');
        await p.exited;
      }
    }
    await new Promise((r) => backend?.close(r));
    await redis?.stop();
    await dir?.dispose();
  });

  it("a registration on replica A is answered by B's DNS and catalog and routed by the edge; a deregistration is gone everywhere", async () => {
    expect((await register(a, 'web-1')).status).toBe(200);
    await eventually(async () => (await queryA(b.dns, 'web.service.consul')).addresses.length === 1, 5000, "B's DNS to answer");
    expect(await catalogIds(b, 'web')).toEqual(['web-1']);
    await eventually(async () => (await throughEdge()) === 200, 5000, 'the edge to route');
    // The same index on both replicas for the same state.
    const [ia, ib] = await Promise.all([api(a, '/v1/catalog/services'), api(b, '/v1/catalog/services')]);
    expect(ia.headers.get('x-consul-index')).toBe(ib.headers.get('x-consul-index'));

    expect((await api(a, '/v1/agent/service/deregister/web-1', { method: 'PUT' })).status).toBe(200);
    await eventually(async () => (await queryA(b.dns, 'web.service.consul')).rcode === 'NXDOMAIN', 5000, "B's DNS to forget it");
    expect(await catalogIds(b, 'web')).toEqual([]);
    await eventually(async () => (await throughEdge()) === 404, 5000, 'the edge to drop the route');
  });

  it('while redis is away, B answers reads from its view and refuses writes with 503; afterwards both converge', async () => {
    expect((await register(a, 'web-2')).status).toBe(200);
    await eventually(async () => (await catalogIds(b, 'web')).length === 1, 5000, 'B to see web-2');
    redis.pause();
    try {
      // A stale read says so.
      await eventually(async () => (await api(b, '/v1/catalog/service/web')).headers.get('x-consul-knownleader') === 'false', 5000, 'B to notice');
      const read = await api(b, '/v1/catalog/service/web');
      expect(read.status).toBe(200);
      expect(Number(read.headers.get('x-consul-lastcontact'))).toBeGreaterThan(0);
      expect((await queryA(b.dns, 'web.service.consul')).addresses).toEqual(['127.0.0.1']);
      expect(await throughEdge()).toBe(200);
      const write = await register(b, 'web-3');
      expect(write.status).toBe(503);
      expect(await write.text()).toMatch(/redis at .* is unavailable/);
    } finally {
      redis.resume();
    }
    await eventually(async () => (await register(b, 'web-3')).status === 200, 10_000, 'writes to work again');
    await eventually(
      async () => {
        const [ra, rb] = await Promise.all([api(a, '/v1/catalog/service/web'), api(b, '/v1/catalog/service/web')]);
        const [ja, jb] = await Promise.all([ra.text(), rb.text()]);
        return ra.headers.get('x-consul-index') === rb.headers.get('x-consul-index') && ja === jb && ra.headers.get('x-consul-knownleader') === 'true';
      },
      10_000,
      'both replicas to converge on one index and one catalog',
    );
    expect((await catalogIds(a, 'web')).sort()).toEqual(['web-2', 'web-3']);
  });

  it("after replica A is killed, what it registered disappears from B once A's lease expires; B's own stays", async () => {
    await eventually(async () => (await catalogIds(b, 'web')).includes('web-2'), 5000, 'web-2 on B');
    a.proc.child.kill('SIGKILL');
    await a.proc.exited;
    await eventually(async () => !(await catalogIds(b, 'web')).includes('web-2'), LEASE_TTL_MS * 4 + 5000, "A's instance to be reaped");
    // Removed by the reaper once A's lease ran out (not by a clock in this test: a busy machine
    // delays A's last refreshes, and once read 723 ms against a floor of 750).
    expect(b.proc.out.some((l) => l.includes('removed what replicas whose lease expired had registered'))).toBe(true);
    expect(await catalogIds(b, 'web')).toEqual(['web-3']);
    expect((await queryA(b.dns, 'web.service.consul')).addresses).toEqual(['127.0.0.1']);
  });
});
