import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, which } from '@signpost/testing';

/**
 * Throws, naming every missing program with its Debian package, unless all of `programs`
 * (`[program, package]`) are on PATH.
 */
export function needPrograms(bench: string, programs: ReadonlyArray<readonly [string, string]>): void {
  const missing = programs.filter(([program]) => !which(program));
  if (missing.length) throw new Error(`the ${bench} bench needs ${missing.map(([p, pkg]) => `${p} (apt-get install ${pkg})`).join(', ')}`);
}

/** A child that prints `ready <port>` when it serves. */
export interface Endpoint {
  readonly port: number;
  readonly child: ChildProcess;
}

/** The built script of a scenario child (children always run from dist/). */
export function script(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url)).replace(/\/src\/scenarios\//, '/dist/scenarios/');
}

export function startChild(children: ChildProcess[], argv: string[], timeoutMs = 30_000): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not get ready`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      const m = /ready (\d+)/.exec(d.toString());
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), child });
      }
    });
    child.on('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}`)));
  });
}

/** Stops children and waits for them (SIGKILL after 3 s). */
export async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const force = setTimeout(() => c.kill('SIGKILL'), 3000);
          c.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}

/**
 * nginx (one worker, in the foreground) pinned to `core`, its files in `dir`, serving
 * `http` (the lines of its http block, given the port it listens on); ready once `/`
 * answers 2xx. `idle`: at Linux's SCHED_IDLE (util-linux `chrt`), so that whatever else
 * runs on that core takes the CPU from it the moment it wakes; set once it answers, as on
 * a busy machine (CI) an nginx started at idle did not start within 5 s.
 */
export async function startNginx(children: ChildProcess[], dir: string, core: number, http: (port: number) => string[], options: { idle?: boolean } = {}): Promise<Endpoint> {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    [
      'worker_processes 1;',
      'daemon off;',
      `pid ${join(dir, 'nginx.pid')};`,
      'error_log stderr error;',
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
      ...http(port).map((line) => `  ${line}`),
      '}',
      '',
    ].join('\n'),
  );
  const argv = ['taskset', '-c', String(core), which('nginx')!, '-c', conf, '-p', dir];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      if (res.ok) {
        // taskset execs nginx, so the child's pid is nginx's master; its worker is the master's child.
        if (options.idle) for (const pid of [child.pid!, ...childrenOf(child.pid!)]) execFileSync('chrt', ['--idle', '--all-tasks', '--pid', '0', String(pid)]);
        return { port, child };
      }
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('nginx did not answer within 30 s');
}

/** The pids whose parent is `pid`, from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the command name in parentheses, is the parent's pid.
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // it ended while we looked
    }
  }
  return out;
}

/** The scratch directories of the scenario running now. */
const scratch = new Set<string>();

/**
 * A new directory under the system's temporary one for a scenario's files, removed by
 * `remove()` when the scenario ends, or by `removeScratchSync()` when the bench is told to
 * stop (its `process.exit` skips the scenario's `finally`, which left them behind).
 */
export async function scratchDir(scenario: string): Promise<{ readonly path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `signpost-bench-${scenario}-`));
  scratch.add(path);
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true, maxRetries: 5 });
      scratch.delete(path);
    },
  };
}

/** Removes every scratch directory still there: for a bench about to exit on a signal. */
export function removeScratchSync(): void {
  for (const path of scratch) rmSync(path, { recursive: true, force: true, maxRetries: 5 });
  scratch.clear();
}
