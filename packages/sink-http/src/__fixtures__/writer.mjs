// A Consul client fleet against the HTTP sink, in a process of its own so that a test
// can kill -9 it mid-stream:
//   node --import ./register-ts.mjs writer.mjs <dataDir> <prefix> <clients> <compactMinBytes>
// The sink runs under a real registry with its registrations log in <dataDir>. Each
// client owns its service IDs (<prefix>-c<client>-<k>): it registers them in turn with a
// new port each time, and deregisters some. Before each request it prints
// `send <id> <port|->` and after its 200 `ack <id> <port|->` (synchronous writes to the
// pipe: a line printed is a line the test reads, however the process ends), and it
// prints `step <step>` at each step of a compaction.
import { writeSync } from 'node:fs';
import { applyResult, CatalogView, createRegistry, planBatch, silentLogger } from '@signpost/core';
import { httpSink } from '../index.ts';

/** The memory store's behaviour in a few lines (a plugin's fixtures depend on core only). */
class Store extends CatalogView {
  name = 'fixture';
  async start() {}
  async stop() {
    this.close();
  }
  async apply(entries) {
    const index = this.index + 1;
    const plan = planBatch(this, entries, index);
    if (plan.changes.length) this.commit(index, plan.changes);
    return applyResult(plan.changes.length ? index : this.index, plan);
  }
}

const say = (line) => writeSync(1, `${line}\n`);
const [dataDir, prefix, clients, compactMinBytes] = process.argv.slice(2);
const http = httpSink({ listen: '127.0.0.1:0' }, { compactMinBytes: Number(compactMinBytes), onCompactionStep: (step) => say(`step ${step}`) });
const registry = createRegistry({ store: new Store(), plugins: [http], logger: silentLogger(), dataDir, node: 'crash-node' });
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
