import { execFile, type ChildProcess } from 'node:child_process';
import { request, Agent } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { percentile, type Metric, type ScenarioResult } from '../report.js';
import { needPrograms, scratchDir, script, startChild, stopChildren } from './children.js';

export interface HttpScenarioOptions {
  /** 1 = 10 s per wrk run, 10,000 watchers on 1,000 services. */
  readonly scale?: number;
}

/**
 * wrk on `/v1/catalog/service/web` (3 instances) against our HTTP API and against a
 * bare fastify route answering the same bytes, side by side (wrk on core 0, the
 * server on core 1); then 10,000 blocking watchers on 1,000 services and one change:
 * who woke, and how fast.
 */
export async function httpScenario(options: HttpScenarioOptions = {}): Promise<ScenarioResult> {
  needPrograms('http', [['wrk', 'wrk'], ['taskset', 'util-linux']]);
  const scale = options.scale ?? 1;
  const seconds = Math.max(1, Math.round(10 * scale));
  const services = Math.max(10, Math.round(1000 * scale));
  const watchers = services * 10;
  const scratch = await scratchDir('http');
  const dir = scratch.path;
  const children: ChildProcess[] = [];
  const metrics: Metric[] = [];
  try {
    const file = join(dir, 'services.json');
    const list = [
      ...[1, 2, 3].map((n) => ({ name: 'web', id: `web-${n}`, node: `n${n}`, address: `10.0.0.${n}`, port: 8080 + n, tags: ['v1'] })),
      ...Array.from({ length: services }, (_, n) => ({ name: `svc-${n}`, id: `svc-${n}`, node: `n${n % 50}`, port: 9000 + n })),
    ];
    await writeFile(file, JSON.stringify({ nodes: Array.from({ length: 50 }, (_, n) => ({ name: `n${n}`, address: `10.0.1.${n + 1}` })), services: list }));

    const ours = await startChild(children, ['taskset', '-c', '1', process.execPath, script('http-server-child'), file, String(list.length)]);
    const sample = await get(ours.port, '/v1/catalog/service/web');
    const bare = await startChild(children, ['taskset', '-c', '1', process.execPath, script('http-bare-child'), sample.body, String(sample.index)]);
    const b = await wrk(bare.port, seconds);
    const o = await wrk(ours.port, seconds);
    metrics.push({ name: 'bare fastify, same bytes: req/s', value: b.rps, unit: 'req/s' });
    metrics.push({ name: 'signpost /v1/catalog/service/web: req/s', value: o.rps, unit: 'req/s' });
    metrics.push({ name: 'signpost / bare fastify', value: o.rps / b.rps, unit: 'ratio', aim: '>= 0.9' });
    metrics.push({ name: 'p99 latency bare / signpost', value: b.p99, unit: `ms / ${o.p99.toFixed(2)} ms` });
    bare.child.kill('SIGTERM');

    // --- wake-ups: 10 watchers per service, then one service changes -----------------------
    const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
    const woke: Array<{ service: string; at: number }> = [];
    const pending: Array<Promise<void>> = [];
    const indexes = await Promise.all(Array.from({ length: services }, (_, n) => get(ours.port, `/v1/health/service/svc-${n}`, agent).then((r) => r.index)));
    for (let n = 0; n < services; n++) {
      for (let k = 0; k < 10; k++) {
        pending.push(
          get(ours.port, `/v1/health/service/svc-${n}?index=${indexes[n]}&wait=60s`, agent).then(
            () => void woke.push({ service: `svc-${n}`, at: performance.now() }),
            () => undefined,
          ),
        );
      }
    }
    await new Promise((r) => setTimeout(r, Math.max(1000, watchers / 5)));
    const changed = `svc-${Math.floor(services / 2)}`;
    const changedAt = performance.now();
    await put(ours.port, '/v1/catalog/register', { Node: 'bench-extra', Address: '10.9.9.9', Service: { Service: changed, ID: 'extra', Port: 1 } }, agent);
    await new Promise((r) => setTimeout(r, 1000));
    const delays = woke.map((w) => w.at - changedAt).sort((x, y) => x - y);
    const others = woke.filter((w) => w.service !== changed).length;
    metrics.push({ name: `watchers blocked (${services.toLocaleString('en-US')} services)`, value: watchers, unit: 'requests' });
    metrics.push({ name: `watchers of ${changed} that woke`, value: woke.length - others, unit: 'of 10', aim: '10' });
    metrics.push({ name: 'watchers of other services that woke', value: others, unit: 'requests', aim: '0' });
    metrics.push({ name: 'change → watcher response, p99', value: percentile(delays, 99), unit: 'ms' });
    agent.destroy();
    await Promise.allSettled(pending);
    return { scenario: 'http', parameters: { seconds, services, watchers, cores: 'wrk on 0, server on 1' }, metrics };
  } finally {
    await stopChildren(children);
    await scratch.remove();
  }
}

async function wrk(port: number, seconds: number): Promise<{ rps: number; p99: number }> {
  const { stdout } = await promisify(execFile)('taskset', ['-c', '0', 'wrk', '-t1', '-c32', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/v1/catalog/service/web`], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const scaleTo = { us: 0.001, ms: 1, s: 1000 } as const;
  return { rps, p99: p99 ? Number(p99[1]) * scaleTo[p99[2] as keyof typeof scaleTo] : NaN };
}

function get(port: number, path: string, agent?: Agent): Promise<{ body: string; index: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ...(agent ? { agent } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ body, index: Number(res.headers['x-consul-index']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One PUT on `agent`'s kept-alive connections; rejects unless the answer is 200. */
export function put(port: number, path: string, value: unknown, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'PUT', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(value));
  });
}
