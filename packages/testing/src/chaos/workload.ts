import { createSocket } from 'node:dgram';
import { seededRandom } from '../helpers.js';
import type { Cluster, RedisTopology, ReplicaProcess } from './cluster.js';
import { checkSet, type Operation, type Outcome, type SetVerdict } from './history.js';

/*
 * The workload of the fault tests: writers register and deregister services through
 * the replicas' HTTP API and record every outcome; readers ask each replica that is
 * up, over HTTP and DNS, throughout; faults are injected as the writers progress; at
 * the end the catalog of every replica is compared with the acknowledged history.
 */

/** What is done to the cluster: a clean restart, a crash and restart of a replica, a Redis failover. */
export type FaultKind = 'restart' | 'kill' | 'failover';

export interface ChaosOptions {
  readonly cluster: Cluster;
  readonly redis: RedisTopology;
  /** Services registered in all (each a new ID). */
  readonly registrations: number;
  /** Concurrent writers, each bound to one replica as an agent's clients are. */
  readonly writers: number;
  /** Every this many operations a writer deregisters one of its services (0: never). */
  readonly removeEvery: number;
  /** Injected in order, spread evenly over the writers' progress; a replica fault takes the next replica in turn. */
  readonly faults: readonly FaultKind[];
  /** A request slower than this is abandoned and counted as timed out (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** How long the replicas may take to agree after the last fault (default 60 s). */
  readonly convergeTimeoutMs?: number;
  readonly seed?: number;
  /** Called with each fault as it starts (progress output). */
  readonly onFault?: (what: string) => void;
}

export interface ChaosReport {
  readonly verdict: SetVerdict;
  /** The faults, as done: `kill r2`, `failover 6379→6380`. */
  readonly faults: readonly string[];
  /** From the end of the last fault (or the last write, if later) until every replica held the same, checked set. */
  readonly convergeMs: number;
  /** Reads of replicas that were up throughout the read. */
  readonly reads: number;
  /** Of them, failed (an error, a status other than 200, no DNS answer): must be 0. */
  readonly failedReads: readonly string[];
  /** Whether every replica ended with the same catalog. */
  readonly agreed: boolean;
  readonly durationMs: number;
}

const SERVICE = 'chaos';

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const replicas = options.cluster.replicas;
  const timeoutMs = options.requestTimeoutMs ?? 5000;
  const random = seededRandom(options.seed ?? 1);
  const history: Operation[] = [];
  const faults: string[] = [];
  const failedReads: string[] = [];
  let reads = 0;
  let added = 0;
  let lastEvent = 0;
  const started = Date.now();

  // --- writers ---------------------------------------------------------------
  const perWriter = Math.ceil(options.registrations / options.writers);
  const writer = async (w: number): Promise<void> => {
    const replica = replicas[w % replicas.length]!;
    const mine: string[] = [];
    let ops = 0;
    for (let n = 0; n < perWriter && w * perWriter + n < options.registrations; ops++) {
      while (!replica.up) await pause(20);
      if (options.removeEvery > 0 && ops % options.removeEvery === options.removeEvery - 1 && mine.length) {
        const id = mine.splice(Math.floor(random() * mine.length), 1)[0]!;
        const outcome = await send(replica, 'PUT', `/v1/agent/service/deregister/${id}`, undefined, timeoutMs);
        history.push({ kind: 'remove', key: `${replica.node}/${id}`, outcome });
        if (outcome !== 'ok') await pause(100);
      } else {
        const id = `w${w}-${n++}`;
        const outcome = await send(replica, 'PUT', '/v1/agent/service/register', { Name: SERVICE, ID: id, Address: '127.0.0.1', Port: 1024 + (added % 60000) }, timeoutMs);
        added++;
        history.push({ kind: 'add', key: `${replica.node}/${id}`, outcome });
        if (outcome === 'ok') mine.push(id);
        // As a client would: a refused write is retried after a pause, not hammered (the next ID, though,
        // so that the history stays one operation per outcome).
        else await pause(100);
      }
    }
    lastEvent = Math.max(lastEvent, Date.now());
  };

  // --- readers: every replica that is up, over HTTP and DNS, about every 100 ms ---
  let reading = true;
  const reader = async (replica: ReplicaProcess): Promise<void> => {
    while (reading) {
      const life = replica.life;
      if (replica.up) {
        const [http, dns] = await Promise.all([readHttp(replica, timeoutMs), readDns(replica.dns, timeoutMs)]);
        // Only a read the replica was up for from start to end counts: a fault may cut one short.
        if (replica.up && replica.life === life) {
          reads += 2;
          if (http) failedReads.push(`${replica.node} http: ${http}`);
          if (dns) failedReads.push(`${replica.node} dns: ${dns}`);
        }
      }
      await pause(100);
    }
  };

  // --- faults, as the writers progress ------------------------------------------
  const injector = async (): Promise<void> => {
    let next = 0;
    for (const [k, kind] of options.faults.entries()) {
      const due = Math.floor(((k + 1) * options.registrations) / (options.faults.length + 1));
      while (added < due) await pause(20);
      if (kind === 'failover') {
        if (!options.redis.failover) throw new Error('a failover needs a Redis topology with Sentinels');
        options.onFault?.('failover of the redis primary');
        const { from, to } = await options.redis.failover();
        faults.push(`failover ${from}→${to}`);
      } else {
        const replica = replicas[next++ % replicas.length]!;
        options.onFault?.(`${kind} ${replica.node}`);
        if (kind === 'kill') await replica.kill();
        else await replica.stop();
        await replica.start();
        faults.push(`${kind} ${replica.node}`);
      }
      lastEvent = Math.max(lastEvent, Date.now());
    }
  };

  const readers = replicas.map((r) => reader(r));
  try {
    await Promise.all([injector(), ...Array.from({ length: options.writers }, (_, w) => writer(w))]);
  } finally {
    reading = false;
    await Promise.all(readers);
  }

  // --- the end state ---------------------------------------------------------------
  const deadline = Date.now() + (options.convergeTimeoutMs ?? 60_000);
  let verdict: SetVerdict;
  let agreed = false;
  for (;;) {
    const sets = await Promise.all(replicas.map((r) => catalogSet(r, timeoutMs).catch(() => undefined)));
    const first = sets[0];
    agreed = !!first && sets.every((s) => s && s.size === first.size && [...s].every((k) => first.has(k)));
    verdict = checkSet(history, first ?? new Set());
    const clean = verdict.lost.length === 0 && verdict.undone.length === 0 && verdict.unexpected.length === 0;
    if ((agreed && clean) || Date.now() > deadline) break;
    await pause(100);
  }
  return { verdict, faults, convergeMs: Math.max(0, Date.now() - lastEvent), reads, failedReads, agreed, durationMs: Date.now() - started };
}

