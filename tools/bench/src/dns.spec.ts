import { describe, expect, it } from 'vitest';
import { hasProgram } from '@signpost/testing';
import { dnsScenario } from './scenarios/dns.js';

// Shape only, at a tiny scale: the figures are printed by `npm run bench -- dns`.
const tools = hasProgram('dnsperf', 'dnsperf') && hasProgram('knotd', 'knot');

describe.skipIf(!tools)('bench: dns scenario', () => {
  it('measures ours, knot and the Node ceiling side by side', async () => {
    const result = await dnsScenario({ scale: 0.1 });
    const byName = new Map(result.metrics.map((m) => [m.name, m.value]));
    expect(byName.get('answer size, A (3 records), ours')).toBe(byName.get('answer size, A (3 records), knot'));
    for (const name of ['A: knot QPS', 'A: signpost QPS', 'SRV: signpost / knot', 'store write → DNS answer, p99']) {
      expect(Number.isFinite(byName.get(name)), name).toBe(true);
    }
  }, 120_000);
});
