import type { Subscription } from 'rxjs';
import {
  backoffDelay,
  instanceKey,
  parseDuration,
  Type,
  validate,
  ValidationError,
  type Check,
  type CatalogEvent,
  type HealthStatus,
  type Logger,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type ServiceInstance,
  type Static,
  which,
} from '@signpost/core';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ProbeEngine, type EngineStats, type ProbeSpec } from './engine.js';
import { launchProbeProcess, type ProbePriority } from './launcher.js';
import type { FromRunner, ToRunner } from './probe-host.js';

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
    runner: Type.Optional(
      Type.Unsafe<'process' | 'worker' | 'main'>({
        type: 'string',
        enum: ['process', 'worker', 'main'],
        description: "Where the probes run: a child process (default), a worker thread, or the agent's main thread.",
      }),
    ),
    priority: Type.Optional(
      Type.Unsafe<ProbePriority>({
        anyOf: [
          { type: 'string', enum: ['idle'] },
          { type: 'integer', minimum: 0, maximum: 19 },
        ],
        description: 'CPU priority of the probes: idle (default: Linux SCHED_IDLE, only CPU nothing else wants) or a niceness 0–19.',
      }),
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
    // The schema's two branches each say what they wanted; one line says both.
    const priority = (path: readonly (string | number)[]): boolean => path.length === 1 && path[0] === 'priority';
    const issues = err.issues.filter((issue) => !priority(issue.path));
    if (issues.length < err.issues.length) issues.push({ path: ['priority'], message: `must be "idle" or a niceness, an integer from 0 to 19 (got ${JSON.stringify((input as { priority?: unknown }).priority)})` });
    throw new ValidationError(
      err.where,
      issues.map((issue) => (misplaced(issue.path) ? { path: issue.path, message: `${issue.message} (${ROUTING_HINT})` } : issue)),
    );
  }
}

export interface HealthStats {
  /** Checks this plugin runs. */
  readonly checks: number;
  /** Runs in flight now. */
  readonly running: number;
  /** Runs so far. */
  readonly runs: number;
  /** Runs that counted for nothing: the probes were not given the CPU before their deadline. */
  readonly starved: number;
  /** Results written to the catalog (only changes are). */
  readonly writes: number;
  /** With `runner: process`: CPU time the probe processes used so far, in ms. */
  readonly probeCpuMs?: number;
  /** With `runner: process`: the probe process's pid while it runs. */
  readonly probePid?: number;
  /** Times the probe process or thread ended unasked and was started again. */
  readonly restarts: number;
}

export interface HealthChecker extends Plugin {
  stats(): HealthStats;
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

type Report = (key: string, status: HealthStatus, output: string) => void;

interface ExecutorStats extends EngineStats {
  readonly cpuMs?: number;
  readonly pid?: number;
  readonly restarts: number;
}

/** Where the probes run: a child process (the default), a worker thread, or this thread. */
interface Executor {
  add(spec: ProbeSpec): void;
  observe(key: string, status: HealthStatus, output: string): void;
  remove(key: string): void;
  stop(): Promise<void>;
  stats(): ExecutorStats;
}

function inlineExecutor(concurrency: number, report: Report): Executor {
  const engine = new ProbeEngine(concurrency, report);
  return {
    add: (spec) => engine.add(spec),
    observe: (key, status, output) => engine.observe(key, status, output),
    remove: (key) => engine.remove(key),
    stop: () => engine.stop(),
    stats: () => ({ ...engine.stats(), restarts: 0 }),
  };
}

/**
 * A compiled runner script. From the built package it sits beside this file; when
 * this file runs from its TypeScript source (tests), the build's copy is used.
 */
function runnerScript(name: 'probe-worker' | 'probe-process'): URL | undefined {
  const here = new URL(import.meta.url);
  const url = here.pathname.endsWith('.ts') ? new URL(`../dist/${name}.js`, here) : new URL(`./${name}.js`, here);
  return existsSync(url) ? url : undefined;
}

/** A running probe host on the other side of a channel: a child process or a worker thread. */
interface Peer {
  send(m: ToRunner): void;
  readonly pid?: number;
  /** Ends it at once; resolves when it is gone. */
  kill(): Promise<void>;
}

type StartPeer = (onMessage: (m: FromRunner) => void, onExit: (why: string) => void) => Peer;

function workerPeer(script: URL, concurrency: number, nice: number): StartPeer {
  return (onMessage, onExit) => {
    const worker = new Worker(script, { workerData: { concurrency, nice } });
    let error = '';
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', (code) => {
        onExit(error || `exit code ${code}`);
        resolve();
      }),
    );
    worker.on('error', (err) => (error = err.message));
    worker.on('message', onMessage);
    return {
      send: (m) => worker.postMessage(m),
      kill: async () => {
        await worker.terminate();
        await exited;
      },
    };
  };
}

function processPeer(argv: readonly string[]): StartPeer {
  return (onMessage, onExit) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let gone = false;
    const exited = new Promise<void>((resolve) => {
      const end = (why: string): void => {
        if (gone) return;
        gone = true;
        onExit(why);
        resolve();
      };
      child.once('exit', (code, signal) => end(signal ? `killed by ${signal}` : `exit code ${code}`));
      // A spawn that fails (the program is missing) reports here, and may not exit.
      child.once('error', (err) => end(err.message));
    });
    child.on('message', (m: FromRunner) => onMessage(m));
    return {
      pid: child.pid,
      send: (m) => {
        if (child.connected) child.send(m);
      },
      kill: async () => {
        if (!gone) child.kill('SIGKILL');
        await exited;
      },
    };
  };
}

