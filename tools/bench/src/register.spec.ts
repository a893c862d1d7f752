import { describe, expect, it } from 'vitest';
import { registerScenario } from './scenarios/register.js';

// Shape only, at a tiny scale: the figures are printed by `npm run bench -- register`.
// The agent runs in a child process from dist/: the test target builds first.
describe('bench: register scenario', () => {
  it('measures registrations/s through HTTP at each level held, the ratios and the store beside them', async () => {
    const result = await registerScenario({ scale: 0.02 });
    expect(result.parameters).toMatchObject({ levels: '0/100/1000', seconds: 1, clients: 16 });
    const names = result.metrics.map((m) => m.name);
    for (const held of ['0', '100', '1,000']) expect(names).toContain(`registrations/s via HTTP, ${held} held`);
    expect(names).toEqual(expect.arrayContaining(['rate@1,000 / rate@0', 'registrations/s via HTTP, fsync: never, 1,000 held', 'memory store upserts/s, one per apply, 1,000 held']));
    for (const m of result.metrics) expect([m.name, Number.isFinite(m.value)]).toEqual([m.name, true]);
    for (const m of result.metrics.filter((m) => m.name.startsWith('registrations/s'))) expect([m.name, m.value > 0]).toEqual([m.name, true]);
  }, 120_000);
});
