import { execFile, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Metric, ScenarioResult } from '../report.js';
import { needPrograms, scratchDir, script, startChild, startNginx, stopChildren, type Endpoint } from './children.js';

export interface ProxyScenarioOptions {
  /** 1 = 10 s per wrk run. */
  readonly scale?: number;
}

/**
 * wrk (core 0) through Signpost's proxy, a bare http-proxy with a keep-alive agent,
 * nginx with upstream keepalive, and straight to the backend, side by side; the
 * servers (proxy and backend) share core 1.
 */
export async function proxyScenario(options: ProxyScenarioOptions = {}): Promise<ScenarioResult> {
  needPrograms('proxy', [['wrk', 'wrk'], ['nginx', 'nginx-light'], ['taskset', 'util-linux']]);
  const seconds = Math.max(1, Math.round(10 * (options.scale ?? 1)));
  const scratch = await scratchDir('proxy');
  const dir = scratch.path;
  const children: ChildProcess[] = [];
  const metrics: Metric[] = [];
  try {
    const pinned = (name: string, ...args: string[]): string[] => ['taskset', '-c', '1', process.execPath, script(name), ...args];
    const backend = await startChild(children, pinned('proxy-backend-child'));
    const file = join(dir, 'services.json');
    await writeFile(file, JSON.stringify({ services: [{ name: 'app', port: backend.port, address: '127.0.0.1', tags: ['traefik.enable=true', 'traefik.http.routers.app.rule=PathPrefix(`/`)'] }] }));
    const results: Record<string, { rps: number; p99: number }> = {};
    results['direct'] = await wrk(backend.port, seconds);

    const bare = await startChild(children, pinned('proxy-bare-child', String(backend.port)));
    results['http-proxy'] = await wrk(bare.port, seconds);
    await stop(bare);

    const ours = await startChild(children, pinned('proxy-signpost-child', file));
    results['signpost'] = await wrk(ours.port, seconds);
    await stop(ours);

    const nginx = await startNginx(children, dir, 1, (port) => [
      `upstream backend { server 127.0.0.1:${backend.port}; keepalive 64; }`,
      `server { listen 127.0.0.1:${port}; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
    ]);
    results['nginx'] = await wrk(nginx.port, seconds);

    for (const [name, r] of Object.entries(results)) {
      metrics.push({ name: `${name}: req/s`, value: r.rps, unit: 'req/s' });
      metrics.push({ name: `${name}: p99`, value: r.p99, unit: 'ms' });
    }
    const ratio = (a: string, b: string): number => results[a]!.rps / results[b]!.rps;
    metrics.push({ name: 'signpost / bare http-proxy', value: ratio('signpost', 'http-proxy'), unit: 'ratio', aim: '>= 1.0' });
    metrics.push({ name: 'signpost / nginx', value: ratio('signpost', 'nginx'), unit: 'ratio' });
    metrics.push({ name: 'bare http-proxy / direct', value: ratio('http-proxy', 'direct'), unit: 'ratio' });
    metrics.push({ name: 'nginx / direct', value: ratio('nginx', 'direct'), unit: 'ratio' });
    metrics.push({ name: 'signpost / direct', value: ratio('signpost', 'direct'), unit: 'ratio' });
    return { scenario: 'proxy', parameters: { seconds, connections: 32, cores: 'wrk on 0, servers on 1' }, metrics };
  } finally {
    await stopChildren(children);
    await scratch.remove();
  }
}

async function stop(e: Endpoint): Promise<void> {
  await new Promise<void>((resolve) => {
    if (e.child.exitCode !== null) return resolve();
    e.child.once('exit', () => resolve());
    e.child.kill('SIGTERM');
  });
}

async function wrk(port: number, seconds: number): Promise<{ rps: number; p99: number }> {
  const { stdout } = await promisify(execFile)('taskset', ['-c', '0', 'wrk', '-t1', '-c32', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const unit = { us: 0.001, ms: 1, s: 1000 } as const;
  return { rps, p99: p99 ? Number(p99[1]) * unit[p99[2] as keyof typeof unit] : NaN };
}
