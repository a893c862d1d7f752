import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { needPrograms, scratchDir, script, startChild, stopChildren, type Endpoint } from './children.js';
import { createSocket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as dnsPacket from 'dns-packet';
import { createRegistry, silentLogger } from '@signpost/core';
import { dnsSink } from '@signpost/sink-dns';
import { memoryStore } from '@signpost/store-memory';
import { freePort, which } from '@signpost/testing';
import { percentile, type Metric, type ScenarioResult } from '../report.js';

export interface DnsScenarioOptions {
  /** Seconds each dnsperf run lasts = 10 × scale (at least 1). */
  readonly scale?: number;
}

const NEEDS = [
  ['dnsperf', 'dnsperf'],
  ['knotd', 'knot'],
  ['taskset', 'util-linux'],
] as const;

const WEB = [
  { node: 'n1', address: '10.0.0.1', port: 8080 },
  { node: 'n2', address: '10.0.0.2', port: 8081 },
  { node: 'n3', address: '10.0.0.3', port: 8082 },
];

/**
 * dnsperf against our DNS sink, knot and a plain Node server answering from
 * precomputed bytes, for the same records, side by side in one run. dnsperf is
 * pinned to core 0 and each server to core 1. Then: our server with 100,000 other
 * instances in the catalog, answer sizes, and store-write → DNS-answer propagation.
 */
export async function dnsScenario(options: DnsScenarioOptions = {}): Promise<ScenarioResult> {
  needPrograms('dns', NEEDS);
  const seconds = Math.max(1, Math.round(10 * (options.scale ?? 1)));
  const background = Math.round(100_000 * Math.min(1, options.scale ?? 1));
  const scratch = await scratchDir('dns');
  const dir = scratch.path;
  const metrics: Metric[] = [];
  const children: ChildProcess[] = [];
  try {
    // --- the same records for everyone ------------------------------------------
    const nodes = WEB.map((w) => ({ name: w.node, address: w.address }));
    const web = WEB.map((w, n) => ({ name: 'web', id: `web-${n}`, node: w.node, port: w.port }));
    const small = join(dir, 'small.json');
    await writeFile(small, JSON.stringify({ nodes, services: web }));
    const big = join(dir, 'big.json');
    const more = Array.from({ length: background }, (_, n) => ({ name: `svc-${n % 5000}`, id: `svc-${n}`, node: `bg-${n % 500}`, port: 20000 + (n % 40000) }));
    await writeFile(big, JSON.stringify({ nodes: [...nodes, ...Array.from({ length: 500 }, (_, n) => ({ name: `bg-${n}`, address: `10.9.${n >> 8}.${n & 255}` }))], services: [...web, ...more] }));

    const ours = await startChild(children, ['taskset', '-c', '1', process.execPath, script('dns-server-child'), small, String(web.length)]);
    const a = await ask(ours, 'web.service.consul', 'A');
    const srv = await ask(ours, 'web.service.consul', 'SRV');
    const ceiling = await startChild(children, ['taskset', '-c', '1', process.execPath, script('dns-ceiling-child'), JSON.stringify([[1, a.toString('hex')], [33, srv.toString('hex')]])]);
    const knot = await startKnot(children, dir);
    const knotA = await ask(knot, 'web.service.consul', 'A');
    const knotSrv = await ask(knot, 'web.service.consul', 'SRV');

    metrics.push({ name: 'answer size, A (3 records), ours', value: a.length, unit: 'bytes' });
    metrics.push({ name: 'answer size, A (3 records), knot', value: knotA.length, unit: 'bytes' });
    metrics.push({ name: 'answer size, SRV (3 + 3 additional), ours', value: srv.length, unit: 'bytes' });
    metrics.push({ name: 'answer size, SRV (3 + 3 additional), knot', value: knotSrv.length, unit: 'bytes' });

    for (const type of ['A', 'SRV'] as const) {
      const q = join(dir, `q-${type}.txt`);
      await writeFile(q, `web.service.consul ${type}\n`);
      const k = await dnsperf(knot, q, seconds);
      const o = await dnsperf(ours, q, seconds);
      const c = await dnsperf(ceiling, q, seconds);
      metrics.push({ name: `${type}: knot QPS`, value: k.qps, unit: 'q/s' });
      metrics.push({ name: `${type}: plain Node, precomputed bytes, QPS`, value: c.qps, unit: 'q/s' });
      metrics.push({ name: `${type}: signpost QPS`, value: o.qps, unit: 'q/s' });
      metrics.push({ name: `${type}: signpost / knot`, value: o.qps / k.qps, unit: 'ratio', aim: '>= 0.4' });
      metrics.push({ name: `${type}: plain Node / knot`, value: c.qps / k.qps, unit: 'ratio' });
      metrics.push({ name: `${type}: mean latency knot / signpost`, value: k.latencyMs * 1000, unit: `µs / ${(o.latencyMs * 1000).toFixed(0)} µs` });
      if (o.lost || k.lost) metrics.push({ name: `${type}: queries lost (knot / signpost)`, value: k.lost, unit: `/ ${o.lost}` });
    }

    // --- a big catalog must not slow a query down ------------------------------------
    ours.child.kill('SIGTERM');
    const loaded = await startChild(children, ['taskset', '-c', '1', process.execPath, script('dns-server-child'), big, String(web.length + background)], 120_000);
    const q = join(dir, 'q-A.txt');
    const withBig = await dnsperf(loaded, q, seconds);
    const aBefore = metrics.find((m) => m.name === 'A: signpost QPS')!.value;
    metrics.push({ name: `A: signpost QPS with ${background.toLocaleString('en-US')} more instances`, value: withBig.qps, unit: 'q/s' });
    metrics.push({ name: 'A: big catalog / small catalog', value: withBig.qps / aBefore, unit: 'ratio', aim: '≈ 1' });

    // --- propagation: a store write to the first answer that shows it ----------------
    const samples = Math.max(100, Math.round(1000 * (options.scale ?? 1)));
    const delays = await propagation(samples);
    metrics.push({ name: 'store write → DNS answer, median', value: percentile(delays, 50), unit: 'ms' });
    metrics.push({ name: 'store write → DNS answer, p99', value: percentile(delays, 99), unit: 'ms', aim: '< 5' });
    return { scenario: 'dns', parameters: { seconds, background, samples, cores: 'dnsperf on 0, server on 1' }, metrics };
  } finally {
    await stopChildren(children);
    await scratch.remove();
  }
}

async function startKnot(children: ChildProcess[], dir: string): Promise<Endpoint> {
  const port = await freePort();
  const zone = [
    '$ORIGIN consul.',
    '$TTL 0',
    '@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0',
    '@ IN NS ns.consul.',
    'ns IN A 127.0.0.1',
    ...WEB.map((w) => `web.service IN A ${w.address}`),
    ...WEB.map((w) => `web.service IN SRV 1 1 ${w.port} ${w.node}.node.dc1.consul.`),
    ...WEB.map((w) => `${w.node}.node.dc1 IN A ${w.address}`),
  ].join('\n');
  await writeFile(join(dir, 'consul.zone'), `${zone}\n`);
  await writeFile(
    join(dir, 'knot.conf'),
    [
      'server:',
      `  rundir: "${dir}"`,
      `  listen: 127.0.0.1@${port}`,
      '  udp-workers: 1',
      '  tcp-workers: 1',
      '  background-workers: 1',
      'database:',
      `  storage: "${dir}"`,
      'log:',
      '  - target: stderr',
      '    any: error',
      'zone:',
      '  - domain: consul',
      `    file: "${join(dir, 'consul.zone')}"`,
      '',
    ].join('\n'),
  );
  const knotd = which('knotd')!;
  const child = spawn('taskset', ['-c', '1', knotd, '-c', join(dir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const endpoint = { port, child };
  for (let n = 0; n < 100; n++) {
    try {
      await ask(endpoint, 'web.service.consul', 'A', 200);
      return endpoint;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('knotd did not answer');
}

async function ask(endpoint: { port: number }, name: string, type: string, timeoutMs = 2000): Promise<Buffer> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer for ${name} ${type}`)), timeoutMs);
      socket.on('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      socket.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: type as 'A', name }] }), endpoint.port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function dnsperf(endpoint: { port: number }, queries: string, seconds: number): Promise<{ qps: number; latencyMs: number; lost: number }> {
  const { stdout } = await promisify(execFile)('taskset', ['-c', '0', 'dnsperf', '-s', '127.0.0.1', '-p', String(endpoint.port), '-d', queries, '-l', String(seconds), '-c', '1', '-T', '1', '-q', '100'], {
    maxBuffer: 1 << 20,
  });
  const num = (re: RegExp): number => Number(re.exec(stdout)?.[1] ?? NaN);
  return { qps: num(/Queries per second:\s+([\d.]+)/), latencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000, lost: num(/Queries lost:\s+(\d+)/) };
}

async function propagation(samples: number): Promise<number[]> {
  const store = memoryStore();
  const dns = dnsSink({ listen: '127.0.0.1:0' });
  const registry = createRegistry({ store, plugins: [dns], logger: silentLogger(), node: 'bench' });
  await registry.start();
  const port = dns.address()!.port;
  const socket = createSocket('udp4');
  const delays: number[] = [];
  try {
    for (let n = 0; n < samples; n++) {
      const name = `p${n}`;
      const t0 = performance.now();
      await store.apply([{ source: 'bench', event: { type: 'upsert', instance: { id: name, service: name, node: 'bench', nodeAddress: '10.0.0.1', nodeMeta: {}, datacenter: 'dc1', address: '', port: 1, tags: [], meta: {}, weights: { passing: 1, warning: 1 }, taggedAddresses: {}, enableTagOverride: false, kind: '', checks: [], source: 'bench' } } }]);
      for (;;) {
        const reply = await new Promise<Buffer>((resolve) => {
          socket.once('message', resolve);
          socket.send(dnsPacket.encode({ type: 'query', id: n & 0xffff, questions: [{ type: 'A', name: `${name}.service.consul` }] }), port, '127.0.0.1');
        });
        if ((reply[3]! & 0xf) === 0 && reply.readUInt16BE(6) > 0) break;
      }
      delays.push(performance.now() - t0);
    }
  } finally {
    socket.close();
    await registry.stop();
  }
  return delays.sort((x, y) => x - y);
}
