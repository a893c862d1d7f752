import { describe, expect, it } from 'vitest';
import { CHECK_OUTPUT_MAX, checkOutputLimit, firstBytes, instanceHealth, worseStatus } from './health.js';
import type { HealthStatus } from './model.js';

const withStatuses = (...statuses: HealthStatus[]) => ({
  checks: statuses.map((status, n) => ({ id: `c${n}`, name: 'c', type: 'ttl' as const, definition: {}, status, output: '', notes: '' })),
});

describe('health', () => {
  it.each([
    [[], 'passing'],
    [['passing'], 'passing'],
    [['passing', 'warning'], 'warning'],
    [['warning', 'critical', 'passing'], 'critical'],
  ] as const)('checks %j → %s', (statuses, expected) => {
    expect(instanceHealth(withStatuses(...statuses))).toBe(expected);
  });

  it('orders critical > warning > passing', () => {
    expect(worseStatus('passing', 'critical')).toBe('critical');
    expect(worseStatus('warning', 'passing')).toBe('warning');
  });
});

describe('check output limits', () => {
  it.each([
    [{}, 4096],
    [{ outputMaxSize: 100 }, 100],
    // A check may lower the limit, not raise it (Consul: agent.go, `chkType.OutputMaxSize > 0 && maxOutputSize > chkType.OutputMaxSize`).
    [{ outputMaxSize: 10_000 }, 4096],
    [{ outputMaxSize: 4096 }, 4096],
  ])('%j keeps %i bytes', (definition, limit) => {
    expect(checkOutputLimit(definition)).toBe(limit);
    expect(CHECK_OUTPUT_MAX).toBe(4096);
  });

  it.each([
    ['short', 10, 'short'],
    ['abcdef', 3, 'abc'],
    // "é" is two bytes: a cut through it keeps neither half.
    ['aé', 2, 'a'],
    ['aé', 3, 'aé'],
    // "€" three bytes, "😀" four (a surrogate pair in UTF-16).
    ['€€', 5, '€'],
    ['x😀', 4, 'x'],
    ['x😀', 5, 'x😀'],
    ['', 0, ''],
  ])('firstBytes(%j, %i) is %j', (text, max, expected) => {
    expect(firstBytes(text, max)).toBe(expected);
    expect(Buffer.byteLength(firstBytes(text, max))).toBeLessThanOrEqual(max);
  });
});