/** A probe host that lived this long before ending counts as healthy: the next restart waits the shortest backoff again. */
const HEALTHY_RUN_MS = 60_000;

/**
 * Drives a probe host over a channel. It keeps every check it was given, so that a
 * host that dies (a crash, the OOM killer, a stray `kill`) is started again after a
 * backoff and handed every check anew, spread over their intervals as at start-up.
 * Messages wait until the host says it is ready.
 */
function peerExecutor(start: StartPeer, logger: Logger, report: Report): Executor {
  const specs = new Map<string, ProbeSpec>();
  let peer: Peer | undefined;
  let ready = false;
  let pending: ToRunner[] = [];
  let current: EngineStats & { cpuMs?: number } = { running: 0, runs: 0, starved: 0 };
  let past = { runs: 0, starved: 0, cpuMs: 0 };
  let restarts = 0;
  let attempt = 0;
  let startedAt = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  let stopped: (() => void) | undefined;

  const send = (m: ToRunner): void => {
    if (!peer) return;
    if (ready) peer.send(m);
    else pending.push(m);
  };

  const launch = (): void => {
    ready = false;
    // Spread over their intervals again, as at start-up, rather than all at once.
    pending = [...specs.values()].map((spec) => ({ op: 'add', spec: { ...spec, firstDelayMs: Math.random() * spec.intervalMs } }));
    startedAt = performance.now();
    peer = start(
      (m) => {
        if (m.op === 'ready') {
          ready = true;
          for (const p of pending.splice(0)) peer?.send(p);
        } else if (m.op === 'result') report(m.key, m.status, m.output);
        // What a restarted host is told a check's status is comes from `observe`: the catalog's, once a result lands.
        else if (m.op === 'stats') current = m;
        else if (m.op === 'stopped') stopped?.();
      },
      (why) => {
        peer = undefined;
        past = { runs: past.runs + current.runs, starved: past.starved + current.starved, cpuMs: past.cpuMs + (current.cpuMs ?? 0) };
        current = { running: 0, runs: 0, starved: 0 };
        if (stopping) return;
        restarts++;
        attempt = performance.now() - startedAt >= HEALTHY_RUN_MS ? 1 : attempt + 1;
        const delay = backoffDelay(attempt, { initialMs: 500 });
        logger.error({ why, restartInMs: delay }, 'the health probes ended unasked; starting them again');
        restartTimer = setTimeout(launch, delay);
      },
    );
  };

  launch();
  return {
    add(spec) {
      specs.set(spec.key, spec);
      send({ op: 'add', spec });
    },
    observe(key, status, output) {
      const spec = specs.get(key);
      if (spec) specs.set(key, { ...spec, status, output });
      send({ op: 'observe', key, status, output });
    },
    remove(key) {
      specs.delete(key);
      send({ op: 'remove', key });
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const p = peer;
      if (!p) return;
      if (ready) {
        const done = new Promise<void>((resolve) => (stopped = resolve));
        p.send({ op: 'stop' });
        // In-flight probes are aborted; give the host a moment to say so, then end it either way.
        await Promise.race([done, new Promise((r) => setTimeout(r, 2000).unref())]);
      }
      await p.kill();
    },
    stats: () => ({
      running: current.running,
      runs: past.runs + current.runs,
      starved: past.starved + current.starved,
      ...(current.cpuMs !== undefined || past.cpuMs ? { cpuMs: past.cpuMs + (current.cpuMs ?? 0) } : {}),
      ...(peer?.pid !== undefined ? { pid: peer.pid } : {}),
      restarts,
    }),
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
 * The probes run in a child process at idle CPU priority (`runner: process`,
 * `priority: idle`, the defaults): thousands of connections a second then cost the
 * thread that answers DNS nothing but the results that changed, and the CPU it
 * wants is its own the moment a query arrives (see launcher.ts).
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
      executor = makeExecutor(opts, concurrency, c.logger, report);
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
      const e = executor?.stats() ?? { running: 0, runs: 0, starved: 0, restarts: 0 };
      return {
        checks: runners.size,
        running: e.running,
        runs: e.runs,
        starved: e.starved,
        writes,
        ...(e.cpuMs !== undefined ? { probeCpuMs: e.cpuMs } : {}),
        ...(e.pid !== undefined ? { probePid: e.pid } : {}),
        restarts: e.restarts,
      };
    },
  };
}

function makeExecutor(opts: HealthCheckerOptions, concurrency: number, logger: Logger, report: Report): Executor {
  const runner = opts.runner ?? 'process';
  const priority = opts.priority ?? 'idle';
  if (runner === 'main') {
    if (opts.priority !== undefined) logger.warn({ priority: opts.priority }, "priority does not apply with runner: main (the probes share the agent's thread)");
    return inlineExecutor(concurrency, report);
  }
  const script = runnerScript(runner === 'process' ? 'probe-process' : 'probe-worker');
  if (!script) {
    logger.warn({ runner }, 'the probe runner script is not built; running checks on the main thread');
    return inlineExecutor(concurrency, report);
  }
  if (runner === 'worker') {
    // A thread cannot be given SCHED_IDLE alone here (V8's GC helpers for its heap are the
    // process's), and measured so it did worse than nice 5: the lowest niceness then.
    return peerExecutor(workerPeer(script, concurrency, priority === 'idle' ? 19 : priority), logger, report);
  }
  const launch = launchProbeProcess(priority, [process.execPath, fileURLToPath(script), String(concurrency)], { platform: process.platform, find: (p) => which(p) });
  if (launch.warning) logger.warn({ priority }, launch.warning);
  return peerExecutor(processPeer(launch.argv), logger, report);
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
