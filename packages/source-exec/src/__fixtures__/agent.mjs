// A stand-in agent for the tests: the exec source under a real registry, in a
// process of its own, so that a test can kill -9 it as an OOM killer would.
//   node --import ./ts-register.mjs agent.mjs <baseDir> <dataDir>
// runs <baseDir>/jobs.yaml from this package's sources, and logs JSON lines on stdout.
import { applyResult, CatalogView, createLogger, createRegistry, planBatch } from '@signpost/core';
import { execSource } from '../index.js';

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

const [baseDir, dataDir] = process.argv.slice(2);
const exec = execSource({ jobs: 'jobs.yaml', debounce: '20ms', portRange: '21000-29000' });
const registry = createRegistry({ store: new Store(), plugins: [exec], logger: createLogger({ level: 'debug' }), baseDir, dataDir, node: 'test-node' });
await registry.start();
process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
