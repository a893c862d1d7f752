// An agent (memory store, static source, DNS sink, and the health checker when
// asked) in its own process, reporting once a second: CPU used, checks run and
// event-loop delay p99 and major GCs on its main thread since the last report (CPU
// includes the probe process's).
import { constants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createRegistry, silentLogger, type Plugin } from '@signpost/core';
import { healthChecker, type HealthCheckerOptions } from '@signpost/health';
import { dnsSink } from '@signpost/sink-dns';
import { staticSource } from '@signpost/source-static';
import { memoryStore } from '@signpost/store-memory';
import { firstValueFrom, filter } from 'rxjs';

const [file, expected, withHealth] = process.argv.slice(2) as [string, string, string];
const store = memoryStore();
const dns = dnsSink({ listen: '127.0.0.1:0' });
// SIGNPOST_BENCH_HEALTH: more of the checker's options, as JSON (to compare runners, say).
const health = healthChecker({ concurrency: 256, ...(JSON.parse(process.env['SIGNPOST_BENCH_HEALTH'] ?? '{}') as HealthCheckerOptions) });
const plugins: Plugin[] = [dns, staticSource({ path: file })];
if (withHealth === 'yes') plugins.push(health);
const registry = createRegistry({ store, plugins, logger: silentLogger(), node: 'bench' });
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
let cpu = process.cpuUsage();
// The probes run in their own process (the checker's default): its CPU is the agent's too.
let probeCpu = health.stats().probeCpuMs ?? 0;
let runs = health.stats().runs;
let writes = health.stats().writes;
setInterval(() => {
  const used = process.cpuUsage(cpu);
  cpu = process.cpuUsage();
  const probeNow = health.stats().probeCpuMs ?? 0;
  const now = health.stats().runs;
  const wrote = health.stats().writes;
  const cpuMs = (used.user + used.system) / 1000 + probeNow - probeCpu;
  // boosts: times so far the checker found its probes starved and moved them to a higher priority.
  process.stdout.write(`${JSON.stringify({ cpuMs, runs: now - runs, writes: wrote - writes, loopP99Ms: delay.percentile(99) / 1e6, majorGcs, majorGcMs, boosts: health.stats().boosts })}\n`);
  majorGcs = 0;
  majorGcMs = [];
  probeCpu = probeNow;
  runs = now;
  writes = wrote;
  delay.reset();
}, 1000).unref();
process.stdout.write(`ready ${dns.address()!.port}\n`);
process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
