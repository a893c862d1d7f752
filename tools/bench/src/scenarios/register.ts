import type { ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { normalizeInstance, type StoreEntry } from '@signpost/core';
import { memoryStore } from '@signpost/store-memory';
import { percentile, type Metric, type ScenarioResult } from '../report.js';
import { scratchDir, script, startChild, stopChildren } from './children.js';
import { put } from './http.js';

export interface RegisterScenarioOptions {
  /** 1 = 0, 5,000 and 50,000 registrations held, 6 s measured at each. */
  readonly scale?: number;
}

const CLIENTS = 16;
/** Service IDs each client cycles through: the registrations held stay near the level measured. */
const IDS_PER_CLIENT = 100;

/** What the agent says when it stops: its start time and its log's counters (warm-up included). */
interface ChildStats {
  readonly startMs: number;
  readonly records: number;
  readonly writes: number;
  readonly fsyncs: number;
  readonly compactions: number;
}

interface LevelResult {
  readonly held: number;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly startMs: number;
  readonly recordsPerFsync: number;
  readonly compactions: number;
}

/**
 * Registrations/s through the real HTTP API (`PUT /v1/agent/service/register`, 16
 * clients on keep-alive connections) into an agent (memory store, HTTP sink with its
 * registrations log in a scratch directory, in a process of its own) already holding
 * 0, 5,000 and 50,000 registrations; beside them, the memory store's own upserts/s.
 * A write costs O(1) in what the agent holds when rate@50,000 / rate@0 stays near 1.
 */
export async function registerScenario(options: RegisterScenarioOptions = {}): Promise<ScenarioResult> {
  const scale = options.scale ?? 1;
  const levels = [0, 5_000, 50_000].map((n) => Math.round(n * scale));
  // SIGNPOST_BENCH_REGISTER_SECONDS: a longer window, e.g. to see a compaction at 50,000 (about every 30 MB of log there).
  const seconds = Number(process.env['SIGNPOST_BENCH_REGISTER_SECONDS'] ?? 0) || Math.max(1, Math.round(6 * scale));
  const results: LevelResult[] = [];
  for (const held of levels) results.push(await measureLevel(held, seconds, 'always'));
  const unsynced = await measureLevel(levels.at(-1)!, seconds, 'never');
  const storeRate = await storeUpserts(levels.at(-1)!, Math.max(1000, Math.round(20_000 * scale)));

  const n = (x: number): string => x.toLocaleString('en-US');
  const metrics: Metric[] = [];
  for (const r of results) {
    metrics.push({ name: `registrations/s via HTTP, ${n(r.held)} held`, value: r.rate, unit: '/s', aim: '>= 2000' });
    metrics.push({ name: `  latency p50 / p99, ${n(r.held)} held`, value: r.p50, unit: `ms / ${r.p99.toFixed(2)} ms` });
    metrics.push({ name: `  records per fsync (group commit), ${n(r.held)} held`, value: r.recordsPerFsync, unit: 'records' });
    metrics.push({ name: `  compactions during the run, ${n(r.held)} held`, value: r.compactions, unit: '' });
  }
  const [zero, mid, top] = results as [LevelResult, LevelResult, LevelResult];
  metrics.push({ name: `rate@${n(mid.held)} / rate@0`, value: mid.rate / zero.rate, unit: 'ratio' });
  metrics.push({ name: `rate@${n(top.held)} / rate@0`, value: top.rate / zero.rate, unit: 'ratio', aim: '>= 0.8' });
  metrics.push({ name: `registrations/s via HTTP, fsync: never, ${n(top.held)} held`, value: unsynced.rate, unit: '/s' });
  metrics.push({ name: '  records per write() (group commit), fsync: never', value: unsynced.recordsPerFsync, unit: 'records' });
  metrics.push({ name: `agent start with ${n(top.held)} held (load the log, publish them)`, value: top.startMs, unit: 'ms' });
  metrics.push({ name: `memory store upserts/s, one per apply, ${n(top.held)} held`, value: storeRate, unit: '/s' });
  metrics.push({ name: `HTTP registrations / store upserts, ${n(top.held)} held`, value: top.rate / storeRate, unit: 'ratio' });
  return { scenario: 'register', parameters: { levels: levels.join('/'), seconds, clients: CLIENTS, idsPerClient: IDS_PER_CLIENT, fsync: 'always, then never at the top level' }, metrics };
}

async function measureLevel(held: number, seconds: number, fsync: 'always' | 'never'): Promise<LevelResult> {
  const scratch = await scratchDir('register');
  const children: ChildProcess[] = [];
  try {
    const server = await startChild(children, [process.execPath, script('register-server-child'), scratch.path, String(held), fsync], 120_000);
    const stats = new Promise<ChildStats>((resolve) => {
      let out = '';
      server.child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /stats (.+)\n/.exec(out);
        if (m) resolve(JSON.parse(m[1]!) as ChildStats);
      });
    });
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    const run = await drive(server.port, agent, seconds);
    agent.destroy();
    await stopChildren(children);
    const s = await stats;
    // With fsync: never, records per append (there is no fsync to share).
    return { held, ...run, startMs: s.startMs, recordsPerFsync: s.records / Math.max(1, fsync === 'always' ? s.fsyncs : s.writes), compactions: s.compactions };
  } finally {
    await stopChildren(children);
    await scratch.remove();
  }
}

/** 16 clients registering back to back: warm-up for a second, then `seconds` counted. */
async function drive(port: number, agent: Agent, seconds: number): Promise<{ rate: number; p50: number; p99: number }> {
  let counting = false;
  let stop = false;
  const latencies: number[] = [];
  const client = async (c: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const id = `bench-${c}-${n % IDS_PER_CLIENT}`;
      const body = { ID: id, Name: `web-${c}`, Address: `10.2.${c}.${n % IDS_PER_CLIENT}`, Port: 1 + (n % 60_000), Tags: ['traefik.enable=true', 'v1'], Meta: { 'external-source': 'bench' } };
      const t = performance.now();
      await put(port, '/v1/agent/service/register', body, agent);
      if (counting) latencies.push(performance.now() - t);
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
  await new Promise((r) => setTimeout(r, Math.min(1000, seconds * 500)));
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(clients);
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** The memory store alone, holding `held` instances: upserts/s, one per apply. */
async function storeUpserts(held: number, count: number): Promise<number> {
  const defaults = { node: 'bench', nodeAddress: '10.0.0.1', datacenter: 'dc1' };
  const store = memoryStore();
  await store.start();
  const entry = (n: number, port: number): StoreEntry => ({
    source: 'bench',
    event: { type: 'upsert', instance: normalizeInstance({ service: `svc-${n % 1000}`, id: `held-${n}`, address: `10.1.${(n >> 8) & 255}.${n & 255}`, port, tags: ['traefik.enable=true'] }, 'bench', defaults) },
  });
  for (let n = 0; n < held; n += 1000) await store.apply(Array.from({ length: Math.min(1000, held - n) }, (_, k) => entry(n + k, 20000)));
  const entries = Array.from({ length: count }, (_, n) => entry(held + (n % (CLIENTS * IDS_PER_CLIENT)), 1 + (n % 60_000)));
  const t = performance.now();
  for (const e of entries) await store.apply([e]);
  const rate = count / ((performance.now() - t) / 1000);
  await store.stop();
  return rate;
}

