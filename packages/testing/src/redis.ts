import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, tempDir } from './helpers.js';
import { which } from './programs.js';

/** A redis-server (or sentinel) of the test's own, on a free port, with nothing on disk. */
export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** SIGSTOP: the process is there but answers nothing, as a hung server or a partition. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Starts it again on the same port, after `kill()` (it comes back empty: nothing is kept on disk). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

export interface RedisProcessOptions {
  /** Extra `redis-server` arguments. */
  readonly args?: readonly string[];
  /** Start as a replica of this port. */
  readonly replicaOf?: number;
}

/** Starts `redis-server` (Debian package redis-server) and waits until it answers PING. */
export async function startRedis(options: RedisProcessOptions | readonly string[] = {}): Promise<RedisProcess> {
  const o: RedisProcessOptions = Array.isArray(options) ? { args: options as readonly string[] } : (options as RedisProcessOptions);
  const port = await freePort();
  const dir = await tempDir('signpost-redis-');
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir.path,
    ...(o.replicaOf ? ['--replicaof', '127.0.0.1', String(o.replicaOf)] : []),
    ...(o.args ?? []),
  ];
  return launch(port, args, dir);
}

export interface SentinelOptions {
  /** The primary's port (on 127.0.0.1). */
  readonly primary: number;
  /** The name the sentinel monitors it as (default mymaster). */
  readonly name?: string;
  /** Sentinels that must agree the primary is down (default 2). */
  readonly quorum?: number;
  /** How long the primary must be silent before it is down (default 1000 ms). */
  readonly downAfterMs?: number;
}

/** Starts `redis-server --sentinel` watching `primary`; a sentinel rewrites its config file, so it gets its own. */
export async function startSentinel(options: SentinelOptions): Promise<RedisProcess> {
  const port = await freePort();
  const dir = await tempDir('signpost-sentinel-');
  const name = options.name ?? 'mymaster';
  const file = join(dir.path, 'sentinel.conf');
  await writeFile(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir.path}`,
      `sentinel monitor ${name} 127.0.0.1 ${options.primary} ${options.quorum ?? 2}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  return launch(port, [file, '--sentinel'], dir);
}

// A test that times out or a worker that exits early must not leave servers behind.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

async function launch(port: number, args: readonly string[], dir: { path: string; dispose(): Promise<void> }): Promise<RedisProcess> {
  const binary = which('redis-server');
  if (!binary) throw new Error('redis-server is not on PATH (apt-get install redis-server)');
  let child: ChildProcess;
  let exited: Promise<void>;
  const run = async (): Promise<void> => {
    const c = spawn(binary, args, { stdio: 'ignore' });
    child = c;
    live.add(c);
    exited = new Promise<void>((resolve) =>
      c.once('exit', () => {
        live.delete(c);
        resolve();
      }),
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (await ping(port)) break;
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await run();
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill(signal);
    }
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => end('SIGKILL'),
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    restart: async () => {
      await end('SIGKILL');
      await run();
    },
    stop: async () => {
      await end('SIGTERM');
      await dir.dispose();
    },
  };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
