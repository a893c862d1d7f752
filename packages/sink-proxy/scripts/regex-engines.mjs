// Measures the regexp engines a tag's patterns could run on, on the proxy's hot path:
// finding the router for a request in a table of 20 routers whose rules use HostRegexp
// and PathRegexp (what route() does per request), plus one pathological pattern.
//
//   node packages/sink-proxy/scripts/regex-engines.mjs
//
// re2js is this package's dependency. The native `re2` binding is not (see the README);
// to compare it, install it elsewhere and point RE2_NATIVE at it, e.g.
//   (cd /tmp/re2 && npm_config_nodedir=$(dirname $(dirname $(readlink -f $(which node)))) npm install re2)
//   RE2_NATIVE=/tmp/re2/node_modules/re2/re2.js node packages/sink-proxy/scripts/regex-engines.mjs
import { RE2JS } from 're2js';

const engines = { 'RegExp (backtracking)': (p, i) => { const r = new RegExp(p, i ? 'i' : ''); return (s) => r.test(s); }, re2js: (p, i) => { const r = RE2JS.compile(p, i ? RE2JS.CASE_INSENSITIVE : 0); return (s) => r.test(s); } };
if (process.env.RE2_NATIVE) {
  const RE2 = (await import(process.env.RE2_NATIVE)).default;
  engines['re2 (native)'] = (p, i) => { const r = new RE2(p, i ? 'i' : ''); return (s) => r.test(s); };
}

const table = Array.from({ length: 20 }, (_, n) => ({ host: `^svc${n}\\.example\\.com$`, path: `^/api/v[0-9]+/svc${n}/[a-z0-9-]+$` }));
const requests = Array.from({ length: 64 }, (_, n) => ({ host: `svc${n % 25}.example.com`, path: `/api/v${n % 3}/svc${n % 25}/item-${n}` }));
const N = 100_000;

for (const [name, compile] of Object.entries(engines)) {
  const routers = table.map((r) => ({ host: compile(r.host, true), path: compile(r.path, false) }));
  const route = (q) => routers.findIndex((r) => r.host(q.host) && r.path(q.path));
  for (let i = 0; i < 20_000; i++) route(requests[i % requests.length]);
  const t0 = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < N; i++) if (route(requests[i % requests.length]) >= 0) hits++;
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / N;
  console.log(`${name.padEnd(22)} ${us.toFixed(2)} µs per routed request (20 routers, ${hits} of ${N} matched)`);
}
for (const [name, compile] of Object.entries(engines)) {
  if (name.startsWith('RegExp')) continue;
  const test = compile('^/(a+)+$', false);
  for (const n of [29, 1_000, 10_000]) {
    const input = `/${'a'.repeat(n)}!`;
    test(input);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10; i++) test(input);
    console.log(`${name.padEnd(22)} ^/(a+)+$ against /a{${n}}!: ${(Number(process.hrtime.bigint() - t0) / 1e4).toFixed(0)} µs`);
  }
}
