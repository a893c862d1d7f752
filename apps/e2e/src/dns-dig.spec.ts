import { execFile } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@signpost/core';
import { startAgent, type Agent } from '@signpost/agent';
import type { DnsSink } from '@signpost/sink-dns';
import { eventually, hasProgram, tempDir } from '@signpost/testing';

const seedServices = fileURLToPath(new URL('../../agent/config/nomad-seed.yaml', import.meta.url));
const exec = promisify(execFile);

describe.skipIf(!hasProgram('dig', 'bind9-dnsutils'))('dig against the agent', () => {
  let agent: Agent;
  let dir: { path: string; dispose(): Promise<void> };
  let port: number;
  const dig = async (...args: string[]): Promise<string> => (await exec('dig', ['-p', String(port), '@127.0.0.1', ...args])).stdout;

  beforeAll(async () => {
    dir = await tempDir();
    await copyFile(seedServices, join(dir.path, 'services.yaml'));
    const big = Array.from({ length: 300 }, (_, n) => `  - { name: big, id: big-${n}, port: ${2000 + n}, address: 10.3.${n >> 8}.${n & 255} }`).join('\n');
    await writeFile(join(dir.path, 'more.yaml'), `services:\n  - { name: web, id: web-1, port: 8080, tags: [v1, primary], address: 127.0.0.2 }\n${big}\n`);
    await writeFile(
      join(dir.path, 'agent.yaml'),
      ['node: box', 'plugins:', '  - { plugin: dns, listen: "127.0.0.1:0" }', '  - { plugin: static, path: ./services.yaml }', '  - { plugin: static, name: more, path: ./more.yaml }'].join('\n'),
    );
    agent = await startAgent(join(dir.path, 'agent.yaml'), { logger: silentLogger() });
    port = (agent.config.plugins.find((p) => p.name === 'dns') as DnsSink).address()!.port;
    await eventually(() => agent.registry.catalog.instances('big').length === 300 && agent.registry.catalog.instances('cerebro').length === 2);
  });

  afterAll(async () => {
    await agent?.stop();
    await dir?.dispose();
  });

  it("reproduces the seed's session: dig -p 8600 @127.0.0.1 cerebro.service.consul", async () => {
    const out = await dig('cerebro.service.consul');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/flags: qr aa rd; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1/);
    expect(out).toMatch(/WARNING: recursion requested but not available/);
    expect(out).toMatch(/EDNS: version: 0, flags:; udp: 4096/);
    expect(out).toMatch(/cerebro\.service\.consul\.\s+0\s+IN\s+A\s+192\.168\.10\.107/);
    expect(out).toMatch(/cerebro\.service\.consul\.\s+0\s+IN\s+A\s+192\.168\.10\.108/);
    expect(out).toMatch(/MSG SIZE\s+rcvd: 83/);
  });

  it('answers RFC 2782 SRV with node targets and their addresses in ADDITIONAL', async () => {
    const out = await dig('_cerebro._tcp.service.consul', 'SRV');
    expect(out).toMatch(/SRV\s+1 1 24623 nomad-client01-dev\.node\.dc1\.consul\./);
    expect(out).toMatch(/SRV\s+1 1 31601 nomad-client02-dev\.node\.dc1\.consul\./);
    expect(out).toMatch(/ADDITIONAL SECTION:[\s\S]*nomad-client01-dev\.node\.dc1\.consul\.\s+0\s+IN\s+A\s+192\.168\.10\.107/);
  });

  it('filters by tag, and answers +short like Consul', async () => {
    expect((await dig('+short', 'primary.web.service.consul')).trim()).toBe('127.0.0.2');
    expect((await dig('+short', 'web.service.consul', 'SRV')).trim()).toBe('1 1 8080 7f000002.addr.dc1.consul.');
    expect((await dig('+short', 'nomad-client02-dev.node.consul')).trim()).toBe('192.168.10.108');
  });

  it('answers an unknown name NXDOMAIN with the SOA', async () => {
    const out = await dig('nope.service.consul');
    expect(out).toMatch(/status: NXDOMAIN/);
    expect(out).toMatch(/AUTHORITY SECTION:\s*\nconsul\.\s+0\s+IN\s+SOA\s+ns\.consul\. hostmaster\.consul\. \d+ 3600 600 86400 0/);
  });

  it('truncates a large UDP answer with TC, and dig’s TCP retry gets all 300 records', async () => {
    expect(await dig('+ignore', '+noedns', 'big.service.consul')).toMatch(/flags: qr aa tc rd;/);
    expect(await dig('big.service.consul')).toMatch(/ANSWER: 300,/);
    expect(await dig('+tcp', '_big._tcp.service.consul', 'SRV')).toMatch(/ANSWER: 300,/);
  });
});
