// The health checker's worker thread: runs the probes, posts back results that differ
// from the catalog, and its run counters every 100 ms. Messages are plain data.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ProbeEngine, type ProbeSpec } from './engine.js';
import type { HealthStatus } from '@signpost/core';

export type ToWorker =
  | { readonly op: 'add'; readonly spec: ProbeSpec }
  | { readonly op: 'observe'; readonly key: string; readonly status: HealthStatus; readonly output: string }
  | { readonly op: 'remove'; readonly key: string }
  | { readonly op: 'stop' };

export type FromWorker =
  | { readonly op: 'result'; readonly key: string; readonly status: HealthStatus; readonly output: string }
  | { readonly op: 'stats'; readonly running: number; readonly runs: number }
  | { readonly op: 'stopped' };

const port = parentPort;
if (port) {
  // On Linux, priority 0 here means this thread only: probes yield the CPU to the thread
  // that answers DNS when both want it, and get all of it otherwise.
  const nice = (workerData as { nice?: number }).nice ?? 0;
  if (nice) {
    try {
      setPriority(0, nice);
    } catch {
      // Not permitted (or not Linux): run at the process's priority.
    }
  }
  const send = (m: FromWorker): void => port.postMessage(m);
  const engine = new ProbeEngine((workerData as { concurrency: number }).concurrency, (key, status, output) => send({ op: 'result', key, status, output }));
  let last = '';
  const stats = setInterval(() => {
    const s = engine.stats();
    const now = `${s.running}/${s.runs}`;
    if (now !== last) send({ op: 'stats', ...s });
    last = now;
  }, 100);
  port.on('message', (m: ToWorker) => {
    if (m.op === 'add') engine.add(m.spec);
    else if (m.op === 'observe') engine.observe(m.key, m.status, m.output);
    else if (m.op === 'remove') engine.remove(m.key);
    else if (m.op === 'stop') {
      clearInterval(stats);
      void engine.stop().then(() => {
        send({ op: 'stats', ...engine.stats() });
        send({ op: 'stopped' });
        port.close();
      });
    }
  });
}
