// The health checker's probes in a child process (`runner: process`, the default),
// started by the checker with the scheduling priority it was given (see launcher.ts).
import { loadCheckTls, type CheckTlsFiles } from './check-tls.js';
import { hostProbes, processCpuMs, type ToRunner } from './probe-host.js';

const send = process.send?.bind(process);
if (send) {
  const concurrency = Number(process.argv[2]);
  // Read again by every probe process, so one started after a certificate was renewed has the new one.
  const tlsFiles = JSON.parse(process.argv[3] ?? '{}') as CheckTlsFiles;
  // A terminal's Ctrl-C reaches the whole process group; the checker decides when this
  // process ends (it stops it, or this process exits when the checker's channel closes).
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGHUP', ignore);
  process.on('disconnect', () => process.exit(0));
  // A checker that died while this process was still loading its modules closed the
  // channel before that listener was there (seen: orphans at idle priority on a busy host).
  if (!process.connected) process.exit(0);
  hostProbes(
    {
      // Once the checker is gone there is no one to tell; 'disconnect' ends this process.
      send: (m) => void (process.connected && send(m)),
      onMessage: (handler) => process.on('message', (m: ToRunner) => handler(m)),
      close: () => process.disconnect(),
    },
    concurrency,
    processCpuMs,
    loadCheckTls(tlsFiles, 'the health probes: plugin health'),
  );
}
