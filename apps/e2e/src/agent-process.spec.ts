import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
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

  it.skipIf(process.platform !== 'linux').each([
    ['SIGTERM', 'checks running'],
    ['SIGKILL', 'checks running'],
    ['SIGKILL', 'no checks'],
    ['SIGKILL', 'the probe process still starting'],
  ] as const)('leaves no health probe process behind when it ends on %s, %s', async (signal, checks) => {
    // A check against this server: its first request says the probe process is up and running.
    let requests = 0;
    const target = createServer((_req, res) => void (requests++, res.end('ok')));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    const dir = await tempDir();
    const url = `http://127.0.0.1:${(target.address() as { port: number }).port}/`;
    const check = checks === 'checks running' ? `, check: { http: "${url}", interval: 100ms }` : '';
    await writeFile(join(dir.path, 'services.yaml'), `services:\n  - { name: web, port: 80${check} }\n`);
    // At the agent's own priority: on a busy machine (CI) a SCHED_IDLE probe process may
    // get no CPU for seconds, and what is tested here is that it ends, not when.
    await writeFile(join(dir.path, 'agent.yaml'), 'plugins:\n  - { plugin: static, path: ./services.yaml }\n  - { plugin: health, priority: 0, minInterval: 10ms }\n');
    const p = run(['--config', join(dir.path, 'agent.yaml')]);
    procs.push(p);
    if (checks === 'checks running') await eventually(() => requests > 0, 20_000, 'the first check run');
    else if (checks === 'the probe process still starting') await eventually(() => p.out.some((l) => l.includes('agent running')), 20_000, 'the agent to start');
    else {
      // An idle probe process sends nothing, so only its own watch on the channel ends it;
      // give it time to be up (one killed while starting ends too, so this cannot flake).
      await eventually(() => p.out.some((l) => l.includes('agent running')), 20_000, 'the agent to start');
      await new Promise((r) => setTimeout(r, 1500));
    }
    const pid = p.child.pid!;
    // Its child runs the probes: find it by its parent and its script.
    const probes = (): number[] =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('probe-process.js') && readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(pid);
          } catch {
            return false;
          }
        })
        .map(Number);
    await eventually(() => probes().length === 1, 10_000, 'the probe process');
    const [probe] = probes();
    // Gone, or a zombie waiting for whoever adopted it to reap it: either way it runs nothing.
    const ended = (): boolean => {
      try {
        return readFileSync(`/proc/${probe}/stat`, 'utf8').replace(/^.*\) /, '').startsWith('Z');
      } catch {
        return true;
      }
    };
    expect(ended()).toBe(false);
    p.child.kill(signal);
    await p.exited;
    await eventually(ended, 5000, `the probe process ${probe} to end after the agent's ${signal}`);
    await new Promise<void>((r) => target.close(() => r()));
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
