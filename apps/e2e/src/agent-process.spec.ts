import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, tempDir } from '@signpost/testing';

const main = fileURLToPath(new URL('../../agent/dist/main.js', import.meta.url));

interface Proc {
  readonly child: ChildProcess;
  readonly out: string[];
  exited: Promise<number | null>;
}

function run(args: string[]): Proc {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SIGNPOST_DNS_LISTEN: '127.0.0.1:0', SIGNPOST_HTTP_LISTEN: '127.0.0.1:0', SIGNPOST_PROXY_LISTEN: '127.0.0.1:0' } });
  const out: string[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => out.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exited };
}

describe('agent process', () => {
  const procs: Proc[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('runs the default config and shuts down cleanly on %s within 5 s', async (signal) => {
    const p = run([]);
    procs.push(p);
    await eventually(() => p.out.some((l) => l.includes('services file loaded')), 20_000, 'the agent to load its services');
    const started = Date.now();
    p.child.kill(signal);
    expect(await p.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(p.out.some((l) => l.includes('registry stopped'))).toBe(true);
  });

  it('runs with --config <file>, relative paths resolved against that file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir.path, 'services.yaml'), 'services:\n  - { name: web, port: 8080 }\n');
    await writeFile(join(dir.path, 'agent.yaml'), 'node: box\ndataDir: ./state\nplugins:\n  - { plugin: static, path: ./services.yaml }\n');
    const p = run(['--config', join(dir.path, 'agent.yaml')]);
    procs.push(p);
    await eventually(() => p.out.some((l) => l.includes('"instances":1')), 20_000, 'the services file');
    expect(p.out.find((l) => l.includes('agent running'))).toContain('"node":"box"');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    await dir.dispose();
  });

  it('exits 2 with the reason on a bad config', async () => {
    const dir = await tempDir();
    await writeFile(join(dir.path, 'agent.yaml'), 'plugins:\n  - plugin: nosuch\n');
    const p = run(['--config', join(dir.path, 'agent.yaml')]);
    procs.push(p);
    expect(await p.exited).toBe(2);
    expect(p.out.join('\n')).toContain(`${join(dir.path, 'agent.yaml')}:2:5: plugins[0].plugin: unknown plugin "nosuch" (this app knows: dns, exec, health, http, nomad, proxy, static)`);
    await dir.dispose();
  });
});
