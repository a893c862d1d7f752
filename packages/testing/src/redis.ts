import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, tempDir } from './helpers.js';
import { which } from './programs.js';

/** A redis-server of the test's own, on a free port, with nothing on disk. */
export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/** Starts `redis-server` (Debian package redis-server) and waits until it answers PING. */
export async function startRedis(extraArgs: readonly string[] = []): Promise<RedisProcess> {
  const binary = which('redis-server');
  if (!binary) throw new Error('redis-server is not on PATH (apt-get install redis-server)');
  const port = await freePort();
  const dir = await tempDir('signpost-redis-');
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path, ...extraArgs], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await ping(port)) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => end('SIGKILL'),
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
