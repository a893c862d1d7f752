// The health checker's probes on a worker thread (`runner: worker`).
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { hostProbes, type ToRunner } from './probe-host.js';

const port = parentPort;
if (port) {
  // On Linux, priority 0 here means this thread only.
  const { concurrency, nice } = workerData as { concurrency: number; nice: number };
  if (nice) {
    try {
      setPriority(0, nice);
    } catch {
      // Not permitted (or not Linux): run at the process's priority.
    }
  }
  hostProbes(
    {
      send: (m) => port.postMessage(m),
      onMessage: (handler) => port.on('message', (m: ToRunner) => handler(m)),
      close: () => port.close(),
    },
    concurrency,
  );
}
