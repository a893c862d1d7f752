// A stand-in agent for the tests: the exec source under a real registry, in a
// process of its own, so that a test can kill -9 it as an OOM killer would.
//   node --import @signpost/testing/node/ts-register.mjs agent.mjs <baseDir> <dataDir>
// runs <baseDir>/jobs.yaml from this package's sources, and logs JSON lines on stdout.
import { createLogger, createRegistry } from '@signpost/core';
import { FixtureStore } from '@signpost/testing/node/fixture-store.mjs';
import { execSource } from '../index.js';

const [baseDir, dataDir] = process.argv.slice(2);
const exec = execSource({ jobs: 'jobs.yaml', debounce: '20ms', portRange: '21000-29000' });
const registry = createRegistry({ store: new FixtureStore(), plugins: [exec], logger: createLogger({ level: 'debug' }), baseDir, dataDir, node: 'test-node' });
await registry.start();
process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
