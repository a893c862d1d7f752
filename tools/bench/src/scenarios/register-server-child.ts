// The register scenario's agent, in its own process: memory store and HTTP sink with its
// registrations log in <dataDir>, holding <preload> registrations before it starts.
//   node register-server-child.js <dataDir> <preload> <always|never>
// The preload is written through the log's own API (one append, one fsync), as if earlier
// clients had registered them. Prints `ready <port>` once it serves, and `stats <json>` when
// told to stop with SIGTERM: startMs (the registry's start: the log loaded and its
// registrations published) and the log's counters.
import { join } from 'node:path';
import { createRegistry, silentLogger } from '@signpost/core';
import { httpSink, RegistrationLog } from '@signpost/sink-http';
import { memoryStore } from '@signpost/store-memory';

const NODE = 'bench';
const [dataDir, preload, fsync] = process.argv.slice(2) as [string, string, 'always' | 'never'];
const log = await RegistrationLog.open({ dir: join(dataDir, 'http-registrations'), logger: silentLogger() });
for (let n = 0; n < Number(preload); n++) {
  const id = `held-${n}`;
  const instance = { service: `svc-${n % 1000}`, id, node: NODE, address: `10.1.${(n >> 8) & 255}.${n & 255}`, port: 20000 + (n % 40000), tags: ['traefik.enable=true', `v${n % 3}`], meta: { 'external-source': 'bench' } };
  void log.write({ op: 'set', kind: 'agent', id, reg: { instance, checks: [] } });
}
await log.close();

const http = httpSink({ listen: '127.0.0.1:0', fsync });
const registry = createRegistry({ store: memoryStore(), plugins: [http], logger: silentLogger(), node: NODE, nodeAddress: '127.0.0.1', dataDir });
const t0 = performance.now();
await registry.start();
const startMs = performance.now() - t0;
process.stdout.write(`ready ${http.address()!.port}\n`);
process.on('SIGTERM', () => {
  process.stdout.write(`stats ${JSON.stringify({ startMs, ...http.persistence() })}\n`);
  void registry.stop().then(() => process.exit(0));
});
