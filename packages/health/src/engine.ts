import type { CheckDefinition, HealthStatus } from '@signpost/core';
import { httpProbe, httpRequestOptions, tcpProbe, type ProbeResult } from './probes.js';
import { applyResult, type ThresholdState } from './thresholds.js';

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
}

interface Runner {
  readonly spec: ProbeSpec;
  readonly prepared: ReturnType<typeof httpRequestOptions> | undefined;
  state: ThresholdState;
  /** What the catalog says (or will, once our last result lands). */
  known: { status: HealthStatus; output: string };
  timer: NodeJS.Timeout | undefined;
  readonly abort: AbortController;
  stopped: boolean;
}

/**
 * Runs checks on their intervals with at most `concurrency` at once, applies
 * Consul's thresholds, and reports a result only when it differs from what the
 * catalog holds. It touches no catalog itself, so it can run on a worker thread,
 * away from the thread that answers DNS.
 */
export class ProbeEngine {
  readonly #runners = new Map<string, Runner>();
  readonly #queue: Array<() => void> = [];
  readonly #inflight = new Set<Promise<void>>();
  #running = 0;
  #runs = 0;

  constructor(
    private readonly concurrency: number,
    private readonly report: (key: string, status: HealthStatus, output: string) => void,
  ) {}

  get size(): number {
    return this.#runners.size;
  }

  stats(): EngineStats {
    return { running: this.#running, runs: this.#runs };
  }

  add(spec: ProbeSpec): void {
    this.remove(spec.key);
    const r: Runner = {
      spec,
      prepared: spec.type === 'http' ? httpRequestOptions(spec.definition) : undefined,
      state: { status: spec.status, successes: 0, failures: 0 },
      known: { status: spec.status, output: spec.output },
      timer: undefined,
      abort: new AbortController(),
      stopped: false,
    };
    this.#runners.set(spec.key, r);
    this.#schedule(r, spec.firstDelayMs);
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
    clearTimeout(r.timer);
    r.abort.abort();
    this.#runners.delete(key);
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

  #schedule(r: Runner, delayMs: number): void {
    if (r.stopped) return;
    r.timer = setTimeout(() => {
      const run = this.#execute(r).finally(() => {
        this.#inflight.delete(run);
        this.#schedule(r, r.spec.intervalMs);
      });
      this.#inflight.add(run);
    }, delayMs);
  }

  async #execute(r: Runner): Promise<void> {
    await this.#acquire();
    let result: ProbeResult;
    try {
      if (r.stopped) return;
      this.#runs++;
      const { definition, timeoutMs } = r.spec;
      result = r.spec.type === 'http' ? await httpProbe(definition, timeoutMs, r.abort.signal, r.prepared) : await tcpProbe(definition, timeoutMs, r.abort.signal);
    } finally {
      this.#release();
    }
    if (r.stopped) return;
    r.state = applyResult(r.state, result.status, r.spec.definition);
    if (r.known.status === r.state.status && r.known.output === result.output) return;
    r.known = { status: r.state.status, output: result.output };
    this.report(r.spec.key, r.state.status, result.output);
  }
}
