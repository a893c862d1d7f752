import type { Subscription } from 'rxjs';
import {
  instanceKey,
  parseDuration,
  Type,
  validate,
  type Check,
  type CatalogEvent,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type ServiceInstance,
  type Static,
} from '@signpost/core';
import { httpProbe, httpRequestOptions, tcpProbe, type ProbeResult } from './probes.js';
import { applyResult, type ThresholdState } from './thresholds.js';

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
  },
  { additionalProperties: false },
);
export type HealthCheckerOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): HealthCheckerOptions {
  return validate(optionsSchema, input ?? {}, 'plugin health');
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
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** HTTP request options, prepared once. */
  readonly prepared: ReturnType<typeof httpRequestOptions> | undefined;
  state: ThresholdState;
  timer: NodeJS.Timeout | undefined;
  readonly abort: AbortController;
  stopped: boolean;
}

/**
 * Runs the catalog's HTTP and TCP checks and publishes their results. Each check
 * runs on its own interval, the first run at a random point within it so a fleet
 * registered at once is not checked in bursts; at most `concurrency` run at once.
 * A result is written only when the status or output changes, so a stable fleet
 * writes nothing and wakes no watcher. TTL checks are kept by whoever receives
 * their updates (the HTTP API).
 */
export function healthChecker(options: HealthCheckerOptions = {}): HealthChecker {
  const opts = parseOptions(options);
  const concurrency = opts.concurrency ?? 64;
  const defaultTimeoutMs = parseDuration(opts.defaultTimeout ?? '10s');
  const runners = new Map<string, Runner>();
  let ctx: PluginContext | undefined;
  let subscription: Subscription | undefined;
  let running = 0;
  let runs = 0;
  let writes = 0;
  const queue: Array<() => void> = [];
  const inflight = new Set<Promise<void>>();

  const acquire = (): Promise<void> =>
    running < concurrency ? (running++, Promise.resolve()) : new Promise<void>((resolve) => queue.push(() => (running++, resolve())));
  const release = (): void => {
    running--;
    queue.shift()?.();
  };

  // With scope "elected", only the replica holding the election runs checks.
  let leading = opts.scope !== 'elected';
  let leadership: Subscription | undefined;
  const wanted = (i: ServiceInstance): Check[] =>
    !leading || (opts.scope === 'local' && ctx && i.node !== ctx.node) ? [] : i.checks.filter((c) => c.type !== 'ttl');

  const stopRunner = (r: Runner): void => {
    r.stopped = true;
    clearTimeout(r.timer);
    r.abort.abort();
    runners.delete(r.key);
  };

  const schedule = (r: Runner, delayMs: number): void => {
    if (r.stopped) return;
    r.timer = setTimeout(() => {
      const run = execute(r).finally(() => {
        inflight.delete(run);
        schedule(r, r.intervalMs);
      });
      inflight.add(run);
    }, delayMs);
  };

  const execute = async (r: Runner): Promise<void> => {
    await acquire();
    let result: ProbeResult;
    try {
      if (r.stopped) return;
      runs++;
      result = r.check.type === 'http' ? await httpProbe(r.check.definition, r.timeoutMs, r.abort.signal, r.prepared) : await tcpProbe(r.check.definition, r.timeoutMs, r.abort.signal);
    } finally {
      release();
    }
    if (r.stopped || !ctx) return;
    r.state = applyResult(r.state, result.status, r.check.definition);
    const current = ctx.catalog.instanceByCheck(r.node, r.checkId)?.checks.find((c) => c.id === r.checkId);
    if (!current || (current.status === r.state.status && current.output === result.output)) return;
    writes++;
    await ctx.publish([{ type: 'checkStatus', node: r.node, checkId: r.checkId, status: r.state.status, output: result.output }]).catch((err: unknown) => {
      ctx?.logger.warn({ err, check: r.checkId, node: r.node }, 'could not record a check result');
    });
  };

  const ensure = (i: ServiceInstance): void => {
    for (const check of wanted(i)) {
      const key = `${i.node}\u0000${check.id}`;
      const existing = runners.get(key);
      if (existing && sameDefinition(existing.check, check)) continue;
      if (existing) stopRunner(existing);
      const intervalMs = parseDuration(check.definition.interval ?? '10s');
      const r: Runner = {
        key,
        node: i.node,
        checkId: check.id,
        check,
        intervalMs,
        timeoutMs: check.definition.timeout ? parseDuration(check.definition.timeout) : Math.min(defaultTimeoutMs, intervalMs),
        prepared: check.type === 'http' ? httpRequestOptions(check.definition) : undefined,
        state: { status: check.status, successes: 0, failures: 0 },
        timer: undefined,
        abort: new AbortController(),
        stopped: false,
      };
      runners.set(key, r);
      schedule(r, Math.random() * intervalMs);
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
      for (const r of [...runners.values()]) stopRunner(r);
      queue.splice(0).forEach((go) => go());
      await Promise.allSettled([...inflight]);
      ctx = undefined;
    },
    stats: () => ({ checks: runners.size, running, runs, writes }),
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
