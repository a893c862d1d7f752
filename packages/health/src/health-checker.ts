import type { Subscription } from 'rxjs';
import {
  instanceKey,
  parseDuration,
  Type,
  validate,
  ValidationError,
  type Check,
  type CatalogEvent,
  type HealthStatus,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type ServiceInstance,
  type Static,
} from '@signpost/core';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { ProbeEngine, type EngineStats, type ProbeSpec } from './engine.js';
import type { FromWorker, ToWorker } from './probe-worker.js';

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Plugin name (default "health").' })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Checks running at once at most (default 64).' })),
    scope: Type.Optional(
      Type.Unsafe<'all' | 'local' | 'elected'>({
        type: 'string',
        enum: ['all', 'local', 'elected'],
        description:
          "Whose checks to run: every instance's (default); only this node's (each replica runs what was registered on it); or every instance's on the one replica that wins the election (replicas sharing a store).",
      }),
    ),
    defaultTimeout: Type.Optional(Type.String({ format: 'duration', description: 'Timeout of a check that sets none (default 10s, as Consul).' })),
    workerNice: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 19, description: 'Scheduling niceness of the probe thread relative to the agent (default 5): DNS and HTTP answers come first when the CPU is short.' }),
    ),
    thread: Type.Optional(
      Type.Unsafe<'worker' | 'main'>({ type: 'string', enum: ['worker', 'main'], description: 'Where probes run: a worker thread (default), or the main thread.' }),
    ),
  },
  { additionalProperties: false },
);
export type HealthCheckerOptions = Static<typeof optionsSchema>;

// What counts as routable is decided where instances are handed out, as in Consul (DNS
// `only_passing`, `?passing` on the health endpoints) and Traefik (`strictChecks` per
// provider): a checker that marked instances "routable" would need every sink to ask it.
// So the keys an operator may look for here point to where they live.
const ROUTING_HINT = "what counts as routable is set where instances are handed out: the proxy sink's includeWarning, the DNS sink's onlyPassing, ?passing on the HTTP API";
const ROUTING_KEYS = new Set(['includeWarning', 'onlyPassing']);

export function parseOptions(input: unknown): HealthCheckerOptions {
  try {
    return validate(optionsSchema, input ?? {}, 'plugin health');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const misplaced = (path: readonly (string | number)[]): boolean => path.length === 1 && ROUTING_KEYS.has(String(path[0]));
    throw new ValidationError(
      err.where,
      err.issues.map((issue) => (misplaced(issue.path) ? { path: issue.path, message: `${issue.message} (${ROUTING_HINT})` } : issue)),
    );
  }
}

export interface HealthChecker extends Plugin {
  /** Checks being run now, and runs so far (for tests and metrics). */
  stats(): { readonly checks: number; readonly running: number; readonly runs: number; readonly writes: number };
}

interface Runner {
  readonly key: string;
  readonly node: string;
  readonly checkId: string;
  readonly check: Check;
  /** What the engine was last told the catalog holds. */
  status: string;
  output: string;
}

/** Where the probes run: a worker thread (the default), or this thread. */
interface Executor {
  add(spec: ProbeSpec): void;
  observe(key: string, status: HealthStatus, output: string): void;
  remove(key: string): void;
  stop(): Promise<void>;
  stats(): EngineStats;
}

function inlineExecutor(concurrency: number, report: (key: string, status: HealthStatus, output: string) => void): Executor {
  const engine = new ProbeEngine(concurrency, report);
  return {
    add: (spec) => engine.add(spec),
    observe: (key, status, output) => engine.observe(key, status, output),
    remove: (key) => engine.remove(key),
    stop: () => engine.stop(),
    stats: () => engine.stats(),
  };
}

/**
 * The compiled worker script. From the built package it sits beside this file; when
 * this file runs from its TypeScript source (tests), the build's copy is used.
 */
function workerScript(): URL | undefined {
  const here = new URL(import.meta.url);
  const url = here.pathname.endsWith('.ts') ? new URL('../dist/probe-worker.js', here) : new URL('./probe-worker.js', here);
  return existsSync(url) ? url : undefined;
}

function workerExecutor(script: URL, concurrency: number, nice: number, report: (key: string, status: HealthStatus, output: string) => void): Executor {
  const worker = new Worker(script, { workerData: { concurrency, nice } });
  let stats: EngineStats = { running: 0, runs: 0 };
  let stopped: (() => void) | undefined;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: FromWorker) => {
    if (m.op === 'result') report(m.key, m.status, m.output);
    else if (m.op === 'stats') stats = { running: m.running, runs: m.runs };
    else if (m.op === 'stopped') stopped?.();
  });
  const send = (m: ToWorker): void => worker.postMessage(m);
  return {
    add: (spec) => send({ op: 'add', spec }),
    observe: (key, status, output) => send({ op: 'observe', key, status, output }),
    remove: (key) => send({ op: 'remove', key }),
    async stop() {
      const done = new Promise<void>((resolve) => (stopped = resolve));
      send({ op: 'stop' });
      // In-flight probes are aborted; give the worker a moment to say so, then end it either way.
      await Promise.race([done, new Promise((r) => setTimeout(r, 2000).unref())]);
      await worker.terminate();
      await exited;
    },
    stats: () => stats,
  };
}

/**
 * Runs the catalog's HTTP and TCP checks and publishes their results. Each check
 * runs on its own interval, the first run at a random point within it so a fleet
 * registered at once is not checked in bursts; at most `concurrency` run at once.
 * A result is written only when the status or output changes, so a stable fleet
 * writes nothing and wakes no watcher. TTL checks are kept by whoever receives
 * their updates (the HTTP API).
 *
 * The probes run on a worker thread (`thread: worker`, the default): thousands of
 * connections a second then cost the thread that answers DNS nothing but the
 * results that changed.
 */
