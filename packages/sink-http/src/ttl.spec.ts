import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PluginContext, SourceEvent } from '@signpost/core';
import { MAX_TIMER_MS, TtlTimers, ttlExpiredOutput, ttlOutput } from './ttl.js';

describe('ttlOutput (Consul CheckTTL.SetStatus)', () => {
  it.each([
    ['fine', {}, 'fine'],
    ['x'.repeat(10), { outputMaxSize: 10 }, 'x'.repeat(10)],
    ['x'.repeat(11), { outputMaxSize: 10 }, `${'x'.repeat(10)} ... (captured 10 of 11 bytes)`],
    // A character cut in two is left out, and the count says what was kept.
    ['éé', { outputMaxSize: 3 }, 'é ... (captured 2 of 4 bytes)'],
    // Above 4 KB the catalog's limit holds; the note still fits inside it.
    ['y'.repeat(5000), { outputMaxSize: 10_000 }, `${'y'.repeat(4062)} ... (captured 4062 of 5000 bytes)`],
    ['y'.repeat(5000), {}, `${'y'.repeat(4062)} ... (captured 4062 of 5000 bytes)`],
  ])('%j with %j', (output, definition, expected) => {
    const kept = ttlOutput(output, definition);
    expect(kept).toBe(expected);
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(4096);
  });
});

describe('ttlExpiredOutput (Consul CheckTTL.getExpiredOutput)', () => {
  it.each([
    ['', 'TTL expired'],
    ['queue depth 12', 'TTL expired (last output before timeout follows): queue depth 12'],
  ])('after %j: %j', (last, expected) => {
    expect(ttlExpiredOutput(last)).toBe(expected);
  });
});

describe('TtlTimers', () => {
  afterEach(() => vi.useRealTimers());

  it('keeps a TTL longer than a timer can hold (720h) until it passes, instead of expiring it at once', async () => {
    vi.useFakeTimers();
    const published: SourceEvent[] = [];
    const ctx = { node: 'n', publish: async (e: readonly SourceEvent[]) => (published.push(...e), { index: 1, changed: 1, rejected: [] }), logger: { warn: () => undefined } } as unknown as PluginContext;
    const timers = new TtlTimers(ctx);
    const ttl = 720 * 3_600_000;
    timers.arm('c', ttl, 'ok');
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1000);
    expect(published).toEqual([]);
    await vi.advanceTimersByTimeAsync(ttl - MAX_TIMER_MS - 1000 - 1);
    expect(published).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(published).toEqual([{ type: 'checkStatus', node: 'n', checkId: 'c', status: 'critical', output: 'TTL expired (last output before timeout follows): ok' }]);
    timers.close();
  });
});
