// An agent (memory store, static source, DNS sink, and the health checker) in its own
// process, reporting once a second: CPU used, checks run, event-loop delay p99 and max
// (one stall of a second is one sample of some 200, under the p99), and major GCs on its
// main thread since the last report (CPU includes the probe process's),
// and whether the checker ran all that second.
//
// The checker is switched by signal, in this one process, so that the bench can
// alternate many short windows with and without checks against the same agent:
// SIGUSR1 starts a checker (a new probe process, every check handed to it, first runs
// spread over their interval, as at start-up), SIGUSR2 stops it. Each switch is
// acknowledged with a line `state on` / `state off`. The checker starts on.
import { readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createRegistry, silentLogger, type Plugin, type PluginContext } from '@signpost/core';
import { healthChecker, type HealthChecker, type HealthCheckerOptions, type HealthStats } from '@signpost/health';
import { dnsSink } from '@signpost/sink-dns';
import { staticSource } from '@signpost/source-static';
import { memoryStore } from '@signpost/store-memory';
import { firstValueFrom, filter } from 'rxjs';

const [file, expected, given] = process.argv.slice(2) as [string, string, string | undefined];
const store = memoryStore();
const dns = dnsSink({ listen: '127.0.0.1:0' });
// The checker's options beyond these, as JSON: where its probes run, and SIGNPOST_BENCH_HEALTH's.
const options: HealthCheckerOptions = { concurrency: 256, ...(JSON.parse(given ?? '{}') as HealthCheckerOptions) };

/**
 * The registry's plugin named `health`: it keeps the context the registry gave it and
 * runs a checker with it while switched on. A checker started later owns the same check
 * results (the owner is the plugin's name), so the results of the first round stay in
 * the catalog while it is off and a new checker finds them unchanged: no write.
 */
let ctx: PluginContext | undefined;
let checker: HealthChecker | undefined;
/** Counters of the checkers that have stopped, so that the totals only grow. */
const past = { runs: 0, writes: 0, probeCpuMs: 0, boosts: 0 };
const totals = (): typeof past => {
  const s: HealthStats | undefined = checker?.stats();
  return { runs: past.runs + (s?.runs ?? 0), writes: past.writes + (s?.writes ?? 0), probeCpuMs: past.probeCpuMs + (s?.probeCpuMs ?? 0), boosts: past.boosts + (s?.boosts ?? 0) };
};
const switchable: Plugin = {
  name: 'health',
  async start(c) {
    ctx = c;
    await switchTo(true);
  },
  async stop() {
    await switchTo(false);
  },
};
let switching: Promise<void> = Promise.resolve();
/** Whether the checker was switched since the last report: that second belongs to neither side. */
let switched = false;
function switchTo(on: boolean): Promise<void> {
  switching = switching.then(async () => {
    if (on && !checker && ctx) {
      switched = true;
      checker = healthChecker(options);
      await checker.start(ctx);
    } else if (!on && checker) {
      switched = true;
      const stopping = checker;
      Object.assign(past, totals());
      checker = undefined;
      await stopping.stop();
    }
  });
  return switching;
}

const registry = createRegistry({ store, plugins: [dns, staticSource({ path: file }), switchable], logger: silentLogger(), node: 'bench' });
const loaded = firstValueFrom(store.watch().pipe(filter(() => store.size >= Number(expected))));
await registry.start();
await loaded;
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
let majorGcs = 0;
/** Each major GC's duration, in ms, since the last report: a 2 ms one and a 26 ms one are not the same event. */
let majorGcMs: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
    majorGcs++;
    majorGcMs.push(Math.round(e.duration * 10) / 10);
  }
}).observe({ entryTypes: ['gc'] });
/**
 * The CPUs the probe process may run on, as the kernel has it (null while none runs): the
 * layout measured, not the one asked for. Only once the pid runs the probe script: before
 * that it is `taskset` or `chrt`, which start with the agent's CPUs and change them just
 * before they exec (one run read "0 1" for that).
 */
const probeCpus = (): string | null => {
  const pid = checker?.stats().probePid;
  if (pid === undefined) return null;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.endsWith('probe-process.js'))) return null;
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
};
let cpu = process.cpuUsage();
let last = totals();
setInterval(() => {
  const used = process.cpuUsage(cpu);
  cpu = process.cpuUsage();
  const now = totals();
  // The probes run in their own process (the checker's default): its CPU is the agent's too.
  const cpuMs = (used.user + used.system) / 1000 + now.probeCpuMs - last.probeCpuMs;
  const checking = switched ? null : checker !== undefined;
  switched = false;
  // boosts: times so far the checker found its probes starved and moved them to a higher priority.
  process.stdout.write(
    `${JSON.stringify({ cpuMs, checking, runs: now.runs - last.runs, writes: now.writes - last.writes, loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6, majorGcs, majorGcMs, boosts: now.boosts, probeCpus: probeCpus() })}\n`,
  );
  majorGcs = 0;
  majorGcMs = [];
  last = now;
  delay.reset();
}, 1000).unref();
const onSwitch = (on: boolean) => (): void => {
  void switchTo(on).then(() => {
    process.stdout.write(`state ${on ? 'on' : 'off'}\n`);
  });
};
process.on('SIGUSR1', onSwitch(true));
process.on('SIGUSR2', onSwitch(false));
process.stdout.write(`ready ${dns.address()!.port}\n`);
process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
