#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { save, table, type ScenarioResult } from './report.js';
import { childrenOf, removeScratchSync } from './scenarios/children.js';
import { chaosScenario } from './scenarios/chaos.js';
import { dnsScenario } from './scenarios/dns.js';
import { healthScenario } from './scenarios/health.js';
import { httpScenario } from './scenarios/http.js';
import { proxyScenario } from './scenarios/proxy.js';
import { redisScenario } from './scenarios/redis.js';
import { registerScenario } from './scenarios/register.js';
import { storeScenario } from './scenarios/store.js';

/** Scenarios by name; later issues add theirs here. */
const scenarios: Record<string, (opts: { scale: number }) => Promise<ScenarioResult>> = {
  store: storeScenario,
  dns: dnsScenario,
  http: httpScenario,
  health: healthScenario,
  proxy: proxyScenario,
  redis: redisScenario,
  chaos: chaosScenario,
  register: registerScenario,
};

const USAGE = `Usage: npm run bench -- <scenario> [--scale <n>] [--out <dir>]
Scenarios: ${Object.keys(scenarios).join(', ')}
  --scale <n>  size multiplier (default 1 = the sizes in the issue)
  --out <dir>  where the JSON result goes (default tools/bench/results)`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { scale: { type: 'string', default: '1' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
const name = positionals[0];
const run = name ? scenarios[name] : undefined;
if (values.help || !run) {
  process.stderr.write(`${name ? `unknown scenario "${name}"\n` : ''}${USAGE}\n`);
  process.exit(values.help ? 0 : 2);
}
const scale = Number(values.scale);
if (!(scale > 0)) {
  process.stderr.write(`--scale must be a positive number, not ${JSON.stringify(values.scale)}\n`);
  process.exit(2);
}
// A scenario stops its servers and loads and removes its files when it ends, but not when
// this process is told to stop: `kill <pid>` of a run left its nginx, its yield loops and
// its agent running (a Ctrl-C reaches them anyway, as the terminal signals the whole
// process group), and its directory in /tmp.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const pid of childrenOf(process.pid)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // it ended meanwhile
      }
    }
    removeScratchSync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}
const result = await run({ scale });
process.stdout.write(`${table(result)}\n`);
const file = await save(result, values.out ?? fileURLToPath(new URL('../results', import.meta.url)));
process.stdout.write(`\nresult written to ${file}\n`);
