import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, silentLogger } from '@signpost/core';
import { eventually, tempDir } from '@signpost/testing';
import { startAgent, type Agent } from './agent.js';

describe('agent', () => {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it("runs the default config: the seed's two cerebro instances on two nodes", async () => {
    const dir = await tempDir();
    agent = await startAgent(undefined, { logger: silentLogger(), env: { SIGNPOST_DATA_DIR: dir.path } });
    const { catalog } = agent.registry;
    await eventually(() => catalog.instances('cerebro').length === 2);
    expect(catalog.instances('cerebro').map((i) => [i.node, i.address, i.port])).toEqual([
      ['nomad-client01-dev', '192.168.10.107', 24623],
      ['nomad-client02-dev', '192.168.10.108', 31601],
    ]);
    expect(catalog.services().get('cerebro')).toEqual(['traefik.enable=true', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/', 'traefik.tags=service']);
    expect(agent.config).toMatchObject({ node: 'local', datacenter: 'dc1', dataDir: dir.path });
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
