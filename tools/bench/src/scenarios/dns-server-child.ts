// The agent's DNS path in its own process (so it can be pinned to a core):
// memory store, static source, DNS sink. Prints "ready <port>" once it answers.
import { createRegistry, silentLogger } from '@signpost/core';
import { dnsSink } from '@signpost/sink-dns';
import { staticSource } from '@signpost/source-static';
import { memoryStore } from '@signpost/store-memory';
import { firstValueFrom, filter } from 'rxjs';

const [file, expected] = process.argv.slice(2) as [string, string];
const store = memoryStore();
const dns = dnsSink({ listen: '127.0.0.1:0' });
const registry = createRegistry({ store, plugins: [dns, staticSource({ path: file })], logger: silentLogger(), node: 'bench' });
const loaded = firstValueFrom(store.watch().pipe(filter(() => store.size >= Number(expected))));
await registry.start();
await loaded;
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(`ready ${dns.address()!.port}\n`);
process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
