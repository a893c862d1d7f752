import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HealthStatus } from '@signpost/core';
import { seededRandom } from '@signpost/testing';
import { ProbeEngine, type PrepareProbe, type ProbeSpec } from './engine.js';

// The engine's scheduling on a fake clock: when each check starts is then exact and
// repeatable. The probes against real servers are in health-checker.spec.ts.

const spec = (key: string, over: Partial<ProbeSpec> = {}): ProbeSpec => ({
  key,
  type: 'http',
  definition: { http: `http://127.0.0.1:9/${key}` },
  intervalMs: 1_000,
  timeoutMs: 500,
  firstDelayMs: 0,
  status: 'critical',
  output: '',
  ...over,
});

/** A probe that notes when each run starts and answers `answer()` after `takesMs`. */
function recorder(takesMs = 0, answer: (key: string) => HealthStatus | Error = () => 'passing') {
  const starts: Array<{ key: string; at: number }> = [];
  let inFlight = 0;
  let peak = 0;
  const prepare: PrepareProbe = (s) => (signal) => {
    starts.push({ key: s.key, at: performance.now() });
    peak = Math.max(peak, ++inFlight);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        inFlight--;
        const a = answer(s.key);
        if (a instanceof Error) reject(a);
        else resolve({ status: a, output: `said ${a}` });
      };
      const t = setTimeout(done, takesMs);
      signal.addEventListener('abort', () => (clearTimeout(t), done()), { once: true });
    });
  };
  const of = (key: string): number[] => starts.filter((s) => s.key === key).map((s) => s.at);
  /** The most runs started within any one millisecond. */
  const perMs = (): number => {
    const counts = new Map<number, number>();
    for (const s of starts) counts.set(Math.floor(s.at), (counts.get(Math.floor(s.at)) ?? 0) + 1);
    return Math.max(...counts.values());
  };
  return { starts, prepare, of, perMs, peak: () => peak };
}

