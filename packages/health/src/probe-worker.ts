// The health checker's probes on a worker thread (`runner: worker`).
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { loadCheckTls, type CheckTlsFiles } from './check-tls.js';
import { hostProbes, type ToRunner } from './probe-host.js';

const port = parentPort;
if (port) {
  // On Linux, priority 0 here means this thread only.
  const { concurrency, nice, tlsFiles } = workerData as { concurrency: number; nice: number; tlsFiles: CheckTlsFiles };
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
    undefined,
    loadCheckTls(tlsFiles, 'the health probes: plugin health'),
  );
}
