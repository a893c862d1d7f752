// What the probe runner (a child process or a worker thread) does with the checker's
// messages, whichever carries them. Messages are plain data.
import type { ProbeTls } from './check-tls.js';
import { networkProbes, ProbeEngine, type ProbeSpec } from './engine.js';
import type { HealthStatus } from '@signpost/core';

export type ToRunner =
  | { readonly op: 'add'; readonly spec: ProbeSpec }
  | { readonly op: 'observe'; readonly key: string; readonly status: HealthStatus; readonly output: string }
  | { readonly op: 'remove'; readonly key: string }
  | { readonly op: 'stop' };

export type FromRunner =
  | { readonly op: 'ready' }
  | { readonly op: 'result'; readonly key: string; readonly status: HealthStatus; readonly output: string }
  | { readonly op: 'stats'; readonly running: number; readonly runs: number; readonly starved: number; readonly cpuMs?: number }
  /** Sent every `BEAT_MS`: this runner is alive, and its timers and check starts ran at most `lagMs` late since the last one. */
  | { readonly op: 'beat'; readonly lagMs: number }
  | { readonly op: 'stopped' };

export interface RunnerChannel {
  send(m: FromRunner): void;
  onMessage(handler: (m: ToRunner) => void): void;
  /** Called once the engine has stopped and said so. */
  close(): void;
}

/** This process's CPU time so far, in ms, every thread's (with a worker runner, the probes' too). */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** How often a runner says it is alive (see the checker's starvation watch). */
export const BEAT_MS = 500;

/**
 * Runs an engine for the channel's peer: results that differ from the catalog go back
 * at once, counters every 100 ms when they moved, a beat every `BEAT_MS`. `cpu` is the runner's own CPU time
 * so far, where it can be told apart from the agent's (a process can, a thread cannot); `tls`
 * is what HTTPS checks trust and present (the plugin's `tls` option).
 */
export function hostProbes(channel: RunnerChannel, concurrency: number, cpu?: () => number, tls?: ProbeTls): void {
  const engine = new ProbeEngine(concurrency, (key, status, output) => channel.send({ op: 'result', key, status, output }), networkProbes(tls));
  const counters = (): FromRunner => ({ op: 'stats', ...engine.stats(), ...(cpu ? { cpuMs: cpu() } : {}) });
  let last = '';
  const stats = setInterval(() => {
    const s = engine.stats();
    const now = `${s.running}/${s.runs}/${s.starved}`;
    if (now !== last) channel.send(counters());
    last = now;
  }, 100);
  let beatDue = performance.now() + BEAT_MS;
  const beat = setInterval(() => {
    const now = performance.now();
    const lagMs = Math.max(now - beatDue, engine.takeLag());
    beatDue = now + BEAT_MS;
    channel.send({ op: 'beat', lagMs: Math.round(lagMs) });
  }, BEAT_MS);
  channel.onMessage((m) => {
    if (m.op === 'add') engine.add(m.spec);
    else if (m.op === 'observe') engine.observe(m.key, m.status, m.output);
    else if (m.op === 'remove') engine.remove(m.key);
    else if (m.op === 'stop') {
      clearInterval(stats);
      clearInterval(beat);
      void engine.stop().then(() => {
        channel.send(counters());
        channel.send({ op: 'stopped' });
        channel.close();
      });
    }
  });
  channel.send({ op: 'ready' });
}
