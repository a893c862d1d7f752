import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProbe, STARVED_AFTER_MS, tcpProbe } from './probes.js';

describe('httpProbe deadline', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A server that takes requests and never answers. */
  const silent = async (): Promise<string> => {
    server = createServer(() => undefined);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
  };

  it('is critical when the whole exchange does not finish within the timeout', async () => {
    const url = await silent();
    expect(await httpProbe({ http: url }, 200, new AbortController().signal)).toEqual({ status: 'critical', output: `HTTP GET ${url}: timed out after 200 ms` });
  });

  it('says nothing when this process noticed its deadline over a second late: the prober was starved, not the target slow', async () => {
    const url = await silent();
    const run = httpProbe({ http: url }, 200, new AbortController().signal);
    // This thread holds the CPU past the deadline and the starvation margin, as a probe
    // process at idle priority on a saturated host would be kept from it.
    const until = performance.now() + 200 + STARVED_AFTER_MS + 300;
    while (performance.now() < until);
    expect(await run).toBeUndefined();
  });
});

describe('aborting a run in flight', () => {
  /** A TCP server that accepts and never answers, resolving each connection's close. */
  const silentTcp = async (): Promise<{ port: number; closed: Promise<void>; stop: () => Promise<void> }> => {
    let closed!: () => void;
    const sockets: Socket[] = [];
    const server = createTcpServer((s) => {
      sockets.push(s);
      // Flowing, or the client's FIN is never read and 'close' never comes.
      s.resume();
      s.on('close', () => closed());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      port: (server.address() as { port: number }).port,
      closed: new Promise<void>((r) => (closed = r)),
      stop: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
    };
  };

  it('ends an HTTP check at once and closes its connection', async () => {
    const target = await silentTcp();
    const url = `http://127.0.0.1:${target.port}/health`;
    const abort = new AbortController();
    const run = httpProbe({ http: url }, 10_000, abort.signal);
    setTimeout(() => abort.abort(), 100);
    const started = performance.now();
    expect(await run).toEqual({ status: 'critical', output: `HTTP GET ${url}: The operation was aborted` });
    expect(performance.now() - started).toBeLessThan(5_000);
    await target.closed;
    await target.stop();
  });

  it('ends a TCP check whose connection is still opening', async () => {
    const target = await silentTcp();
    const abort = new AbortController();
    const run = tcpProbe({ tcp: `127.0.0.1:${target.port}` }, 10_000, abort.signal);
    // Even on loopback the connect completes on a later turn of the event loop.
    abort.abort();
    expect(await run).toEqual({ status: 'critical', output: `dial tcp 127.0.0.1:${target.port}: The operation was aborted` });
    await target.stop();
  });

  it('does not start a run whose signal has already aborted', async () => {
    const abort = new AbortController();
    abort.abort();
    expect(await httpProbe({ http: 'http://127.0.0.1:9/' }, 1_000, abort.signal)).toEqual({ status: 'critical', output: 'HTTP GET http://127.0.0.1:9/: The operation was aborted' });
    expect(await tcpProbe({ tcp: '127.0.0.1:9' }, 1_000, abort.signal)).toEqual({ status: 'critical', output: 'dial tcp 127.0.0.1:9: The operation was aborted' });
  });
});
