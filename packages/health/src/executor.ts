// Where the health probes run, and keeping them running: a child process or a worker
// thread driven over a channel (restarted when it dies, moved to a higher priority when
// it is starved), or the agent's own thread.
import { backoffDelay, formatDuration, type HealthStatus, type Logger } from '@signpost/core';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { CheckTlsFiles, ProbeTls } from './check-tls.js';
import { networkProbes, ProbeEngine, type EngineStats, type ProbeSpec } from './engine.js';
import type { ProbePriority } from './launcher.js';
import { processCpuMs, type FromRunner, type ToRunner } from './probe-host.js';

export type Report = (key: string, status: HealthStatus, output: string) => void;

export interface ExecutorStats extends EngineStats {
  readonly cpuMs?: number;
  readonly pid?: number;
  readonly priority?: ProbePriority;
  readonly restarts: number;
  readonly boosts: number;
}

/** Where the probes run: a child process (the default), a worker thread, or this thread. */
export interface Executor {
  add(spec: ProbeSpec): void;
  observe(key: string, status: HealthStatus, output: string): void;
  remove(key: string): void;
  stop(): Promise<void>;
  stats(): ExecutorStats;
}

export function inlineExecutor(concurrency: number, report: Report, tls?: ProbeTls): Executor {
  const engine = new ProbeEngine(concurrency, report, networkProbes(tls));
  return {
    add: (spec) => engine.add(spec),
    observe: (key, status, output) => engine.observe(key, status, output),
    remove: (key) => engine.remove(key),
    stop: () => engine.stop(),
    stats: () => ({ ...engine.stats(), restarts: 0, boosts: 0 }),
  };
}

/** A running probe host on the other side of a channel: a child process or a worker thread. */
export interface Peer {
  send(m: ToRunner): void;
  readonly pid?: number;
  /** Ends it at once; resolves when it is gone. */
  kill(): Promise<void>;
}

export type StartPeer = (onMessage: (m: FromRunner) => void, onExit: (why: string) => void) => Peer;

export function workerPeer(script: URL, concurrency: number, nice: number, tlsFiles: CheckTlsFiles = {}): StartPeer {
  return (onMessage, onExit) => {
    // Node's own flags only, as the probe process gets: a worker would otherwise take the
    // agent's, and with them its export conditions (the tests' `@signpost/source` points
    // packages at their TypeScript sources, which the compiled runner cannot load).
    const worker = new Worker(script, { workerData: { concurrency, nice, tlsFiles }, execArgv: [] });
    let error = '';
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', (code) => {
        onExit(error || `exit code ${code}`);
        resolve();
      }),
    );
    worker.on('error', (err) => (error = err.message));
    worker.on('message', onMessage);
    return {
      send: (m) => worker.postMessage(m),
      kill: async () => {
        await worker.terminate();
        await exited;
      },
    };
  };
}

export function processPeer(argv: readonly string[]): StartPeer {
  return (onMessage, onExit) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let gone = false;
    const exited = new Promise<void>((resolve) => {
      const end = (why: string): void => {
        if (gone) return;
        gone = true;
        onExit(why);
        resolve();
      };
      child.once('exit', (code, signal) => end(signal ? `killed by ${signal}` : `exit code ${code}`));
      // A spawn that fails (the program is missing) reports here, and may not exit.
      child.once('error', (err) => end(err.message));
    });
    child.on('message', (m: FromRunner) => onMessage(m));
    return {
      pid: child.pid,
      send: (m) => {
        if (child.connected) child.send(m);
      },
      kill: async () => {
        if (!gone) child.kill('SIGKILL');
        await exited;
      },
    };
  };
}

/** A probe host that lived this long before ending counts as healthy: the next restart waits the shortest backoff again. */
const HEALTHY_RUN_MS = 60_000;
/** How often the checker looks for word from its probe host. */
const WATCH_MS = 250;