/** The lines a test or the bench prints. */
export function formatChaosReport(report: ChaosReport): string {
  const v = report.verdict;
  return [
    `operations ${v.operations} (acknowledged: ${v.acknowledgedAdds} registrations, ${v.acknowledgedRemoves} deregistrations; refused or timed out: ${v.indeterminate}, which may go either way: ${v.eitherWay} did)`,
    `faults injected ${report.faults.length}: ${report.faults.join(', ') || 'none'}`,
    `acknowledged writes lost ${v.lost.length}${v.lost.length ? ` (${v.lost.slice(0, 10).join(', ')})` : ''}`,
    `acknowledged removals undone ${v.undone.length}${v.undone.length ? ` (${v.undone.slice(0, 10).join(', ')})` : ''}`,
    `present though never written ${v.unexpected.length}`,
    `replicas agree ${report.agreed ? 'yes' : 'NO'}; converged ${report.convergeMs} ms after the last fault or write`,
    `reads of replicas that were up ${report.reads}, failed ${report.failedReads.length}${report.failedReads.length ? ` (${report.failedReads.slice(0, 5).join('; ')})` : ''}`,
    `took ${(report.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}

async function send(replica: ReplicaProcess, method: string, path: string, body: unknown, timeoutMs: number): Promise<Outcome> {
  try {
    const res = await fetch(`http://127.0.0.1:${replica.http}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.status === 200 ? 'ok' : 'failed';
  } catch (err) {
    // Refused before anything was sent: nothing happened. Anything else may have been applied.
    return connectionRefused(err) ? 'failed' : 'unknown';
  }
}

function connectionRefused(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
  }
  return false;
}

/** Undefined when the read succeeded, else why it failed. */
async function readHttp(replica: ReplicaProcess, timeoutMs: number): Promise<string | undefined> {
  const once = async (): Promise<string | undefined> => {
    const res = await fetch(`http://127.0.0.1:${replica.http}/v1/catalog/service/${SERVICE}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    if (res.status !== 200) return `status ${res.status}: ${body.slice(0, 100)}`;
    if (!Array.isArray(JSON.parse(body))) return 'not a JSON array';
    return undefined;
  };
  try {
    return await once();
  } catch (err) {
    // A kept-alive connection the server closed as it was reused fails without the server
    // having refused anything; a client retries a GET on a fresh one, and so does this.
    if (!staleConnection(err)) return describe(err);
    try {
      return await once();
    } catch (again) {
      return describe(again);
    }
  }
}

function staleConnection(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  }
  return false;
}

function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(': ') || String(err);
}

/** Every registration a replica's catalog holds, as `node/id`. */
async function catalogSet(replica: ReplicaProcess, timeoutMs: number): Promise<Set<string>> {
  const res = await fetch(`http://127.0.0.1:${replica.http}/v1/catalog/service/${SERVICE}`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  const entries = (await res.json()) as Array<{ Node: string; ServiceID: string }>;
  return new Set(entries.map((e) => `${e.Node}/${e.ServiceID}`));
}

/** One A question for the service over UDP: undefined on any answer (NXDOMAIN included), else why none came. */
function readDns(port: number, timeoutMs: number): Promise<string | undefined> {
  const name = `${SERVICE}.service.consul`;
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const id = Math.floor(Math.random() * 65536);
  const query = Buffer.concat([Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const done = (why: string | undefined): void => {
      clearTimeout(timer);
      socket.close();
      resolve(why);
    };
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.on('error', (err) => done(err.message));
    socket.on('message', (msg) => {
      if (msg.readUInt16BE(0) !== id) return;
      const rcode = msg[3]! & 0x0f;
      done(rcode === 0 || rcode === 3 ? undefined : `rcode ${rcode}`);
    });
    socket.send(query, port, '127.0.0.1');
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
