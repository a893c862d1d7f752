import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRegistry, normalizeInstance, silentLogger, type InstanceSpec, type StoreEntry } from '@signpost/core';
import { memoryStore } from '@signpost/store-memory';
import { percentile, type Metric, type ScenarioResult } from '../report.js';
import { scratchDir } from './children.js';

export interface StoreScenarioOptions {
  /** 1 = the sizes (100,000 instances, 5,000 services); smaller for a smoke run. */
  readonly scale?: number;
}

const defaults = { node: 'bench', nodeAddress: '10.0.0.1', datacenter: 'dc1' };

/**
 * Loads a large services file through the static source into the memory store,
 * then measures raw store throughput and the delay from `apply` to a watcher.
 */
export async function storeScenario(options: StoreScenarioOptions = {}): Promise<ScenarioResult> {
  const scale = options.scale ?? 1;
  const instances = Math.max(20, Math.round(100_000 * scale));
  const services = Math.max(1, Math.round(5_000 * scale));
  const nodes = Math.max(1, Math.round(500 * scale));
  const metrics: Metric[] = [];

  // --- load from a static file ------------------------------------------------
  const scratch = await scratchDir('store');
  const dir = scratch.path;
  const file = join(dir, 'services.json');
  const nodeList = Array.from({ length: nodes }, (_, n) => ({ name: `node-${n}`, address: `10.${(n >> 8) & 255}.${n & 255}.1` }));
  const serviceList = Array.from({ length: instances }, (_, n) => ({
    name: `svc-${n % services}`,
    id: `svc-${n % services}-${n}`,
    node: `node-${n % nodes}`,
    address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    port: 20000 + (n % 40000),
    tags: ['traefik.enable=true', `v${n % 3}`],
    meta: { 'external-source': 'bench' },
  }));
  await writeFile(file, JSON.stringify({ nodes: nodeList, services: serviceList }));
  const child = await loadInChildProcess(file, instances);
  metrics.push({ name: `load ${instances.toLocaleString('en-US')} instances from file`, value: child.loadMs, unit: 'ms', aim: '< 2000' });
  metrics.push({ name: 'agent RSS with the catalog loaded', value: child.rss / 2 ** 20, unit: 'MiB', aim: '< 300' });
  metrics.push({ name: 'agent RSS before loading', value: child.rssBefore / 2 ** 20, unit: 'MiB' });
  metrics.push({ name: 'JS heap used with the catalog loaded', value: child.heapUsed / 2 ** 20, unit: 'MiB' });
  await scratch.remove();

  // --- raw store throughput -----------------------------------------------------
  const bench = memoryStore();
  await bench.start();
  const specs: InstanceSpec[] = serviceList.map((s) => normalizeInstance({ service: s.name, id: s.id, node: s.node, address: s.address, port: s.port, tags: s.tags }, 'bench', defaults));
  const entry = (i: InstanceSpec, port: number): StoreEntry => ({ source: 'bench', event: { type: 'upsert', instance: { ...i, port } } });

  const batchSize = 1000;
  let t = performance.now();
  for (let n = 0; n < specs.length; n += batchSize) await bench.apply(specs.slice(n, n + batchSize).map((i) => entry(i, i.port)));
  metrics.push({ name: `upserts/s, batches of ${batchSize}`, value: specs.length / ((performance.now() - t) / 1000), unit: '/s' });

  const singles = Math.min(specs.length, Math.max(1000, Math.round(20_000 * scale)));
  t = performance.now();
  for (let n = 0; n < singles; n++) await bench.apply([entry(specs[n]!, 1 + (n % 60000))]);
  metrics.push({ name: 'upserts/s, one per apply', value: singles / ((performance.now() - t) / 1000), unit: '/s' });

  // --- apply → watcher delay ------------------------------------------------------
  const samples = Math.max(1000, Math.round(10_000 * scale));
  const delays: number[] = [];
  let startedAt = 0;
  const sub = bench.watch().subscribe((e) => {
    if (e.type !== 'snapshot') delays.push(performance.now() - startedAt);
  });
  for (let n = 0; n < samples; n++) {
    startedAt = performance.now();
    await bench.apply([entry(specs[n % specs.length]!, 2 + (n % 60000))]);
  }
  sub.unsubscribe();
  delays.sort((a, b) => a - b);
  metrics.push({ name: 'apply → watcher delay, median', value: percentile(delays, 50) * 1000, unit: 'µs' });
  metrics.push({ name: 'apply → watcher delay, p99', value: percentile(delays, 99) * 1000, unit: 'µs', aim: '< 1000' });
  await bench.stop();

  // --- through the registry: a source publishes, a sink sees it ---------------------
  const viaStore = memoryStore();
  const published: number[] = [];
  let publishAt = 0;
  let publish: ((n: number) => Promise<unknown>) | undefined;
  const reg = createRegistry({
    store: viaStore,
    logger: silentLogger(),
    node: 'bench',
    plugins: [
      {
        name: 'probe',
        async start(ctx) {
          ctx.catalog.follow((e) => {
            if (e.type !== 'snapshot') published.push(performance.now() - publishAt);
          });
          publish = (n) => ctx.publish([{ type: 'upsert', instance: { service: 'probe', port: 1 + (n % 60000) } }]);
        },
        async stop() {
          // nothing held
        },
      },
    ],
  });
  await reg.start();
  for (let n = 0; n < samples; n++) {
    publishAt = performance.now();
    await publish!(n);
  }
  await reg.stop();
  published.sort((a, b) => a - b);
  metrics.push({ name: 'publish → sink delay (registry batching), median', value: percentile(published, 50) * 1000, unit: 'µs' });
  metrics.push({ name: 'publish → sink delay (registry batching), p99', value: percentile(published, 99) * 1000, unit: 'µs' });

  return { scenario: 'store', parameters: { instances, services, nodes, samples }, metrics };
}

interface ChildReport {
  readonly loadMs: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly rssBefore: number;
}

async function loadInChildProcess(file: string, instances: number): Promise<ChildReport> {
  const here = fileURLToPath(import.meta.url);
  // From sources (vitest) the child runs through the same TypeScript loader vitest uses is not
  // available, so the built child is used whenever it exists; the spec builds nothing.
  const built = here.replace(/\/src\/scenarios\/store\.ts$/, '/dist/scenarios/load-child.js');
  const script = here.endsWith('.js') ? here.replace(/store\.js$/, 'load-child.js') : built;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', script, file, String(instances)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
}
