import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Consul from 'consul';
import { silentLogger } from '@signpost/core';
import { startAgent, type Agent } from '@signpost/agent';
import type { HttpSink } from '@signpost/sink-http';
import { eventually, tempDir } from '@signpost/testing';

/** Real clients of Consul's HTTP API, unchanged, against the agent. */
describe('Consul clients against the agent', () => {
  let agent: Agent;
  let dir: { path: string; dispose(): Promise<void> };
  let port: number;
  let consul: Consul;
  const raw = async (path: string): Promise<{ status: number; index: number; body: unknown }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, index: Number(res.headers.get('x-consul-index')), body: await res.json() };
  };

  beforeAll(async () => {
    dir = await tempDir();
    await writeFile(join(dir.path, 'services.yaml'), 'services:\n  - { name: cerebro, id: c1, port: 24623, address: 10.0.0.7, tags: [traefik.enable=true] }\n');
    await writeFile(join(dir.path, 'agent.yaml'), ['node: box', 'plugins:', '  - { plugin: http, listen: "127.0.0.1:0" }', '  - { plugin: static, path: ./services.yaml }'].join('\n'));
    agent = await startAgent(join(dir.path, 'agent.yaml'), { logger: silentLogger() });
    port = (agent.config.plugins.find((p) => p.name === 'http') as HttpSink).address()!.port;
    consul = new Consul({ host: '127.0.0.1', port });
    await eventually(() => agent.registry.catalog.instances('cerebro').length === 1);
  });

  afterAll(async () => {
    await agent?.stop();
    await dir?.dispose();
  });

  it('the consul npm client registers, reads the catalog and health, and deregisters', async () => {
    await consul.agent.service.register({ name: 'web', id: 'web-1', port: 8080, tags: ['v1'], check: { name: 'web alive', ttl: '30s', timeout: '1s' } });
    const nodes = (await consul.catalog.service.nodes('web')) as Array<{ ServiceID: string; ServicePort: number; Node: string }>;
    expect(nodes.map((n) => [n.ServiceID, n.ServicePort, n.Node])).toEqual([['web-1', 8080, 'box']]);
    expect(await consul.health.service({ service: 'web', passing: true })).toEqual([]);
    await consul.agent.check.pass({ id: 'service:web-1', note: 'ok' });
    const healthy = (await consul.health.service({ service: 'web', passing: true })) as Array<{ Service: { ID: string }; Checks: Array<{ Status: string }> }>;
    expect(healthy.map((h) => [h.Service.ID, h.Checks[0]!.Status])).toEqual([['web-1', 'passing']]);
    expect(Object.keys((await consul.catalog.service.list()) as object).sort()).toEqual(['cerebro', 'web']);
    expect(Object.keys((await consul.agent.service.list()) as object)).toContain('web-1');
    await consul.agent.service.deregister('web-1');
    expect(await consul.catalog.service.nodes('web')).toEqual([]);
  });

  it("the consul npm client's watch() sees a change pushed by a blocking query", async () => {
    const watch = consul.watch({ method: consul.health.service, options: { service: 'api', wait: '10s' } as { service: string } });
    const seen: number[] = [];
    watch.on('change', (data: unknown[]) => seen.push(data.length));
    watch.on('error', () => undefined);
    await eventually(() => seen.length === 1, 5000, 'the first answer');
    await consul.agent.service.register({ name: 'api', id: 'api-1', port: 1 });
    await eventually(() => seen.at(-1) === 1, 5000, 'the watch to see the registration');
    watch.end();
  });

  it("answers consul-template's blocking health query shape", async () => {
    const first = await raw('/v1/health/service/cerebro?passing=1&stale=&wait=60000ms');
    expect(first.status).toBe(200);
    const t0 = Date.now();
    const blocked = raw(`/v1/health/service/cerebro?passing=1&stale=&index=${first.index}&wait=60000ms`);
    await new Promise((r) => setTimeout(r, 50));
    await consul.agent.service.register({ name: 'cerebro', id: 'c2', port: 2 });
    const second = await blocked;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(second.index).toBeGreaterThan(first.index);
    expect((second.body as unknown[]).length).toBe(2);
  });

  it("answers Prometheus consul_sd's requests", async () => {
    const self = await raw('/v1/agent/self');
    expect(self.body).toMatchObject({ Config: { Datacenter: 'dc1' } });
    const services = await raw('/v1/catalog/services?stale=&wait=120000ms');
    expect(services.body).toHaveProperty('cerebro');
    const catalog = await raw('/v1/catalog/service/cerebro?stale=&wait=120000ms');
    expect((catalog.body as Array<{ ServiceAddress: string }>).map((e) => e.ServiceAddress)).toContain('10.0.0.7');
  });

  it("answers Traefik's and Fabio's blocking /v1/health/state/any", async () => {
    const first = await raw('/v1/health/state/any');
    const blocked = raw(`/v1/health/state/any?index=${first.index}&wait=30s`);
    await new Promise((r) => setTimeout(r, 50));
    await consul.agent.service.register({ name: 'probe', id: 'probe-1', port: 3, check: { name: 'probe ttl', ttl: '10s', timeout: '1s' } });
    const next = await blocked;
    expect(next.index).toBeGreaterThan(first.index);
    expect((next.body as Array<{ CheckID: string }>).map((c) => c.CheckID)).toContain('service:probe-1');
    const tagged = await raw('/v1/catalog/service/cerebro?tag=traefik.enable%3Dtrue');
    expect((tagged.body as unknown[]).length).toBe(1);
  });
});
