import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProbe, STARVED_AFTER_MS } from './probes.js';

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
