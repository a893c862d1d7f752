import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { freePort, tempDir } from '../helpers.js';
import { startRedis, startSentinel, type RedisProcess } from '../redis.js';

/*
 * Real processes for fault tests: registry replicas (the built apps/registry) on
 * one Redis, standalone or a primary with replicas behind Sentinels.
 */

/** Where the catalog lives: one redis-server, or a primary, its replicas and Sentinels. */
export interface RedisTopology {
  /** What a replica's `store:` says, less its key prefix and lease. */
  readonly store: Readonly<Record<string, unknown>>;
  /** The redis-servers holding data (primary first, as started). */
  readonly servers: readonly RedisProcess[];
  /** SIGKILLs the current primary, waits until the Sentinels promoted another, starts the old one again. */
  failover?(): Promise<{ from: number; to: number }>;
  stop(): Promise<void>;
}

/** One redis-server with nothing on disk. */
export async function standaloneRedis(): Promise<RedisTopology> {
  const redis = await startRedis();
  return { store: { url: redis.url }, servers: [redis], stop: () => redis.stop() };
}

/**
 * A primary, `replicas` replicas and three Sentinels (quorum 2). Writes wait for
 * `waitReplicas` replicas, so a failover keeps what was acknowledged.
 */
export async function sentinelRedis(options: { replicas?: number; waitReplicas?: number; name?: string } = {}): Promise<RedisTopology> {
  const name = options.name ?? 'chaos';
  const primary = await startRedis();
  const servers: RedisProcess[] = [primary];
  const sentinels: RedisProcess[] = [];
  try {
    for (let n = 0; n < (options.replicas ?? 2); n++) servers.push(await startRedis({ replicaOf: primary.port }));
    for (let n = 0; n < 3; n++) sentinels.push(await startSentinel({ primary: primary.port, name, quorum: 2, downAfterMs: 1000 }));
  } catch (err) {
    for (const p of [...sentinels, ...servers]) await p.stop();
    throw err;
  }
  const primaryPort = async (): Promise<number | undefined> => {
    for (const s of sentinels) {
      const reply = await redisCommand(s.port, ['SENTINEL', 'get-master-addr-by-name', name]).catch(() => undefined);
      const port = Array.isArray(reply) ? Number(reply[1]) : NaN;
      if (port > 0) return port;
    }
    return undefined;
  };
  const linked = async (port: number): Promise<boolean> => {
    const role = await redisCommand(port, ['ROLE']).catch(() => undefined);
    return Array.isArray(role) && role[0] === 'slave' && role[3] === 'connected';
  };
  // Until the replicas are in sync, no write can reach one (WAIT answers 0).
  await waitUntil(async () => (await Promise.all(servers.slice(1).map((r) => linked(r.port)))).every(Boolean), 30_000, 'the replicas to sync');
  // Until every Sentinel knows every replica, a failover may find none to promote.
  await waitUntil(async () => {
    for (const s of sentinels) {
      const reply = await redisCommand(s.port, ['SENTINEL', 'replicas', name]).catch(() => []);
      if (!Array.isArray(reply) || reply.length < servers.length - 1) return false;
    }
    return true;
  }, 30_000, 'the sentinels to know every replica');
  return {
    store: { sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`), name, waitReplicas: options.waitReplicas ?? 1 },
    servers,
    async failover() {
      const from = await primaryPort();
      const victim = servers.find((s) => s.port === from);
      if (!victim) throw new Error(`the sentinels name no primary of ours (${from})`);
      await victim.kill();
      let to: number | undefined;
      await waitUntil(async () => {
        to = await primaryPort();
        return to !== undefined && to !== from;
      }, 60_000, 'the sentinels to promote a replica');
      // It comes back empty; the Sentinels make it a replica of the new primary.
      await victim.restart();
      await waitUntil(() => linked(victim.port), 60_000, 'the old primary to rejoin as a replica');
      return { from: from!, to: to! };
    },
    async stop() {
      for (const p of [...sentinels, ...servers]) await p.stop();
    },
  };
}

export interface ReplicaProcess {
  readonly node: string;
  readonly http: number;
  readonly dns: number;
  /** Every line it printed, this life and the ones before. */
  readonly out: string[];
  /** False from the moment a fault is aimed at it until its next life is running. */
  readonly up: boolean;
  /** Counts its lives: a read that spans two lives spans a fault. */
  readonly life: number;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data directory; resolves once it runs. */
  start(): Promise<void>;
}

export interface Cluster {
  readonly replicas: readonly ReplicaProcess[];
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** The built registry app (`apps/registry/dist/main.js`). */
  readonly main: string;
  readonly redis: RedisTopology;
  readonly replicas: number;
  /** How long what a replica registered outlives it (default 10s). */
  readonly leaseTtl?: string;
  /** Added to every replica's config (plugins beyond http and dns, etc.). */
  readonly keyPrefix?: string;
}

/** Starts `replicas` registry replicas, `r1`…, each with its own ports and data directory. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = await tempDir('signpost-cluster-');
  const keyPrefix = options.keyPrefix ?? `cluster-${Date.now()}:`;
  const replicas: Replica[] = [];
  try {
    for (let n = 1; n <= options.replicas; n++) {
      const node = `r${n}`;
      const [http, dns] = [await freePort(), await freePort()];
      const data = join(dir.path, node);
      await mkdir(data, { recursive: true });
      const config = join(data, 'registry.yaml');
      // JSON is YAML: the app's own loader reads it, as an operator's file.
      await writeFile(
        config,
        JSON.stringify({
          node,
          nodeAddress: '127.0.0.1',
          dataDir: data,
          log: { level: 'info' },
          store: { plugin: 'redis', keyPrefix, leaseTtl: options.leaseTtl ?? '10s', ...options.redis.store },
          plugins: [
            { plugin: 'http', listen: `127.0.0.1:${http}` },
            { plugin: 'dns', listen: `127.0.0.1:${dns}` },
          ],
        }),
      );
      const replica = new Replica(node, http, dns, options.main, config);
      replicas.push(replica);
      await replica.start();
    }
  } catch (err) {
    for (const r of replicas) await r.kill();
    await dir.dispose();
    throw err;
  }
  return {
    replicas,
    async stop() {
      for (const r of replicas) await r.stop();
      await dir.dispose();
    },
  };
}

class Replica implements ReplicaProcess {
  readonly out: string[] = [];
  up = false;
  life = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(
    readonly node: string,
    readonly http: number,
    readonly dns: number,
    private readonly main: string,
    private readonly config: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [this.main, '--config', this.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    live.add(child);
    this.#exited = new Promise((resolve) =>
      child.once('exit', () => {
        live.delete(child);
        resolve();
      }),
    );
    let running = false;
    const collect = (d: Buffer): void => {
      const lines = d.toString().split('\n').filter(Boolean);
      if (lines.some((l) => l.includes('registry replica running'))) running = true;
      // Bounded: a long chaos run must not grow without end.
      this.out.push(...lines);
      if (this.out.length > 5000) this.out.splice(0, this.out.length - 5000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    await waitUntil(
      () => {
        if (child.exitCode !== null) throw new Error(`replica ${this.node} exited (${child.exitCode}) while starting:\n${this.out.slice(-20).join('\n')}`);
        return running;
      },
      60_000,
      `replica ${this.node} to run`,
    );
    this.life++;
    this.up = true;
  }

  async stop(): Promise<void> {
    await this.#end('SIGTERM');
  }

  async kill(): Promise<void> {
    await this.#end('SIGKILL');
  }

  async #end(signal: NodeJS.Signals): Promise<void> {
    this.up = false;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    await this.#exited;
  }
}

// A test that times out must not leave replicas behind.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Polls `predicate` every 50 ms until it holds; a predicate that throws ends the wait with its error. */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Reply = string | number | null | Reply[];

/** One command to a redis-server or Sentinel over RESP, without a client library (testing has none). */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 2000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from 127.0.0.1:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (d) => {
      buffer = Buffer.concat([buffer, d]);
      const parsed = parseReply(buffer, 0);
      if (!parsed) return;
      clearTimeout(timer);
      socket.destroy();
      if (parsed.error) reject(new Error(parsed.error));
      else resolve(parsed.value);
    });
    socket.connect(port, '127.0.0.1', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
  });
}

function parseReply(b: Buffer, at: number): { value: Reply; end: number; error?: string } | undefined {
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = b.toString('utf8', at + 1, eol);
  switch (String.fromCharCode(b[at]!)) {
    case '+':
      return { value: line, end: eol + 2 };
    case '-':
      return { value: null, end: eol + 2, error: line };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: eol + 2 };
      if (b.length < eol + 2 + len + 2) return undefined;
      return { value: b.toString('utf8', eol + 2, eol + 2 + len), end: eol + 2 + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: eol + 2 };
      const items: Reply[] = [];
      let end = eol + 2;
      for (let n = 0; n < count; n++) {
        const item = parseReply(b, end);
        if (!item) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP reply: ${JSON.stringify(b.toString('utf8', at, Math.min(b.length, at + 40)))}`);
  }
}
