import { describe, expect, it } from 'vitest';
import { hasProgram } from '@signpost/testing';
import { proxyScenario } from './scenarios/proxy.js';

// Shape only, at a tiny scale: the figures are printed by `npm run bench -- proxy`.
const tools = hasProgram('wrk', 'wrk') && hasProgram('nginx', 'nginx-light');

describe.skipIf(!tools)('bench: proxy scenario', () => {
  it('measures Signpost, a bare http-proxy, nginx and direct side by side', async () => {
    const result = await proxyScenario({ scale: 0.1 });
    const byName = new Map(result.metrics.map((m) => [m.name, m.value]));
    for (const name of ['direct: req/s', 'http-proxy: req/s', 'signpost: req/s', 'nginx: req/s']) expect(byName.get(name), name).toBeGreaterThan(0);
  }, 120_000);
});
