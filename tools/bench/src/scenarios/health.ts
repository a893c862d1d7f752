import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { which } from '@signpost/testing';
import { percentile, type Metric, type ScenarioResult } from '../report.js';
import { script, startChild, stopChildren, type Endpoint } from './children.js';

export interface HealthScenarioOptions {
  /** 1 = 10,000 checks at a 10 s interval, 20 s measured per phase. */
  readonly scale?: number;
}

/**
 * The cost of checking a fleet: the same agent (pinned to core 1) serves DNS with
 * and without 10,000 HTTP checks at a 10 s interval (1,000 checks/s) against a
 * local server. A paced probe on core 0 measures DNS latency; the agent reports
 * its CPU, checks run and event-loop delay.
 */
export async function healthScenario(options: HealthScenarioOptions = {}): Promise<ScenarioResult> {
  if (!which('taskset')) throw new Error('the health bench needs taskset (apt-get install util-linux)');
  const scale = options.scale ?? 1;
  const checks = Math.max(100, Math.round(10_000 * scale));
  const seconds = Math.max(3, Math.round(20 * scale));
  const dir = await mkdtemp(join(tmpdir(), 'signpost-bench-health-'));
  const children: ChildProcess[] = [];
  const metrics: Metric[] = [];
  try {
    const target = await startChild(children, ['taskset', '-c', '0', process.execPath, script('health-target-child')]);
    // The DNS probe (this process) shares core 0 with the target, so core 1 is the agent's alone.
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    const file = join(dir, 'services.json');
    const services = [
      { name: 'web', id: 'web', port: 80, address: '10.0.0.1' },
      ...Array.from({ length: checks }, (_, n) => ({
        name: `svc-${n % 1000}`,
        id: `svc-${n}`,
        port: target.port,
        address: '127.0.0.1',
        check: { http: `http://127.0.0.1:${target.port}/health?n=${n}`, interval: '10s', timeout: '5s' },
      })),
    ];
    await writeFile(file, JSON.stringify({ services }));

    const phases: Record<string, { dns: number[]; cpuMs: number; runs: number; writes: number; loopP99: number }> = {};
    for (const withHealth of ['no', 'yes'] as const) {
      const agent = await startChild(children, ['taskset', '-c', '1', process.execPath, ...(process.env['SIGNPOST_BENCH_AGENT_FLAGS']?.split(' ').filter(Boolean) ?? []), script('health-agent-child'), file, String(services.length), withHealth], 120_000);
      const reports: Array<{ cpuMs: number; runs: number; writes: number; loopP99Ms: number }> = [];
      agent.child.stdout!.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) if (line.startsWith('{')) reports.push(JSON.parse(line) as { cpuMs: number; runs: number; writes: number; loopP99Ms: number });
      });
      // Let every check run once (first runs spread over the 10 s interval) and settle:
      // measure the steady state, not the first critical → passing transitions.
      await new Promise((r) => setTimeout(r, withHealth === 'yes' ? 12_000 : 1000));
      const from = reports.length;
      const dns = await probe(agent, seconds);
      const window = reports.slice(from);
      phases[withHealth] = {
        dns,
        cpuMs: window.reduce((n, r) => n + r.cpuMs, 0),
        runs: window.reduce((n, r) => n + r.runs, 0),
        writes: window.reduce((n, r) => n + r.writes, 0),
        loopP99: Math.max(...window.map((r) => r.loopP99Ms)),
      };
      agent.child.kill('SIGTERM');
    }
    const off = phases['no']!;
    const on = phases['yes']!;
    metrics.push({ name: 'checks run per second', value: on.runs / seconds, unit: '/s' });
    metrics.push({ name: 'check results written per second (steady fleet)', value: on.writes / seconds, unit: '/s', aim: '0' });
    metrics.push({ name: 'agent CPU per check', value: ((on.cpuMs - off.cpuMs) * 1000) / Math.max(1, on.runs), unit: 'µs' });
    metrics.push({ name: 'agent CPU, checks off / on', value: off.cpuMs / seconds / 10, unit: `% / ${(on.cpuMs / seconds / 10).toFixed(1)} %` });
    metrics.push({ name: 'event-loop delay p99, checks off / on', value: off.loopP99, unit: `ms / ${on.loopP99.toFixed(1)} ms` });
    metrics.push({ name: 'DNS p50 without checks', value: percentile(off.dns, 50), unit: 'ms' });
    metrics.push({ name: 'DNS p50 with checks', value: percentile(on.dns, 50), unit: 'ms' });
    metrics.push({ name: 'DNS p99 without checks', value: percentile(off.dns, 99), unit: 'ms' });
    metrics.push({ name: 'DNS p99 with checks', value: percentile(on.dns, 99), unit: 'ms' });
    metrics.push({ name: 'DNS p99 with / without checks', value: percentile(on.dns, 99) / percentile(off.dns, 99), unit: 'ratio', aim: '<= 1.2' });
    return { scenario: 'health', parameters: { checks, interval: '10s', seconds, dnsRate: '2000 q/s' }, metrics };
  } finally {
    await stopChildren(children);
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

/** 2,000 DNS queries a second for `seconds`, each timed; sorted latencies in ms. */
async function probe(agent: Endpoint, seconds: number): Promise<number[]> {
  const socket = createSocket('udp4');
  const sent = new Map<number, number>();
  const latencies: number[] = [];
  socket.on('message', (m) => {
    const t = sent.get(m.readUInt16BE(0));
    if (t !== undefined) latencies.push(performance.now() - t);
  });
  const end = performance.now() + seconds * 1000;
  let id = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 20; k++) {
      id = (id + 1) & 0xffff;
      sent.set(id, performance.now());
      socket.send(dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name: 'web.service.consul' }] }), agent.port, '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 200));
  socket.close();
  return latencies.sort((a, b) => a - b);
}
