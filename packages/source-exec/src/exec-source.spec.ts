import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeSourceContract, eventually, runPlugins, tempDir, type Running } from '@signpost/testing';
import { execSource, parseOptions, type ExecSource } from './index.js';

const web = fileURLToPath(new URL('./__fixtures__/web.mjs', import.meta.url));
const jobsYaml = (count: number, extra = ''): string =>
  `jobs:\n  - name: web\n    command: ${process.execPath}\n    args: [${web}]\n    count: ${count}\n    restart: { delay: 50ms, maxDelay: 200ms }\n    killTimeout: 1s\n${extra}    service:\n      name: web\n      tags: [traefik.enable=true]\n      check: { type: http, path: /health, interval: 1s }\n`;

/** Running (a zombie waiting for init to reap it counts as gone). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describeSourceContract('exec', async () => {
  const dir = await tempDir();
  await writeFile(join(dir.path, 'jobs.yaml'), jobsYaml(2));
  return { source: execSource({ jobs: 'jobs.yaml', debounce: '20ms' }), expectedInstances: 2, baseDir: dir.path, dispose: dir.dispose };
});

describe('exec source', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let run: Running | undefined;
  let exec: ExecSource;
  let file: string;
  const instances = () => run!.store.instances('web');
  const ports = (): number[] => instances().map((i) => i.port).sort();
  const ask = async (port: number): Promise<{ pid: number; port: number; index: string; label: string; greeting: string }> =>
    (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as never;

  beforeEach(async () => {
    dir = await tempDir();
    file = join(dir.path, 'jobs.yaml');
  });
  afterEach(async () => {
    await run?.stop();
    run = undefined;
    await dir.dispose();
  });
  const start = async (count: number, extra = ''): Promise<void> => {
    await writeFile(file, jobsYaml(count, extra));
    exec = execSource({ jobs: 'jobs.yaml', debounce: '20ms', portRange: '21000-29000', logDir: join(dir.path, 'logs') });
    run = await runPlugins([exec], { baseDir: dir.path });
    await eventually(() => instances().length === count, 10_000, `${count} instances`);
  };

  it('runs count instances on dynamic ports, each told its port as Nomad does, and registers them with their check', async () => {
    await start(2);
    const [a, b] = instances();
    expect(a!.port).not.toBe(b!.port);
    for (const i of instances()) {
      expect(i.port).toBeGreaterThanOrEqual(21000);
      expect(i.port).toBeLessThanOrEqual(29000);
      expect(i.address).toBe('127.0.0.1');
      expect(i.tags).toEqual(['traefik.enable=true']);
      expect(i.meta).toMatchObject({ 'external-source': 'exec', 'exec-job': 'web' });
      expect(i.checks[0]).toMatchObject({ type: 'http', status: 'critical', definition: { http: `http://127.0.0.1:${i.port}/health` } });
      await eventually(async () => (await fetch(`http://127.0.0.1:${i.port}/health`).catch(() => undefined))?.status === 200, 5000, 'the app to listen');
      const said = await ask(i.port);
      expect([said.port, said.label]).toEqual([i.port, String(i.port)]);
      expect(said.index).toBe(i.meta['exec-alloc-index']);
    }
    // Each instance's output is kept in its own log file.
    await eventually(async () => (await readFile(join(dir.path, 'logs', 'web.0.stdout.log'), 'utf8').catch(() => '')).includes('listening on'), 3000, 'the log');
  });

  it('restarts a crashed instance on a new port and the catalog follows it', async () => {
    await start(2);
    const before = ports();
    const victim = instances()[0]!;
    await eventually(async () => (await fetch(`http://127.0.0.1:${victim.port}/health`).catch(() => undefined))?.status === 200, 5000, 'the app');
    const { pid } = await ask(victim.port);
    process.kill(pid, 'SIGKILL');
    await eventually(() => !instances().some((i) => i.id === victim.id), 5000, 'the crashed instance to leave the catalog');
    await eventually(() => instances().length === 2, 5000, 'a replacement');
    const replacement = instances().find((i) => !before.includes(i.port))!;
    expect(replacement.meta['exec-alloc-index']).toBe(victim.meta['exec-alloc-index']);
    expect(replacement.id).not.toBe(victim.id);
    await eventually(async () => (await fetch(`http://127.0.0.1:${replacement.port}/health`).catch(() => undefined))?.status === 200, 5000, 'the replacement to serve');
    expect(exec.stats().restarts).toBe(1);
  });

  it('scales without touching the instances it keeps, replaces a changed job, and keeps running on a bad file', async () => {
    await start(2);
    const pids = new Set(exec.pids());
    await writeFile(file, jobsYaml(3));
    await eventually(() => instances().length === 3, 10_000, 'a third instance');
    expect(exec.pids().filter((p) => pids.has(p))).toHaveLength(2);
    await writeFile(file, jobsYaml(1));
    await eventually(() => instances().length === 1 && exec.pids().length === 1, 10_000, 'scaled down to one');
    expect(pids.has(exec.pids()[0]!)).toBe(true);
    for (const pid of pids) if (pid !== exec.pids()[0]) expect(alive(pid)).toBe(false);

    await writeFile(file, 'jobs:\n  - name: web\n    comand: x\n');
    await eventually(() => run!.logger.lines.some((l) => l.level === 'error' && String(l.fields['error']).includes('jobs[0].comand: unknown key')), 3000, 'the error');
    expect(instances()).toHaveLength(1);

    const kept = exec.pids()[0]!;
    await writeFile(file, jobsYaml(1, '    env: { GREETING: changed }\n'));
    await eventually(() => exec.pids().length === 1 && exec.pids()[0] !== kept && instances().length === 1, 10_000, 'the job replaced');
    expect(alive(kept)).toBe(false);
    const port = instances()[0]!.port;
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 200, 5000, 'the new one');
    expect((await ask(port)).greeting).toBe('changed');
  });

  it('stops everything on stop, SIGKILLing what ignores SIGTERM, and leaves no process behind', async () => {
    // Through a shell, so that the app is a grandchild: the whole process group goes.
    const jobs = `jobs:\n  - name: stubborn\n    command: /bin/sh\n    args: ["-c", "${process.execPath} ${web}"]\n    env: { IGNORE_SIGTERM: "1" }\n    count: 2\n    killTimeout: 300ms\n    service: { name: web }\n`;
    await writeFile(file, jobs);
    exec = execSource({ jobs: 'jobs.yaml', debounce: '20ms', logDir: join(dir.path, 'logs') });
    run = await runPlugins([exec], { baseDir: dir.path });
    await eventually(() => instances().length === 2, 10_000, 'two instances');
    const apps: number[] = [];
    for (const i of instances()) {
      await eventually(async () => (await fetch(`http://127.0.0.1:${i.port}/`).catch(() => undefined))?.status === 200, 5000, 'the app');
      apps.push((await ask(i.port)).pid);
    }
    const shells = exec.pids();
    const t0 = Date.now();
    await run.stop();
    const took = Date.now() - t0;
    expect(run.store.instances('web')).toEqual([]);
    run = undefined;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
    for (const pid of [...shells, ...apps]) expect(alive(pid)).toBe(false);
  });

  it('validates its options', () => {
    expect(() => parseOptions({})).toThrow(/plugin exec: jobs: is required/);
    expect(() => parseOptions({ jobs: 'j.yaml', portRange: '9-1' })).toThrow(/plugin exec: portRange: "9-1" is not a range/);
  });
});
