import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, silentLogger } from '@signpost/core';
import { eventually, tempDir } from '@signpost/testing';
import { defaultConfigFile, startAgent, type Agent } from './agent.js';

describe('agent', () => {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it("runs the default config: the demo's two cerebro instances with the seed's tags, passing their checks, and the services file", async () => {
    const dir = await tempDir();
    const env = { SIGNPOST_DATA_DIR: dir.path, SIGNPOST_DNS_LISTEN: '127.0.0.1:0', SIGNPOST_HTTP_LISTEN: '127.0.0.1:0', SIGNPOST_PROXY_LISTEN: '127.0.0.1:0' };
    agent = await startAgent(undefined, { logger: silentLogger(), env });
    const { catalog } = agent.registry;
    await eventually(() => catalog.instances('cerebro').length === 2, 10_000, 'two cerebro instances');
    const [a, b] = catalog.instances('cerebro');
    expect([a!.address, b!.address, a!.node]).toEqual(['127.0.0.1', '127.0.0.1', 'local']);
    expect(a!.port).not.toBe(b!.port);
    expect(catalog.services().get('cerebro')).toEqual(['traefik.enable=true', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/', 'traefik.tags=service']);
    await eventually(() => catalog.instances('cerebro').every((i) => i.checks[0]?.status === 'passing'), 10_000, 'their checks to pass');
    const said = await (await fetch(`http://127.0.0.1:${a!.port}/`)).text();
    expect(said).toMatch(new RegExp(`^cerebro instance ${a!.meta['exec-alloc-index']} on 127\\.0\\.0\\.1:${a!.port}`));
    expect(catalog.instances('signpost')).toHaveLength(1);
    expect(agent.config).toMatchObject({ node: 'local', datacenter: 'dc1', dataDir: dir.path });
    await agent.stop();
    agent = undefined;
    expect(catalog.instances('cerebro')).toEqual([]);
    await dir.dispose();
  });

  it("runs the article's Nomad seed from nomad-seed.yaml: two cerebro instances on two nodes", async () => {
    const dir = await tempDir();
    await writeFile(join(dir.path, 'agent.yaml'), `store: { plugin: memory }\nplugins:\n  - plugin: static\n    path: ${defaultConfigFile.replace(/agent\.yaml$/, 'nomad-seed.yaml')}\n`);
    agent = await startAgent(join(dir.path, 'agent.yaml'), { logger: silentLogger() });
    const { catalog } = agent.registry;
    await eventually(() => catalog.instances('cerebro').length === 2);
    expect(catalog.instances('cerebro').map((i) => [i.node, i.address, i.port])).toEqual([
      ['nomad-client01-dev', '192.168.10.107', 24623],
      ['nomad-client02-dev', '192.168.10.108', 31601],
    ]);
    await dir.dispose();
  });

  it('refuses a bad config with the file, line and key path', async () => {
    const dir = await tempDir();
    const file = join(dir.path, 'bad.yaml');
    await writeFile(file, 'store: { plugin: memory }\nplugins:\n  - plugin: static\n    pth: ./x.yaml\n');
    const err = await startAgent(file, { logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(`${file}:3:5: plugins[0].path: is required\n${file}:4:5: plugins[0].pth: unknown key`);
    await dir.dispose();
  });
});
