import { describe, expect, it } from 'vitest';
import { instanceHealth, worseStatus } from './health.js';
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
