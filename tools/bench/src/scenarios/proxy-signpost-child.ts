// Signpost's proxy in its own process: memory store, static source, proxy sink.
import { createRegistry, silentLogger } from '@signpost/core';
import { proxySink } from '@signpost/sink-proxy';
import { staticSource } from '@signpost/source-static';
import { memoryStore } from '@signpost/store-memory';
import { firstValueFrom, filter } from 'rxjs';

const [file] = process.argv.slice(2) as [string];
const store = memoryStore();
const proxy = proxySink({ entrypoints: { web: '127.0.0.1:0' } });
const registry = createRegistry({ store, plugins: [proxy, staticSource({ path: file })], logger: silentLogger(), node: 'bench' });
const loaded = firstValueFrom(store.watch().pipe(filter(() => store.size >= 1)));
await registry.start();
await loaded;
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(`ready ${proxy.addresses()['web']!.port}\n`);
process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
