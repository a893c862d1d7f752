import { createServer, type Server } from 'node:http';
import { Resolver } from 'node:dns/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@signpost/core';
import { startAgent, type Agent } from '@signpost/agent';
import type { DnsSink } from '@signpost/sink-dns';
import type { HttpSink } from '@signpost/sink-http';
import { tempDir } from '@signpost/testing';

/** A check flip reaches DNS answers and `?passing` within milliseconds of the result. */
describe('health checks take effect in every sink', () => {
  let agent: Agent;
  let dir: { path: string; dispose(): Promise<void> };
  let app: Server;
  let status = 200;
  let resolver: Resolver;
  let httpPort: number;

  const answers = async (): Promise<string[]> => (await resolver.resolve4('app.service.consul').catch(() => [] as string[])).sort();
  const passing = async (): Promise<number> => ((await (await fetch(`http://127.0.0.1:${httpPort}/v1/health/service/app?passing`)).json()) as unknown[]).length;
  const until = async (predicate: () => Promise<boolean>, ms = 3000): Promise<number> => {
    const t0 = Date.now();
    while (!(await predicate())) {
      if (Date.now() - t0 > ms) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
    return Date.now() - t0;
  };

  beforeAll(async () => {
    app = createServer((_req, res) => res.writeHead(status).end('ok'));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    const port = (app.address() as { port: number }).port;
    dir = await tempDir();
    await writeFile(
      join(dir.path, 'services.yaml'),
      `services:\n  - { name: app, id: app-1, port: ${port}, address: 127.0.0.11, check: { http: "http://127.0.0.1:${port}/health", interval: 50ms, timeout: 1s } }\n  - { name: app, id: app-2, port: 1, address: 127.0.0.12 }\n`,
    );
    await writeFile(
      join(dir.path, 'agent.yaml'),
      ['node: box', 'plugins:', '  - { plugin: dns, listen: "127.0.0.1:0" }', '  - { plugin: http, listen: "127.0.0.1:0" }', '  - { plugin: health, minInterval: 10ms }', '  - { plugin: static, path: ./services.yaml }'].join('\n'),
    );
    agent = await startAgent(join(dir.path, 'agent.yaml'), { logger: silentLogger() });
    resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${(agent.config.plugins.find((p) => p.name === 'dns') as DnsSink).address()!.port}`]);
    httpPort = (agent.config.plugins.find((p) => p.name === 'http') as HttpSink).address()!.port;
  });

  afterAll(async () => {
    await agent?.stop();
    await new Promise<void>((r) => app.close(() => r()));
    await dir?.dispose();
  });

  it('answers an instance only once its check passes, and drops it when the check fails', async () => {
    await until(async () => (await answers()).join() === '127.0.0.11,127.0.0.12');
    expect(await passing()).toBe(2);
    status = 500;
    const tookMs = await until(async () => (await answers()).join() === '127.0.0.12');
    expect(tookMs).toBeLessThan(1000);
    expect(await passing()).toBe(1);
    status = 200;
    await until(async () => (await answers()).length === 2);
  });
});
