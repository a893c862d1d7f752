import { describe, expect, it } from 'vitest';
import { parseOptions } from './health-checker.js';
import { checkTiming } from './timing.js';

describe('checkTiming', () => {
  it.each<[string, { interval?: string; timeout?: string }, number, number, boolean]>([
    ['the default interval, the default timeout within it', {}, 10_000, 10_000, false],
    ['a short interval bounds the default timeout', { interval: '2s' }, 2000, 2000, false],
    ['1ns is raised to 1s, with a warning', { interval: '1ns' }, 1000, 1000, true],
    ['999ms is raised to 1s', { interval: '999ms' }, 1000, 1000, true],
    ['0s is raised to 1s', { interval: '0s' }, 1000, 1000, true],
    ['1s is kept', { interval: '1s' }, 1000, 1000, false],
    ['an explicit timeout is kept', { interval: '5s', timeout: '2s' }, 5000, 2000, false],
    ['a zero timeout is the default', { interval: '5s', timeout: '0s' }, 5000, 5000, false],
    ['a 1ns timeout is kept (the check times out; it floods nothing)', { interval: '5s', timeout: '1ns' }, 5000, 0.000001, false],
  ])('%s', (_name, definition, intervalMs, timeoutMs, warned) => {
    const t = checkTiming(definition, 10_000);
    expect([t.intervalMs, t.timeoutMs, t.raised !== undefined]).toEqual([intervalMs, timeoutMs, warned]);
  });

  it('says what it did, and takes a lower floor when one is configured', () => {
    expect(checkTiming({ interval: '1ns' }, 10_000).raised).toBe("interval 1ns is below the minimum of 1s; the check runs every 1s (as Consul's agent raises it to 1s)");
    expect(checkTiming({ interval: '30ms' }, 10_000, 1)).toEqual({ intervalMs: 30, timeoutMs: 30 });
  });
});

describe('minInterval', () => {
  it.each(['0s', '0', '500us'])('refuses a floor of %j, which would let a check run as often as asked', (value) => {
    expect(() => parseOptions({ minInterval: value })).toThrow(/minInterval: must be at least 1ms/);
  });
});
