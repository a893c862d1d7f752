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
  type Logger,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type ServiceInstance,
  type Static,
  which,
} from '@signpost/core';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCheckTls, resolveCheckTls, type CheckTlsFiles, type ProbeTls } from './check-tls.js';
import { inlineExecutor, peerExecutor, processPeer, workerPeer, type Executor, type Report, type StarvationWatch } from './executor.js';
import { formatCpus, onlineCpus, launchProbeProcess, ownCpus, parseCpuList, sharedCpusWarning, type ProbePriority } from './launcher.js';
import { checkTiming, MIN_INTERVAL_MS } from './timing.js';

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
    minInterval: Type.Optional(
      Type.String({
        format: 'duration',
        description: "Shortest interval a check runs at: a shorter one is raised to it, with a warning (default 1s, Consul's MinInterval). Lower it for tests only.",
      }),
    ),
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
    starvedAfter: Type.Optional(
      Type.String({ format: 'duration', description: 'How long the probes may go without CPU before they are given more (default 2s, at least 1s).' }),
    ),
    starvedPriority: Type.Optional(
      Type.Unsafe<number | 'none'>({
        anyOf: [
          { type: 'string', enum: ['none'] },
          { type: 'integer', minimum: 0, maximum: 19 },
        ],
        description: "The niceness the probes run at while they are starved (default 0, the agent's own), or none to leave them starved.",
      }),
    ),
    starvedHold: Type.Optional(Type.String({ format: 'duration', description: 'How long the probes keep starvedPriority before they go back to priority (default 5m, at least 1s).' })),
    cpus: Type.Optional(
      Type.String({ description: 'With runner: process, on Linux: the CPUs the probe process may run on, as taskset -c takes them ("0", "2-3", "0,2-3"); default every CPU the agent may use.' }),
    ),
    tls: Type.Optional(
      Type.Object(
        {
          caFile: Type.Optional(Type.String({ minLength: 1, description: "PEM certificates HTTPS checks trust instead of the system's roots (Consul's ca_file with enable_agent_tls_for_checks)." })),
          certFile: Type.Optional(Type.String({ minLength: 1, description: 'A PEM client certificate HTTPS checks present (Consul cert_file); needs keyFile.' })),
          keyFile: Type.Optional(Type.String({ minLength: 1, description: 'The PEM private key of certFile (Consul key_file).' })),
        },
        { additionalProperties: false, description: 'TLS for HTTPS checks, as Consul gives its checks the agent\'s TLS with enable_agent_tls_for_checks; relative paths are read from the config file\'s directory.' },
      ),
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
  let opts: HealthCheckerOptions;
  try {
    opts = validate(optionsSchema, input ?? {}, 'plugin health');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const misplaced = (path: readonly (string | number)[]): boolean => path.length === 1 && ROUTING_KEYS.has(String(path[0]));
    // The schema's two branches each say what they wanted; one line says both.
    const oneOf: Record<string, string> = {
      priority: 'must be "idle" or a niceness, an integer from 0 to 19',
      starvedPriority: 'must be "none" or a niceness, an integer from 0 to 19',
    };
    const issues = err.issues.filter((issue) => !(issue.path.length === 1 && String(issue.path[0]) in oneOf));
    for (const [key, message] of Object.entries(oneOf)) {
      if (err.issues.some((issue) => issue.path.length === 1 && issue.path[0] === key)) {
        issues.push({ path: [key], message: `${message} (got ${JSON.stringify((input as Record<string, unknown>)[key])})` });
      }
    }
    throw new ValidationError(
      err.where,
      issues.map((issue) => (misplaced(issue.path) ? { path: issue.path, message: `${issue.message} (${ROUTING_HINT})` } : issue)),
    );
  }
  // The probes beat every 500 ms: a shorter wait would call a healthy host starved.
  const short = (['starvedAfter', 'starvedHold'] as const).filter((key) => opts[key] !== undefined && parseDuration(opts[key]) < 1000);
  if (short.length > 0) throw new ValidationError('plugin health', short.map((key) => ({ path: [key], message: `must be at least 1s (got ${JSON.stringify(opts[key])})` })));
  // A floor of 0 would let "Interval":"1ns" run as asked again.
  if (opts.minInterval !== undefined && parseDuration(opts.minInterval) < 1) {
    throw new ValidationError('plugin health', [{ path: ['minInterval'], message: `must be at least 1ms (got ${JSON.stringify(opts.minInterval)})` }]);
  }
  if (opts.cpus !== undefined && !parseCpuList(opts.cpus)) {
    throw new ValidationError('plugin health', [{ path: ['cpus'], message: `must be a list of CPU numbers and ranges, as taskset -c takes it: "0", "2-3", "0,2-3" (got ${JSON.stringify(opts.cpus)})` }]);
  }
  return opts;
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
  /** With `runner: process` or `worker`: the priority the probes run at now (`starvedPriority` while they are starved). */
  readonly probePriority?: ProbePriority;
  /** Times the probes were starved and restarted at `starvedPriority`. */
  readonly boosts: number;
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
  const minIntervalMs = opts.minInterval === undefined ? MIN_INTERVAL_MS : parseDuration(opts.minInterval);
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
      const { intervalMs, timeoutMs, raised } = checkTiming(check.definition, defaultTimeoutMs, minIntervalMs);
      if (raised) ctx?.logger.warn({ check: check.id, node: i.node, service: i.service }, `check "${check.id}": ${raised}`);
      runners.set(key, { key, node: i.node, checkId: check.id, check, status: check.status, output: check.output });
      executor?.add({
        key,
        type: check.type === 'http' ? 'http' : 'tcp',
        definition: check.definition,
        intervalMs,
        timeoutMs,
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
    // Check results come from the checks this replica ran.
    ownership: 'replica',
    async start(c) {
      // Read now, so that a missing or bad file stops the start with its name rather than failing every check.
      const tlsFiles = resolveCheckTls(opts.tls ?? {}, c.baseDir);
      const tls = loadCheckTls(tlsFiles, opts.name ? `plugin ${opts.name}` : 'plugin health');
      ctx = c;
      executor = makeExecutor(opts, concurrency, c.logger, report, tlsFiles, tls);
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
      const e = executor?.stats() ?? { running: 0, runs: 0, starved: 0, restarts: 0, boosts: 0 };
      return {
        checks: runners.size,
        running: e.running,
        runs: e.runs,
        starved: e.starved,
        writes,
        ...(e.cpuMs !== undefined ? { probeCpuMs: e.cpuMs } : {}),
        ...(e.pid !== undefined ? { probePid: e.pid } : {}),
        restarts: e.restarts,
        ...(e.priority !== undefined ? { probePriority: e.priority } : {}),
        boosts: e.boosts,
      };
    },
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

/**
 * Node flags of the probe process. `--single-threaded-gc`: otherwise V8 marks and sweeps
 * the probes' heap on helper threads, and those, CPU-bound for milliseconds at a time,
 * held the agent's core while its DNS thread, woken and runnable, waited: `SCHED_IDLE`
 * did not make the kernel switch to it. Traced on 2026-11-25 (kernel 6.18's EEVDF
 * scheduler, ftrace `sched_switch`/`sched_wakeup`, the health bench's agent alone on its
 * core with the probes, 10 s windows): the agent was woken and then passed over at four
 * switches in a row while four helpers ran a whole 4 ms tick each (17 ms; DNS p99.9
 * 13 ms); the helpers' share of the agent's waits was 10–16 ms a window in two runs, 41 ms
 * in a third. With the flag the probe process's share was 0.2–4.6 ms a window (ten
 * windows); the GC work is done on the probe's own thread, in steps between its checks.
 */
const PROBE_NODE_FLAGS = ['--single-threaded-gc'];

function makeExecutor(opts: HealthCheckerOptions, concurrency: number, logger: Logger, report: Report, tlsFiles: CheckTlsFiles, tls: ProbeTls): Executor {
  const runner = opts.runner ?? 'process';
  const priority = opts.priority ?? 'idle';
  if (runner === 'main') {
    if (opts.priority !== undefined) logger.warn({ priority: opts.priority }, "priority does not apply with runner: main (the probes share the agent's thread)");
    if (opts.cpus !== undefined) logger.warn({ cpus: opts.cpus }, "cpus does not apply with runner: main (the probes share the agent's thread)");
    return inlineExecutor(concurrency, report, tls);
  }
  if (runner === 'worker' && opts.cpus !== undefined) logger.warn({ cpus: opts.cpus }, 'cpus does not apply with runner: worker (a thread shares the CPUs of its process)');
  if (runner === 'process' && opts.cpus !== undefined) {
    // A CPU that is not there is a typo, and with none there every start of the probe process would fail.
    const online = onlineCpus();
    const absent = online ? parseCpuList(opts.cpus)!.filter((n) => !online.includes(n)) : [];
    if (absent.length) {
      throw new ValidationError('plugin health', [{ path: ['cpus'], message: `no CPU ${absent.join(', ')} on this machine (online: ${formatCpus(online!)}; got ${JSON.stringify(opts.cpus)})` }]);
    }
  }
  const script = runnerScript(runner === 'process' ? 'probe-process' : 'probe-worker');
  if (!script) {
    logger.warn({ runner }, 'the probe runner script is not built; running checks on the main thread');
    return inlineExecutor(concurrency, report, tls);
  }
  // A starved checker leaves every instance as it was, whatever happens to it: while the
  // machine is that busy, the probes take their share as Consul's agent does.
  const fallback = opts.starvedPriority ?? 0;
  // Only a priority below the fallback's can be raised to it.
  const watch: StarvationWatch | undefined =
    fallback !== 'none' && (priority === 'idle' || priority > fallback)
      ? { afterMs: parseDuration(opts.starvedAfter ?? '2s'), priority: fallback, holdMs: parseDuration(opts.starvedHold ?? '5m') }
      : undefined;
  if (runner === 'worker') {
    // A thread cannot be given SCHED_IDLE alone here (V8's GC helpers for its heap are the
    // process's), and measured so it did worse than nice 5: the lowest niceness then.
    return peerExecutor((p) => workerPeer(script, concurrency, p === 'idle' ? 19 : p, tlsFiles), priority, watch, logger, report);
  }
  if (opts.cpus === undefined) {
    const own = ownCpus();
    const shared = sharedCpusWarning(own, onlineCpus());
    if (shared) logger.warn({ cpus: formatCpus(own ?? []) }, shared);
  }
  const command = [process.execPath, ...PROBE_NODE_FLAGS, fileURLToPath(script), String(concurrency), JSON.stringify(tlsFiles)];
  const host = { platform: process.platform, find: (p: string) => which(p) };
  const warning = launchProbeProcess(priority, command, host, opts.cpus).warning;
  if (warning) logger.warn({ priority, cpus: opts.cpus }, warning);
  return peerExecutor((p) => processPeer(launchProbeProcess(p, command, host, opts.cpus).argv), priority, watch, logger, report);
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
