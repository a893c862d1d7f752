import { describe, expect, it } from 'vitest';
import { hasProgram } from '@signpost/testing';
import { httpScenario } from './scenarios/http.js';

// Shape only, at a tiny scale: the figures are printed by `npm run bench -- http`.
describe.skipIf(!hasProgram('wrk', 'wrk'))('bench: http scenario', () => {
  it('measures ours against bare fastify, and wakes only the changed service’s watchers', async () => {
    const result = await httpScenario({ scale: 0.1 });
    const byName = new Map(result.metrics.map((m) => [m.name, m.value]));
    expect(Number.isFinite(byName.get('signpost / bare fastify'))).toBe(true);
    expect(byName.get('watchers of other services that woke')).toBe(0);
    expect(byName.get('watchers of svc-50 that woke')).toBe(10);
  }, 120_000);
});