export function healthChecker(options: HealthCheckerOptions = {}): HealthChecker {
  const opts = parseOptions(options);
  const concurrency = opts.concurrency ?? 64;
  const defaultTimeoutMs = parseDuration(opts.defaultTimeout ?? '10s');
  const runners = new Map<string, Runner>();
  let ctx: PluginContext | undefined;
  let subscription: Subscription | undefined;
  let executor: Executor | undefined;
  let writes = 0;

  // With scope "elected", only the replica holding the election runs checks.
  let leading = opts.scope !== 'elected';
  let leadership: Subscription | undefined;
  const wanted = (i: ServiceInstance): Check[] =>
    !leading || (opts.scope === 'local' && ctx && i.node !== ctx.node) ? [] : i.checks.filter((c) => c.type !== 'ttl');

  const report = (key: string, status: HealthStatus, output: string): void => {
    const r = runners.get(key);
    const c = ctx;
    if (!r || !c) return;
    const current = c.catalog.instanceByCheck(r.node, r.checkId)?.checks.find((x) => x.id === r.checkId);
    if (!current || (current.status === status && current.output === output)) return;
    writes++;
    c.publish([{ type: 'checkStatus', node: r.node, checkId: r.checkId, status, output }]).catch((err: unknown) => {
      c.logger.warn({ err, check: r.checkId, node: r.node }, 'could not record a check result');
    });
  };

  const stopRunner = (r: Runner): void => {
    runners.delete(r.key);
    executor?.remove(r.key);
  };

  const ensure = (i: ServiceInstance): void => {
    for (const check of wanted(i)) {
      const key = `${i.node}\u0000${check.id}`;
      const existing = runners.get(key);
      if (existing && sameDefinition(existing.check, check)) {
        // The catalog moved (our result landed, or someone else wrote it): the engine compares against this.
        if (existing.status !== check.status || existing.output !== check.output) {
          existing.status = check.status;
          existing.output = check.output;
          executor?.observe(key, check.status, check.output);
        }
        continue;
      }
      if (existing) stopRunner(existing);
      const intervalMs = parseDuration(check.definition.interval ?? '10s');
      runners.set(key, { key, node: i.node, checkId: check.id, check, status: check.status, output: check.output });
      executor?.add({
        key,
        type: check.type === 'http' ? 'http' : 'tcp',
        definition: check.definition,
        intervalMs,
        timeoutMs: check.definition.timeout ? parseDuration(check.definition.timeout) : Math.min(defaultTimeoutMs, intervalMs),
        firstDelayMs: Math.random() * intervalMs,
        status: check.status,
        output: check.output,
      });
    }
  };

  const drop = (i: ServiceInstance, keep: ServiceInstance | undefined): void => {
    const still = new Set(keep ? wanted(keep).map((c) => c.id) : []);
    for (const check of i.checks) {
      const r = runners.get(`${i.node}\u0000${check.id}`);
      if (r && !(keep && keep.node === i.node && still.has(check.id))) stopRunner(r);
    }
  };

  const onEvent = (event: CatalogEvent): void => {
    if (event.type === 'snapshot') {
      const present = new Set<string>();
      for (const i of event.instances) {
        ensure(i);
        for (const c of wanted(i)) present.add(`${i.node}\u0000${c.id}`);
      }
      for (const r of [...runners.values()]) if (!present.has(r.key)) stopRunner(r);
      return;
    }
    if (event.type === 'remove') return drop(event.instance, undefined);
    if (event.previous && instanceKey(event.previous) === instanceKey(event.instance)) drop(event.previous, event.instance);
    ensure(event.instance);
  };

  return {
    name: opts.name ?? 'health',
    async start(c) {
      ctx = c;
      const script = (opts.thread ?? 'worker') === 'worker' ? workerScript() : undefined;
      if ((opts.thread ?? 'worker') === 'worker' && !script) c.logger.warn('the probe worker script is not built; running checks on the main thread');
      executor = script ? workerExecutor(script, concurrency, opts.workerNice ?? 5, report) : inlineExecutor(concurrency, report);
      subscription = c.catalog.follow(onEvent);
      if (opts.scope === 'elected') {
        leadership = c.elect(opts.name ?? 'health').subscribe((lead) => {
          if (lead === leading) return;
          leading = lead;
          c.logger.info({ leading }, leading ? 'won the health election: running every check' : 'another replica runs the checks');
          if (leading) for (const i of c.catalog.allInstances()) ensure(i);
          else for (const r of [...runners.values()]) stopRunner(r);
        });
      }
    },
    async stop() {
      leadership?.unsubscribe();
      subscription?.unsubscribe();
      runners.clear();
      await executor?.stop();
      executor = undefined;
      ctx = undefined;
    },
    stats: () => {
      const e = executor?.stats() ?? { running: 0, runs: 0 };
      return { checks: runners.size, running: e.running, runs: e.runs, writes };
    },
  };
}

function sameDefinition(a: Check, b: Check): boolean {
  return a.type === b.type && JSON.stringify(a.definition) === JSON.stringify(b.definition);
}

/** Config entry: `plugins: [{ plugin: health, concurrency: 64 }]`. */
export const plugin: PluginModule<HealthCheckerOptions, Plugin> = {
  name: 'health',
  kind: 'source+sink',
  optionsSchema,
  parseOptions,
  create: healthChecker,
};
