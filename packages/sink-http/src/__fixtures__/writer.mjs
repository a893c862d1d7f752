// A Consul client fleet against the HTTP sink, in a process of its own so that a test
// can kill -9 it mid-stream:
//   node --import @signpost/testing/node/ts-register.mjs writer.mjs <dataDir> <prefix> <clients> <compactMinBytes>
// The sink runs under a real registry with its registrations log in <dataDir>. Each
// client owns its service IDs (<prefix>-c<client>-<k>): it registers them in turn with a
// new port each time, and deregisters some. Before each request it prints
// `send <id> <port|->` and after its 200 `ack <id> <port|->` (synchronous writes to the
// pipe: a line printed is a line the test reads, however the process ends), and it
// prints `step <step>` at each step of a compaction.
import { writeSync } from 'node:fs';
import { createRegistry, silentLogger } from '@signpost/core';
import { FixtureStore } from '@signpost/testing/node/fixture-store.mjs';
import { httpSink } from '../index.ts';

const say = (line) => writeSync(1, `${line}\n`);
const [dataDir, prefix, clients, compactMinBytes] = process.argv.slice(2);
const http = httpSink({ listen: '127.0.0.1:0' }, { compactMinBytes: Number(compactMinBytes), onCompactionStep: (step) => say(`step ${step}`) });
const registry = createRegistry({ store: new FixtureStore(), plugins: [http], logger: silentLogger(), dataDir, node: 'crash-node' });
await registry.start();
const base = `http://127.0.0.1:${http.address().port}`;
say(`ready ${http.address().port}`);

async function client(c) {
  const registered = new Set();
  for (let n = 0; ; n++) {
    const id = `${prefix}-c${c}-${n % 25}`;
    const drop = registered.has(id) && n % 5 === 4;
    const port = 1 + (n % 60000);
    say(`send ${id} ${drop ? '-' : port}`);
    const res = drop
      ? await fetch(`${base}/v1/agent/service/deregister/${id}`, { method: 'PUT' })
      : await fetch(`${base}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ ID: id, Name: `svc-${c}`, Port: port, Tags: ['crash-test'], Meta: { n: String(n) } }) });
    await res.text();
    if (res.status !== 200) throw new Error(`${id}: ${res.status}`);
    if (drop) registered.delete(id);
    else registered.add(id);
    say(`ack ${id} ${drop ? '-' : port}`);
  }
}

for (let c = 0; c < Number(clients); c++) void client(c).catch((err) => say(`error ${err.message}`));
