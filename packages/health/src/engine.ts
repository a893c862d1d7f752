import type { CheckDefinition, HealthStatus } from '@signpost/core';
import type { ProbeTls } from './check-tls.js';
import { httpProbe, httpRequestOptions, probeAgents, tcpProbe, type ProbeResult } from './probes.js';
import { applyResult, type ThresholdState } from './thresholds.js';
import { PacedSchedule } from './paced-schedule.js';

/** One check to run, as the checker hands it to the engine (plain data: it crosses to a worker thread). */
export interface ProbeSpec {
  readonly key: string;
  readonly type: 'http' | 'tcp';
  readonly definition: CheckDefinition;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** When the first run happens, from now. */
  readonly firstDelayMs: number;
  /** The check's status and output in the catalog now. */
  readonly status: HealthStatus;
  readonly output: string;
}

export interface EngineStats {
  readonly running: number;
  readonly runs: number;
  /** Runs that said nothing about their target: the prober was not given the CPU in time. */
  readonly starved: number;
}

/**
 * Makes the function that runs one check once (given at `add`, called at every run).
 * A run that resolves `undefined` leaves the check as it was (see `STARVED_AFTER_MS`).
 */
export type PrepareProbe = (spec: ProbeSpec) => (signal: AbortSignal) => Promise<ProbeResult | undefined>;

/** The real thing: an HTTP request or a TCP connection, as the spec says, HTTPS with `tls` if given. */
export function networkProbes(tls?: ProbeTls): PrepareProbe {
  const agents = probeAgents(tls);
  return (spec) => {
    if (spec.type === 'tcp') return (signal) => tcpProbe(spec.definition, spec.timeoutMs, signal, agents);
    const prepared = httpRequestOptions(spec.definition, agents);
    return (signal) => httpProbe(spec.definition, spec.timeoutMs, signal, prepared);
  };
}

interface Runner {
  readonly spec: ProbeSpec;
  readonly probe: (signal: AbortSignal) => Promise<ProbeResult | undefined>;
  state: ThresholdState;
  /** What the catalog says (or will, once our last result lands). */
  known: { status: HealthStatus; output: string };
  /** The start of the slot this check was last placed in: its runs keep to a grid from there. */
  due: number;
  running: boolean;
  readonly abort: AbortController;
  stopped: boolean;
}

/**
 * Checks started per half millisecond are capped at the fleet's rate per half
 * millisecond with 25 % to spare, rounded up: at 1,000 checks a second, one per
 * slot, and slots 80 % full so a check seldom waits for a free one. Node's timers
 * tick in whole milliseconds, so a tick on time starts two slots' worth.
 */
const slotMs = 0.5;
const headroom = 1.25;
/**
 * After a stall (start-up adding thousands of checks, a GC) the overdue checks are
 * started at most this many slots' worth per tick, twice the fleet's pace, rather
 * than all at once. Hundreds of requests in flight at once were enough for V8 to
 * decide their objects live long and allocate them in the old generation from
 * then on ("allocation-site pretenuring", `--trace-pretenuring`): every
 * scavenge then took 10–18 ms instead of 1–2, on the same core as DNS.
 */
const catchUpSlots = 4;

/**
 * Runs checks on their intervals with at most `concurrency` at once, applies
 * Consul's thresholds, and reports a result only when it differs from what the
 * catalog holds. It touches no catalog itself, so it can run on a worker thread,
 * away from the thread that answers DNS.
 *
 * Checks are started from one timer, in due order, at no more than about the
 * fleet's rate per half millisecond (see `slotMs`). One timer per check (10,000
 * of them) started checks in clumps wherever their due times fell together; the
 * bisect in the README's Metrics pointed there. A check's runs
 * keep to a grid of its interval from its first run, as the fleet stays spread
 * that way; a run that would start while the check's previous run is still going
 * is skipped, as Consul (which waits `interval` after each run) would not have
 * started it either.
 */
export class ProbeEngine {
  readonly #runners = new Map<string, Runner>();
  /** Checks per millisecond over the whole fleet. */
  #rate = 0;
  readonly #capacity = (): number => Math.max(1, Math.ceil(this.#rate * slotMs * headroom - 1e-9));
  readonly #schedule = new PacedSchedule<Runner>(slotMs, this.#capacity);
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  readonly #queue: Array<() => void> = [];
  readonly #inflight = new Set<Promise<void>>();
  #running = 0;
  #runs = 0;
  #starved = 0;
  /** The most any start was late since `takeLag` was last called, in ms. */
  #lag = 0;

