import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '@signpost/testing';
import { peerExecutor, type Executor, type StarvationWatch, type StartPeer } from './executor.js';
import type { ProbeSpec } from './engine.js';
import type { ProbePriority } from './launcher.js';
import type { FromRunner, ToRunner } from './probe-host.js';

// The checker's side of the channel on a fake clock, with hosts the test speaks for:
// when a host is replaced, and at what priority, is then exact. The real child process
// under real CPU spinners is in health-checker.spec.ts.

interface FakeHost {
  readonly priority: ProbePriority;
  readonly got: ToRunner[];
  say(m: FromRunner): void;
  die(why: string): void;
  killed: boolean;
}

function hosts(): { start: (p: ProbePriority) => StartPeer; all: FakeHost[]; last(): FakeHost } {
  const all: FakeHost[] = [];
  const start =
    (priority: ProbePriority): StartPeer =>
    (onMessage, onExit) => {
      const host: FakeHost = { priority, got: [], say: onMessage, die: onExit, killed: false };
      all.push(host);
      return {
        pid: 1000 + all.length,
        send: (m) => host.got.push(m),
        kill: async () => {
          host.killed = true;
          onExit('killed by SIGKILL');
        },
      };
    };
  return { start, all, last: () => all.at(-1)! };
}

const spec: ProbeSpec = {
  key: 'n1\u0000c1',
  type: 'http',
  definition: { http: 'http://127.0.0.1:9/' },
  intervalMs: 10_000,
  timeoutMs: 1_000,
  firstDelayMs: 0,
  status: 'critical',
  output: '',
};

describe('peerExecutor', () => {
  let executor: Executor | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
  });
  afterEach(async () => {
    // A host that is told to stop is given 2 s to say it has.
    const stopping = executor?.stop();
    await vi.advanceTimersByTimeAsync(2_000);
    await stopping;
    executor = undefined;
    vi.useRealTimers();
  });

  const watch = { afterMs: 2_000, priority: 0, holdMs: 60_000 };
  /** An executor whose first host is ready, with one check unless told otherwise; `null`: no watch. */
  const running = (priority: ProbePriority = 'idle', w: StarvationWatch | null = watch, check = true) => {
    const h = hosts();
    const logger = memoryLogger();
    const e = peerExecutor(h.start, priority, w ?? undefined, logger, () => undefined);
    executor = e;
    h.last().say({ op: 'ready' });
    if (check) e.add(spec);
    return { h, logger, e };
  };
  /** Beats as a host that gets its CPU does, for `ms`. */
  const beating = async (host: FakeHost, ms: number, lagMs = 0): Promise<void> => {
    for (let t = 0; t < ms; t += 500) {
      host.say({ op: 'beat', lagMs });
      await vi.advanceTimersByTimeAsync(500);
    }
  };

  it('keeps a host that beats at its priority', async () => {
    const { h, e } = running();
    await beating(h.last(), 30_000);
    expect(h.all.map((x) => x.priority)).toEqual(['idle']);
    expect(e.stats()).toMatchObject({ boosts: 0, restarts: 0, priority: 'idle' });
  });

  it('replaces a host it has not heard from for afterMs at the watch’s priority, with every check, and goes back after holdMs from its start', async () => {
    const { h, logger, e } = running();
    const idle = h.all[0]!;
    await beating(idle, 1_000);
    // Silent from its last beat, 500 ms ago: 2 s after it (at the next look, every 250 ms) it is replaced.
    await vi.advanceTimersByTimeAsync(1_400);
    expect(h.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(h.all.map((x) => x.priority)).toEqual(['idle', 0]);
    expect(idle.killed).toBe(true);
    expect(logger.lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', expect.stringMatching(/^the health probes got too little CPU at idle priority \(not a word from them for 2\.\d+s\): running them at nice 0 for 1m0s once started$/)],
    ]);
    expect(e.stats()).toMatchObject({ boosts: 1, restarts: 0, priority: 0 });
    const boosted = h.last();
    // It takes 5 s to start on this busy machine; the hold counts from then.
    await vi.advanceTimersByTimeAsync(5_000);
    boosted.say({ op: 'ready' });
    expect(boosted.got).toEqual([{ op: 'add', spec: { ...spec, firstDelayMs: expect.any(Number) } }]);
    await beating(boosted, 59_500);
    expect(h.all).toHaveLength(2);
    await beating(boosted, 1_000);
    expect(h.all.map((x) => x.priority)).toEqual(['idle', 0, 'idle']);
    expect(boosted.killed).toBe(true);
    expect(logger.lines.at(-1)?.msg).toBe('the health probes go back to idle priority');
    expect(e.stats()).toMatchObject({ boosts: 1, priority: 'idle' });
  });

  it('replaces a host whose beats say its timers ran more than afterMs late', async () => {
    const { h } = running(19);
    await beating(h.last(), 2_000, 1_900);
    expect(h.all).toHaveLength(1);
    await beating(h.last(), 500, 2_100);
    expect(h.all.map((x) => x.priority)).toEqual([19, 0]);
  });

  it('lets a host with no checks be, and does not blame the host when the checker itself was not running', async () => {
    const { h, e } = running('idle', watch, false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.all).toHaveLength(1);
    e.add(spec);
    h.last().say({ op: 'beat', lagMs: 0 });
    // This thread stalls for 3 s (a suspended VM): the clock jumps, the timers fire late.
    const clock = performance.now.bind(performance);
    vi.spyOn(performance, 'now').mockImplementation(() => clock() + 3_000);
    await vi.advanceTimersByTimeAsync(250);
    // The host's silence over the stall is not its fault: 1.5 s more of it is not yet 2 s.
    await vi.advanceTimersByTimeAsync(1_500);
    expect(h.all).toHaveLength(1);
    h.last().say({ op: 'beat', lagMs: 0 });
    await beating(h.last(), 5_000);
    expect(h.all).toHaveLength(1);
  });

  it('does not hold the time this process was busy against the host, and judges the rest', async () => {
    const { h, logger } = running();
    h.last().say({ op: 'beat', lagMs: 0 });
    // The agent loads 10,000 services for 5 s, 80 % of a core: the idle host, silent, gets nothing then.
    let used = process.cpuUsage().user;
    const busy = vi.spyOn(process, 'cpuUsage').mockImplementation(() => ({ user: (used += 200_000), system: 0 }));
    await vi.advanceTimersByTimeAsync(5_000);
    busy.mockRestore();
    expect(h.all).toHaveLength(1);
    // Its first beat after that says its timers ran 5 s late: the agent's busy time explains it.
    h.last().say({ op: 'beat', lagMs: 5_000 });
    expect(h.all).toHaveLength(1);
    // Then silent while the agent is not busy: 2 s of that is starvation.
    await vi.advanceTimersByTimeAsync(2_000);
    expect(h.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(250);
    expect(h.all.map((x) => x.priority)).toEqual(['idle', 0]);
    expect(logger.lines.map((l) => l.msg)).toEqual([expect.stringContaining('(not a word from them for 2.25s)')]);
  });

  it('starts a host that died again after a backoff, at the priority it had', async () => {
    const { h, logger, e } = running();
    h.last().die('killed by SIGKILL');
    expect(e.stats()).toMatchObject({ restarts: 1 });
    expect(e.stats().pid).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.all.map((x) => x.priority)).toEqual(['idle', 'idle']);
    expect(logger.lines.map((l) => l.msg)).toEqual(['the health probes ended unasked; starting them again']);
  });

  it('has no watch without one: a silent host is left alone', async () => {
    const { h } = running('idle', null);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.all).toHaveLength(1);
  });
});
