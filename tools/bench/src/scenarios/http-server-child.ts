// The HTTP API in its own process (pinned by the parent): memory store, static
// source, HTTP sink. Prints "ready <port>" once the file is loaded.
import { createRegistry, silentLogger } from '@signpost/core';
import { httpSink } from '@signpost/sink-http';
import { staticSource } from '@signpost/source-static';
import { memoryStore } from '@signpost/store-memory';
import { firstValueFrom, filter } from 'rxjs';

const [file, expected] = process.argv.slice(2) as [string, string];
const store = memoryStore();
// Every watcher comes from this machine's one address: uncapped here, where 200 a client
// (Consul's http_max_conns_per_client, the default) would turn the 201st away.
const http = httpSink({ listen: '127.0.0.1:0', maxConnsPerClient: 0, maxConns: 0 });
const registry = createRegistry({ store, plugins: [http, staticSource({ path: file, debounce: '10ms' })], logger: silentLogger(), node: 'bench' });
const loaded = firstValueFrom(store.watch().pipe(filter(() => store.size >= Number(expected))));
await registry.start();
await loaded;
process.stdout.write(`ready ${http.address()!.port}\n`);
process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