  constructor(
    private readonly concurrency: number,
    private readonly report: (key: string, status: HealthStatus, output: string) => void,
    private readonly prepare: PrepareProbe = networkProbes(),
  ) {}

  get size(): number {
    return this.#runners.size;
  }

  stats(): EngineStats {
    return { running: this.#running, runs: this.#runs, starved: this.#starved };
  }

  /**
   * How late the latest start was against its slot, at most, since the last call: a
   * prober that gets too little CPU starts its checks late before it says anything
   * else (see the checker's starvation watch).
   */
  takeLag(): number {
    const lag = this.#lag;
    this.#lag = 0;
    return lag;
  }

  add(spec: ProbeSpec): void {
    this.remove(spec.key);
    const r: Runner = {
      spec,
      probe: this.prepare(spec),
      state: { status: spec.status, successes: 0, failures: 0 },
      known: { status: spec.status, output: spec.output },
      due: 0,
      running: false,
      abort: new AbortController(),
      stopped: false,
    };
    this.#runners.set(spec.key, r);
    this.#rate += 1 / spec.intervalMs;
    r.due = this.#schedule.place(r, performance.now() + spec.firstDelayMs);
    this.#arm();
  }

  /** The catalog now says this about the check (someone wrote it, or our result landed). */
  observe(key: string, status: HealthStatus, output: string): void {
    const r = this.#runners.get(key);
    if (r) r.known = { status, output };
  }

  remove(key: string): void {
    const r = this.#runners.get(key);
    if (!r) return;
    r.stopped = true;
    r.abort.abort();
    this.#runners.delete(key);
    this.#rate -= 1 / r.spec.intervalMs;
    // Its slot entry is skipped when reached; with no checks left, drop them all and the timer.
    if (this.#runners.size === 0) {
      this.#rate = 0;
      this.#schedule.clear();
      this.#arm();
    }
  }

  async stop(): Promise<void> {
    for (const key of [...this.#runners.keys()]) this.remove(key);
    this.#queue.splice(0).forEach((go) => go());
    await Promise.allSettled([...this.#inflight]);
  }

  #acquire(): Promise<void> {
    if (this.#running < this.concurrency) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#queue.push(() => (this.#running++, resolve())));
  }

  #release(): void {
    this.#running--;
    this.#queue.shift()?.();
  }

  /** Keeps the one timer set for the earliest slot with entries. */
  #arm(): void {
    const next = this.#schedule.nextDue();
    if (next === undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer && this.#timerAt <= next) return;
    clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next - performance.now()));
  }

  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    for (const r of this.#schedule.takeDue(now, catchUpSlots * this.#capacity())) {
      if (r.stopped) continue;
      if (now - r.due > this.#lag) this.#lag = now - r.due;
      if (!r.running) this.#start(r);
      // The next point on its grid still ahead (after a stall longer than an interval, skip the missed ones).
      const interval = r.spec.intervalMs;
      const next = r.due + interval * Math.max(1, Math.ceil((now - r.due) / interval));
      r.due = this.#schedule.place(r, next);
    }
    this.#arm();
  }

  #start(r: Runner): void {
    r.running = true;
    const run = this.#execute(r).finally(() => {
      r.running = false;
      this.#inflight.delete(run);
    });
    this.#inflight.add(run);
  }

  async #execute(r: Runner): Promise<void> {
    await this.#acquire();
    let result: ProbeResult | undefined;
    try {
      if (r.stopped) return;
      this.#runs++;
      result = await r.probe(r.abort.signal);
    } catch (err) {
      // The network probes answer every failure as a result; a prepared one that throws is critical too.
      result = { status: 'critical', output: err instanceof Error ? err.message : String(err) };
    } finally {
      this.#release();
    }
    if (r.stopped) return;
    if (!result) {
      this.#starved++;
      return;
    }
    r.state = applyResult(r.state, result.status, r.spec.definition);
    if (r.known.status === r.state.status && r.known.output === result.output) return;
    r.known = { status: r.state.status, output: result.output };
    this.report(r.spec.key, r.state.status, result.output);
  }
}