describe('ProbeEngine', () => {
  let engine: ProbeEngine | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
  });
  afterEach(async () => {
    const stopping = engine?.stop();
    await vi.runAllTimersAsync();
    await stopping;
    engine = undefined;
    vi.useRealTimers();
  });

  it('starts checks that fall due together half a millisecond apart, from one timer', async () => {
    const rec = recorder();
    engine = new ProbeEngine(64, () => undefined, rec.prepare);
    const t0 = performance.now();
    for (let n = 0; n < 20; n++) engine.add(spec(`c${n}`, { intervalMs: 10_000 }));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(20);
    expect(rec.starts).toHaveLength(20);
    expect(rec.perMs()).toBeLessThanOrEqual(2);
    expect(rec.starts.at(-1)!.at - t0).toBeGreaterThanOrEqual(9);
    // Every run done: what is left is the one timer for the next round.
    expect(vi.getTimerCount()).toBe(1);
  });

  it('paces a fleet at its rate and keeps each check to its interval', async () => {
    const rec = recorder(3);
    engine = new ProbeEngine(64, () => undefined, rec.prepare);
    const rand = seededRandom(11);
    // 1,000 checks a second; random first runs put 5 or more in some millisecond.
    for (let n = 0; n < 1_000; n++) engine.add(spec(`c${n}`, { firstDelayMs: rand() * 1_000 }));
    await vi.advanceTimersByTimeAsync(3_500);
    expect(rec.perMs()).toBeLessThanOrEqual(2);
    for (let n = 0; n < 1_000; n++) {
      const at = rec.of(`c${n}`);
      expect(at.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < at.length; i++) expect(Math.abs(at[i]! - at[i - 1]! - 1_000)).toBeLessThanOrEqual(1);
    }
  });

  it('starts overdue checks at twice the fleet’s pace, not all at once', async () => {
    const rec = recorder(2);
    engine = new ProbeEngine(256, () => undefined, rec.prepare);
    // Due 100 ms ago, as after a stall of the thread: 200 checks in 200 half-millisecond
    // slots, of which at most four slots' worth start per tick.
    for (let n = 0; n < 200; n++) engine.add(spec(`c${n}`, { intervalMs: 50_000, firstDelayMs: -100 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(rec.starts).toHaveLength(200);
    expect(rec.perMs()).toBeLessThanOrEqual(4);
    expect(rec.peak()).toBeLessThanOrEqual(12);
  });

  it('tells how late its starts ran since it was last asked', async () => {
    const rec = recorder();
    engine = new ProbeEngine(64, () => undefined, rec.prepare);
    engine.add(spec('on-time', { intervalMs: 100, firstDelayMs: 10 }));
    await vi.advanceTimersByTimeAsync(250);
    expect(rec.of('on-time')).toHaveLength(3);
    expect(engine.takeLag()).toBeLessThanOrEqual(0.5);
    // Due 300 ms ago, as after the thread got no CPU for that long.
    engine.add(spec('late', { intervalMs: 10_000, firstDelayMs: -300 }));
    await vi.advanceTimersByTimeAsync(1);
    expect(engine.takeLag()).toBeGreaterThanOrEqual(300);
    expect(engine.takeLag()).toBe(0);
  });

  it('skips a run that falls due while the check’s previous run is still going', async () => {
    const rec = recorder(250);
    engine = new ProbeEngine(64, () => undefined, rec.prepare);
    engine.add(spec('slow', { intervalMs: 100 }));
    await vi.advanceTimersByTimeAsync(1_000);
    const at = rec.of('slow');
    expect(at.length).toBe(4);
    expect(at.slice(1).map((t, i) => Math.round(t - at[i]!))).toEqual([300, 300, 300]);
    expect(rec.peak()).toBe(1);
  });

  it('keeps to the concurrency limit', async () => {
    const rec = recorder(50);
    engine = new ProbeEngine(3, () => undefined, rec.prepare);
    for (let n = 0; n < 10; n++) engine.add(spec(`c${n}`));
    await vi.advanceTimersByTimeAsync(400);
    expect(rec.of('c9')).toHaveLength(1);
    expect(rec.peak()).toBe(3);
  });

  it('reports a result only when it differs from what the catalog holds', async () => {
    let status: HealthStatus = 'passing';
    const rec = recorder(0, () => status);
    const reports: string[] = [];
    engine = new ProbeEngine(64, (key, s) => reports.push(`${key} ${s}`), rec.prepare);
    engine.add(spec('a', { intervalMs: 10 }));
    await vi.advanceTimersByTimeAsync(45);
    expect(reports).toEqual(['a passing']);
    status = 'critical';
    await vi.advanceTimersByTimeAsync(30);
    expect(reports).toEqual(['a passing', 'a critical']);
    // Someone else wrote passing (the catalog moved): the next critical result differs again.
    engine.observe('a', 'passing', 'said passing');
    await vi.advanceTimersByTimeAsync(10);
    expect(reports).toEqual(['a passing', 'a critical', 'a critical']);
  });

  it('counts a probe that throws as critical, with its message, and goes on', async () => {
    const reports: string[] = [];
    const rec = recorder(0, (key) => (key === 'bad' ? new Error('no route to the moon') : 'passing'));
    engine = new ProbeEngine(64, (key, s, output) => reports.push(`${key} ${s} ${output}`), rec.prepare);
    engine.add(spec('bad', { intervalMs: 10, status: 'passing' }));
    engine.add(spec('good', { intervalMs: 10 }));
    await vi.advanceTimersByTimeAsync(35);
    expect(reports).toContain('bad critical no route to the moon');
    expect(reports).toContain('good passing said passing');
    expect(rec.of('bad').length).toBeGreaterThanOrEqual(3);
  });

  it('leaves a check as it was after a run that said nothing about its target, and counts it starved', async () => {
    const reports: string[] = [];
    let answer: 'none' | 'critical' = 'none';
    const prepare: PrepareProbe = () => () => Promise.resolve(answer === 'none' ? undefined : { status: 'critical', output: 'timed out' });
    engine = new ProbeEngine(64, (key, s) => reports.push(`${key} ${s}`), prepare);
    engine.add(spec('a', { intervalMs: 10, status: 'passing', output: 'fine', definition: { http: 'http://127.0.0.1:9/', failuresBeforeCritical: 2 } }));
    await vi.advanceTimersByTimeAsync(35);
    expect(reports).toEqual([]);
    expect(engine.stats()).toMatchObject({ runs: 4, starved: 4 });
    // The starved runs counted for nothing: it still takes two failures to turn critical.
    answer = 'critical';
    await vi.advanceTimersByTimeAsync(10);
    expect(reports).toEqual(['a passing']);
    await vi.advanceTimersByTimeAsync(10);
    expect(reports).toEqual(['a passing', 'a critical']);
  });

  it('drops its timer when the last check goes, and aborts runs in flight', async () => {
    const rec = recorder(5_000);
    const reports: string[] = [];
    engine = new ProbeEngine(64, (key, s) => reports.push(`${key} ${s}`), rec.prepare);
    engine.add(spec('a'));
    engine.add(spec('b', { firstDelayMs: 500 }));
    await vi.advanceTimersByTimeAsync(1);
    expect(rec.starts).toHaveLength(1);
    engine.remove('a');
    await vi.advanceTimersByTimeAsync(0);
    // a's probe answered the abort; nothing is reported for a removed check.
    expect(reports).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    engine.remove('b');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(rec.starts).toHaveLength(1);
    expect(engine.size).toBe(0);
  });
});