/**
 * What to do when the probes get too little CPU. `SCHED_IDLE` (or nice 19) is what
 * keeps them off the DNS thread's back, and also what lets a busy machine's other
 * work take every cycle: seen here, with CPU spinners on both cores, an idle probe
 * process ran no check for 20 s, and every instance kept the status it had. So the
 * checker watches: a host it has not heard from for `afterMs` (it beats every
 * `BEAT_MS`), or whose timers or check starts ran more than `afterMs` late, is
 * replaced by one at niceness `priority`, which the scheduler must share CPU with;
 * after `holdMs` the probes go back to the priority asked for, and if the machine is
 * still busy, the watch notices again.
 */
export interface StarvationWatch {
  readonly afterMs: number;
  readonly priority: number;
  readonly holdMs: number;
}

const describePriority = (p: ProbePriority): string => (p === 'idle' ? 'idle priority' : `nice ${p}`);

/**
 * Drives a probe host over a channel. It keeps every check it was given, so that a
 * host that dies (a crash, the OOM killer, a stray `kill`) is started again after a
 * backoff and handed every check anew, spread over their intervals as at start-up.
 * Messages wait until the host says it is ready. With a `watch`, a starved host is
 * replaced the same way, at the watch's priority (see `StarvationWatch`).
 */
export function peerExecutor(startAt: (priority: ProbePriority) => StartPeer, priority: ProbePriority, watch: StarvationWatch | undefined, logger: Logger, report: Report): Executor {
  const specs = new Map<string, ProbeSpec>();
  let peer: Peer | undefined;
  /** Which host messages and exits belong to: a replaced host's late ones are dropped. */
  let generation = 0;
  let level = priority;
  let ready = false;
  let pending: ToRunner[] = [];
  let current: EngineStats & { cpuMs?: number } = { running: 0, runs: 0, starved: 0 };
  let past = { runs: 0, starved: 0, cpuMs: 0 };
  let restarts = 0;
  let boosts = 0;
  let attempt = 0;
  let startedAt = 0;
  /** Since the host last spoke: how long, and how much of that this thread was itself stalled or busy. */
  let heardAt = 0;
  let excusedMs = 0;
  /** The same since its last beat, whose lag covers the time since the beat before. */
  let excusedSinceBeat = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let holdTimer: NodeJS.Timeout | undefined;
  /** Set from a boost until the boosted host is ready, when its hold starts. */
  let holdPending = false;
  let stopping = false;
  let stopped: (() => void) | undefined;
  /** Hosts being ended in the background after a change of priority. */
  const retiring = new Set<Promise<void>>();

  const send = (m: ToRunner): void => {
    if (!peer) return;
    if (ready) peer.send(m);
    else pending.push(m);
  };

  const fold = (): void => {
    past = { runs: past.runs + current.runs, starved: past.starved + current.starved, cpuMs: past.cpuMs + (current.cpuMs ?? 0) };
    current = { running: 0, runs: 0, starved: 0 };
  };

  const launch = (): void => {
    const gen = ++generation;
    ready = false;
    // Spread over their intervals again, as at start-up, rather than all at once.
    pending = [...specs.values()].map((spec) => ({ op: 'add', spec: { ...spec, firstDelayMs: Math.random() * spec.intervalMs } }));
    startedAt = heardAt = performance.now();
    excusedMs = excusedSinceBeat = 0;
    peer = startAt(level)(
      (m) => {
        if (gen !== generation) return;
        heardAt = performance.now();
        excusedMs = 0;
        if (m.op === 'ready') {
          ready = true;
          for (const p of pending.splice(0)) peer?.send(p);
          if (holdPending) {
            // Counted from when the boosted host can work: on a busy machine it takes a while to start.
            holdPending = false;
            holdTimer = setTimeout(() => {
              logger.info({ priority }, `the health probes go back to ${describePriority(priority)}`);
              relaunch(priority);
            }, watch?.holdMs);
          }
        } else if (m.op === 'result') report(m.key, m.status, m.output);
        // What a restarted host is told a check's status is comes from `observe`: the catalog's, once a result lands.
        else if (m.op === 'stats') current = m;
        else if (m.op === 'beat') {
          const excused = excusedSinceBeat;
          excusedSinceBeat = 0;
          if (watch && level !== watch.priority && m.lagMs - excused > watch.afterMs && specs.size > 0) boost(`its timers ran up to ${formatDuration(Math.round(m.lagMs))} late`);
        } else if (m.op === 'stopped') stopped?.();
      },
      (why) => {
        if (gen !== generation) return;
        peer = undefined;
        fold();
        if (stopping) return;
        restarts++;
        attempt = performance.now() - startedAt >= HEALTHY_RUN_MS ? 1 : attempt + 1;
        const delay = backoffDelay(attempt, { initialMs: 500 });
        logger.error({ why, restartInMs: delay }, 'the health probes ended unasked; starting them again');
        restartTimer = setTimeout(launch, delay);
      },
    );
  };

  /** Ends the host in the background and starts one at `to` (a host that is starved may take a while to die). */
  const relaunch = (to: ProbePriority): void => {
    level = to;
    const old = peer;
    if (!old) return; // it died and waits for its restart, which starts at `level`
    generation++;
    peer = undefined;
    fold();
    const gone = old.kill().finally(() => retiring.delete(gone));
    retiring.add(gone);
    launch();
  };

  const boost = (why: string): void => {
    if (!watch || stopping) return;
    boosts++;
    logger.warn(
      { why, priority: watch.priority, forMs: watch.holdMs },
      `the health probes got too little CPU at ${describePriority(priority)} (${why}): running them at nice ${watch.priority} for ${formatDuration(watch.holdMs)} once started`,
    );
    holdPending = true;
    relaunch(watch.priority);
  };

  let watchedAt = performance.now();
  let cpuAt = processCpuMs();
  const watcher = watch
    ? setInterval(() => {
        const now = performance.now();
        const wall = now - watchedAt;
        const cpu = processCpuMs();
        const used = cpu - cpuAt;
        watchedAt = now;
        cpuAt = cpu;
        // Time this thread was not running (a suspended VM, a debugger, a long GC), or was busy
        // itself (start-up loading 10,000 services; a burst of queries), is not held against
        // the host: idle priority means it waits for the agent, and where the two share a
        // core (pinned, as in the bench) it rightly got nothing then.
        if (wall - WATCH_MS > watch.afterMs / 2 || used > wall / 2) {
          excusedMs += wall;
          excusedSinceBeat += wall;
        }
        const silentMs = now - heardAt;
        if (peer && level !== watch.priority && specs.size > 0 && silentMs - excusedMs > watch.afterMs) boost(`not a word from them for ${formatDuration(Math.round(silentMs))}`);
      }, WATCH_MS)
    : undefined;
  watcher?.unref();

  launch();
  return {
    add(spec) {
      specs.set(spec.key, spec);
      send({ op: 'add', spec });
    },
    observe(key, status, output) {
      const spec = specs.get(key);
      if (spec) specs.set(key, { ...spec, status, output });
      send({ op: 'observe', key, status, output });
    },
    remove(key) {
      specs.delete(key);
      send({ op: 'remove', key });
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      clearTimeout(holdTimer);
      clearInterval(watcher);
      const p = peer;
      if (p) {
        if (ready) {
          const done = new Promise<void>((resolve) => (stopped = resolve));
          p.send({ op: 'stop' });
          // In-flight probes are aborted; give the host a moment to say so, then end it either way.
          await Promise.race([done, new Promise((r) => setTimeout(r, 2000).unref())]);
        }
        await p.kill();
      }
      await Promise.all([...retiring]);
    },
    stats: () => ({
      running: current.running,
      runs: past.runs + current.runs,
      starved: past.starved + current.starved,
      ...(current.cpuMs !== undefined || past.cpuMs ? { cpuMs: past.cpuMs + (current.cpuMs ?? 0) } : {}),
      ...(peer?.pid !== undefined ? { pid: peer.pid } : {}),
      priority: level,
      restarts,
      boosts,
    }),
  };
}
