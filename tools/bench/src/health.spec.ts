import { describe, expect, it } from 'vitest';
import { hasProgram } from '@signpost/testing';
import { healthScenario } from './scenarios/health.js';

// Shape only, at a tiny scale: the figures are printed by `npm run bench -- health`.
describe.skipIf(!hasProgram('nginx', 'nginx-light'))('bench: health scenario', () => {
  it('measures DNS latency with and without a checked fleet', async () => {
    // The probes at nice 0: at idle priority, on a machine busy with the other tests (CI
    // runs them side by side), they get no CPU in these 2 s windows and the shape is not
    // shown (seen: 0 checks run with a busy loop on each core, with the probes on core 0 and
    // with them on the agent's core alike). The figures come from full runs, at idle priority.
    process.env['SIGNPOST_BENCH_HEALTH'] = JSON.stringify({ priority: 0 });
    const result = await healthScenario({ scale: 0.05 });
    const byName = new Map(result.metrics.map((m) => [m.name, m.value]));
    expect(byName.get('checks run per second')).toBeGreaterThan(0);
    expect(byName.get('checks run per second, switched off')).toBe(0);
    expect(Number.isFinite(byName.get('DNS p99 with / without checks'))).toBe(true);
    expect(Number.isFinite(byName.get('DNS p99 with / without checks, median window'))).toBe(true);
    expect(Number.isFinite(byName.get('noise floor: DNS p99 of alternate halves, without / with checks'))).toBe(true);
    expect(byName.get('DNS queries unanswered, off / on')).toBeTypeOf('number');
    expect(result.parameters['windows']).toBe('2 × off/on');
    // The probe process ran on core 0, apart from the agent's core 1, as the kernel says.
    expect(result.parameters['probeCpusSeen']).toBe('0');
  }, 120_000);
});
