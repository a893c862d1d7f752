// Run in a fresh process by the store scenario, so the RSS it reports is the
// agent's own: a registry, the memory store and the static source holding the file.
import { firstValueFrom, filter } from 'rxjs';
import { createRegistry, silentLogger } from '@signpost/core';
import { staticSource } from '@signpost/source-static';
import { memoryStore } from '@signpost/store-memory';

const [file, expected] = process.argv.slice(2) as [string, string];
const rssBefore = process.memoryUsage().rss;
const store = memoryStore();
const registry = createRegistry({ store, plugins: [staticSource({ path: file, debounce: '10ms' })], logger: silentLogger(), node: 'bench' });
const loaded = firstValueFrom(store.watch().pipe(filter(() => store.size >= Number(expected))));
const t0 = performance.now();
await registry.start();
await loaded;
const loadMs = performance.now() - t0;
// Collect what loading left behind, so RSS shows what the catalog keeps.
for (let n = 0; n < 3; n++) {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 50));
}
const mem = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ loadMs, rss: mem.rss, heapUsed: mem.heapUsed, rssBefore })}\n`);
await registry.stop();
