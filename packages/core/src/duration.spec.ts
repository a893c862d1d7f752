import { describe, expect, it } from 'vitest';
import { formatDuration, isDuration, parseDuration } from './duration.js';

describe('parseDuration (Go / Consul form)', () => {
  it.each([
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['300us', 0.3],
    ['0', 0],
    ['0s', 0],
    ['60000ms', 60_000],
    // Go's longest: 2^63-1 ns.
    ['2562047h', 2562047 * 3_600_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 6);
    expect(isDuration(text)).toBe(true);
  });

  it.each(['10', '1 hour', 's', '10 s', '1d', '', 'ten seconds', '5m-3s', '99999999999999999999h', '2562048h'])('rejects %j with a clear message', (text) => {
    expect(isDuration(text)).toBe(false);
    expect(() => parseDuration(text)).toThrow(/invalid duration .* Go form such as 10s/);
  });

  it.each([
    [0, '0s'],
    [500, '500ms'],
    [10_000, '10s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
