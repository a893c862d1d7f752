import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProbe, httpRequestOptions, MAX_REQUESTS, probeAgents, redirectRequest, STARVED_AFTER_MS, tcpProbe, type PreparedRequest } from './probes.js';

/** The HTTP server a test started, closed after it. */
let server: Server | TlsServer | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe('httpProbe deadline', () => {

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

describe('redirectRequest (as Go\'s http.Client follows a redirect)', () => {
  const first = httpRequestOptions({ http: 'http://app.internal:8080/health?x=1', method: 'POST', body: '{"a":1}', header: { Authorization: ['Bearer t'], Cookie: ['s=1'], Host: ['front'], 'X-Trace': ['on'] } }) as PreparedRequest;
  const cases: Array<[string, number, string, { href: string; method: string; body: string | undefined; headers: string[] } | string]> = [
    ['302 turns a POST into a GET without a body', 302, '/ready', { href: 'http://app.internal:8080/ready', method: 'GET', body: undefined, headers: ['Accept', 'Authorization', 'Connection', 'Cookie', 'User-Agent', 'X-Trace'] }],
    ['301 likewise', 301, 'http://app.internal:8080/v2/health', { href: 'http://app.internal:8080/v2/health', method: 'GET', body: undefined, headers: ['Accept', 'Authorization', 'Connection', 'Cookie', 'User-Agent', 'X-Trace'] }],
    ['303 likewise', 303, 'ok', { href: 'http://app.internal:8080/ok', method: 'GET', body: undefined, headers: ['Accept', 'Authorization', 'Connection', 'Cookie', 'User-Agent', 'X-Trace'] }],
    ['307 repeats the method and body', 307, '/again', { href: 'http://app.internal:8080/again', method: 'POST', body: '{"a":1}', headers: ['Accept', 'Authorization', 'Connection', 'Cookie', 'User-Agent', 'X-Trace'] }],
    ['308 likewise, to https', 308, 'https://app.internal/health', { href: 'https://app.internal/health', method: 'POST', body: '{"a":1}', headers: ['Accept', 'Authorization', 'Connection', 'Cookie', 'User-Agent', 'X-Trace'] }],
    ['a subdomain of the first host still gets the credentials', 302, 'http://eu.app.internal/h', { href: 'http://eu.app.internal/h', method: 'GET', body: undefined, headers: ['Accept', 'Authorization', 'Connection', 'Cookie', 'User-Agent', 'X-Trace'] }],
    ['another host does not get credentials or cookies', 302, 'http://elsewhere:9/h', { href: 'http://elsewhere:9/h', method: 'GET', body: undefined, headers: ['Accept', 'Connection', 'User-Agent', 'X-Trace'] }],
    ['a Location that is not a URL', 302, 'http://[nope/', 'failed to parse Location header "http://[nope/"'],
    ['a scheme Go will not fetch', 302, 'ftp://app.internal/h', 'unsupported protocol scheme "ftp"'],
  ];
  it.each(cases)('%s', (_name, code, location, want) => {
    const next = redirectRequest(first, first, code, location, {});
    if (typeof want === 'string') return expect(next).toBe(want);
    expect(typeof next).toBe('object');
    const n = next as PreparedRequest;
    expect({ href: n.url.href, method: n.options.method, body: n.body, headers: Object.keys(n.options.headers ?? {}).sort() }).toEqual(want);
    // The Host header set for the first request is the first host's, not the new one's.
    expect(Object.keys(n.options.headers ?? {}).map((h) => h.toLowerCase())).not.toContain('host');
  });

  it('keeps the check\'s TLS server name on a redirect to another host, as Consul\'s client does', () => {
    const named = httpRequestOptions({ http: 'https://10.0.0.5/h', tlsServerName: 'api.internal' }) as PreparedRequest;
    expect(named.options).toMatchObject({ servername: 'api.internal' });
    expect((redirectRequest(named, named, 302, 'https://10.0.0.6/h', { tlsServerName: 'api.internal' }) as PreparedRequest).options).toMatchObject({ servername: 'api.internal' });
  });

  it('keeps HEAD a HEAD on 301/302/303', () => {
    const head = httpRequestOptions({ http: 'http://a/h', method: 'HEAD' }) as PreparedRequest;
    expect((redirectRequest(head, head, 302, '/x', {}) as PreparedRequest).options.method).toBe('HEAD');
  });

  it('refuses a check URL Go would not fetch', () => {
    expect(httpRequestOptions({ http: 'ftp://a/h' })).toBe('HTTP GET ftp://a/h: unsupported protocol scheme "ftp"');
  });
});

describe('httpProbe following redirects against a real server', () => {
  /** What the server saw, per request: method, path, body, and whether Authorization came. */
  let seen: string[] = [];
  const start = async (): Promise<string> => {
    seen = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}${req.headers.authorization ? ' auth' : ''}`);
        const [path, query] = (req.url ?? '').split('?');
        if (path === '/loop') return res.writeHead(302, { Location: `/loop?n=${Number(new URLSearchParams(query).get('n') ?? 0) + 1}` }).end();
        if (path === '/moved') return res.writeHead(301, { Location: '/ready' }).end('moved');
        if (path === '/temporary') return res.writeHead(307, { Location: '/ready' }).end();
        if (path === '/away') return res.writeHead(302, { Location: `http://localhost:${port()}/ready` }).end();
        if (path === '/nowhere') return res.writeHead(302).end('no location');
        if (path === '/ready') return res.writeHead(200).end('ready');
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${port()}`;
  };
  const port = (): number => (server!.address() as { port: number }).port;
  const run = (def: Parameters<typeof httpProbe>[0]): ReturnType<typeof httpProbe> => httpProbe(def, 2_000, new AbortController().signal);

  it('follows a 301 to a 2xx: passing, the output naming the check URL and the final answer (as Consul)', async () => {
    const base = await start();
    expect(await run({ http: `${base}/moved`, method: 'POST', body: 'x=1' })).toEqual({ status: 'passing', output: `HTTP POST ${base}/moved: 200 OK Output: ready` });
    expect(seen).toEqual(['POST /moved x=1', 'GET /ready ']);
  });

  it('repeats the method and body on a 307', async () => {
    const base = await start();
    expect((await run({ http: `${base}/temporary`, method: 'PUT', body: 'x=1' }))?.status).toBe('passing');
    expect(seen).toEqual(['PUT /temporary x=1', 'PUT /ready x=1']);
  });

  it('stops after 10 requests, as Go\'s default policy', async () => {
    const base = await start();
    expect(await run({ http: `${base}/loop` })).toEqual({ status: 'critical', output: `HTTP GET ${base}/loop: stopped after 10 redirects` });
    expect(seen).toHaveLength(MAX_REQUESTS);
  });

  it('with disableRedirects, the 3xx is the answer, and critical', async () => {
    const base = await start();
    expect(await run({ http: `${base}/moved`, disableRedirects: true })).toEqual({ status: 'critical', output: `HTTP GET ${base}/moved: 301 Moved Permanently Output: moved` });
    expect(seen).toEqual(['GET /moved ']);
  });

  it('a 3xx without a Location is the answer', async () => {
    const base = await start();
    expect(await run({ http: `${base}/nowhere` })).toEqual({ status: 'critical', output: `HTTP GET ${base}/nowhere: 302 Found Output: no location` });
  });

  it('does not take the credentials to another host', async () => {
    const base = await start();
    expect((await run({ http: `${base}/away`, header: { Authorization: ['Bearer t'] } }))?.status).toBe('passing');
    expect(seen).toEqual(['GET /away  auth', 'GET /ready ']);
  });
});

describe('httpProbe over TLS', () => {
  // A certificate made for these tests alone (openssl req -x509, CN and SAN check.test and
  // 127.0.0.1, valid until 2126), signed by itself: no CA vouches for it.
  const tls = { key: readFileSync(new URL('./fixtures/self-signed.key', import.meta.url)), cert: readFileSync(new URL('./fixtures/self-signed.crt', import.meta.url)) };
  const start = async (): Promise<string> => {
    server = createTlsServer(tls, (_req, res) => res.writeHead(200).end('secure'));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    return `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  };
  const run = (def: Parameters<typeof httpProbe>[0]): ReturnType<typeof httpProbe> => httpProbe(def, 2_000, new AbortController().signal);

  it('is critical against a certificate nobody vouches for', async () => {
    const base = await start();
    expect(await run({ http: `${base}/health` })).toEqual({ status: 'critical', output: `HTTP GET ${base}/health: self-signed certificate` });
  });

  it('with tlsSkipVerify, takes the answer as it is', async () => {
    const base = await start();
    expect(await run({ http: `${base}/health`, tlsSkipVerify: true })).toEqual({ status: 'passing', output: `HTTP GET ${base}/health: 200 OK Output: secure` });
  });

  it('sends tlsServerName for SNI', async () => {
    const names: Array<string | false> = [];
    server = createTlsServer(tls, (_req, res) => res.writeHead(200).end('secure'));
    server.on('secureConnection', (socket: TLSSocket) => names.push((socket as TLSSocket & { servername: string | false }).servername));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    expect((await run({ http: `${base}/health`, tlsServerName: 'check.test', tlsSkipVerify: true }))?.status).toBe('passing');
    expect(names).toEqual(['check.test']);
  });

  describe('with a CA of its own (the plugin option tls.caFile)', () => {
    const agents = probeAgents({ ca: tls.cert.toString() });
    const runWith = (def: Parameters<typeof httpProbe>[0]): ReturnType<typeof httpProbe> => httpProbe(def, 2_000, new AbortController().signal, httpRequestOptions(def, agents));

    it('trusts the certificate that CA vouches for', async () => {
      const base = await start();
      expect(await runWith({ http: `${base}/health` })).toEqual({ status: 'passing', output: `HTTP GET ${base}/health: 200 OK Output: secure` });
    });

    it('holds the certificate to tlsServerName: its own name passes, another is critical', async () => {
      const base = await start();
      expect((await runWith({ http: `${base}/health`, tlsServerName: 'check.test' }))?.status).toBe('passing');
      const other = await runWith({ http: `${base}/health`, tlsServerName: 'other.test' });
      expect(other).toEqual({ status: 'critical', output: `HTTP GET ${base}/health: Hostname/IP does not match certificate's altnames: Host: other.test. is not in the cert's altnames: DNS:check.test, IP Address:127.0.0.1` });
    });
  });

  it('with tcpUseTls, a TCP check completes the handshake and is held to the certificate as HTTPS is', async () => {
    const target = (await start()).slice('https://'.length);
    const tcp = (def: Omit<Parameters<typeof tcpProbe>[0], 'tcp'>, agents?: ReturnType<typeof probeAgents>): ReturnType<typeof tcpProbe> =>
      tcpProbe({ tcp: target, tcpUseTls: true, ...def }, 2_000, new AbortController().signal, agents);
    expect(await tcp({})).toEqual({ status: 'critical', output: `TCP+TLS connect ${target}: self-signed certificate` });
    expect(await tcp({ tlsSkipVerify: true })).toEqual({ status: 'passing', output: `TCP+TLS connect ${target}: Success` });
    const trusting = probeAgents({ ca: tls.cert.toString() });
    expect(await tcp({}, trusting)).toEqual({ status: 'passing', output: `TCP+TLS connect ${target}: Success` });
    expect((await tcp({ tlsServerName: 'other.test' }, trusting))?.output).toMatch(/^TCP\+TLS connect .*: Hostname\/IP does not match certificate's altnames/);
    // Without tcpUseTls the same server passes on the connect alone.
    expect(await tcpProbe({ tcp: target }, 2_000, new AbortController().signal)).toEqual({ status: 'passing', output: `TCP connect ${target}: Success` });
  });

  it('with tcpUseTls, a server that speaks no TLS is critical', async () => {
    const accepted = new Set<Socket>();
    const plain = createTcpServer((socket) => {
      accepted.add(socket);
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    try {
      const target = `127.0.0.1:${(plain.address() as { port: number }).port}`;
      const result = await tcpProbe({ tcp: target, tcpUseTls: true, tlsSkipVerify: true }, 2_000, new AbortController().signal);
      expect(result?.status).toBe('critical');
      expect(result?.output).toMatch(new RegExp(`^TCP\\+TLS connect ${target}: `));
    } finally {
      // The server's side of a connection the probe reset is not always told so (seen: no 'close' in 300 ms, the kernel's socket already in TIME-WAIT).
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });

  it('presents the client certificate of tls.certFile to a server that asks for one', async () => {
    // The server trusts the test certificate as a CA and asks every client for a certificate it signed.
    server = createTlsServer({ ...tls, ca: tls.cert, requestCert: true, rejectUnauthorized: true }, (_req, res) => res.writeHead(200).end('mutual'));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    const def = { http: `${base}/health` };
    const withCert = probeAgents({ ca: tls.cert.toString(), cert: tls.cert.toString(), key: tls.key.toString() });
    const without = probeAgents({ ca: tls.cert.toString() });
    expect(await httpProbe(def, 2_000, new AbortController().signal, httpRequestOptions(def, withCert))).toEqual({ status: 'passing', output: `HTTP GET ${base}/health: 200 OK Output: mutual` });
    expect((await httpProbe(def, 2_000, new AbortController().signal, httpRequestOptions(def, without)))?.status).toBe('critical');
  });

  it('keeps tlsSkipVerify across a redirect from http to https', async () => {
    const base = await start();
    const plain = createServer((_req, res) => res.writeHead(302, { Location: `${base}/health` }).end());
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(plain.address() as { port: number }).port}/`;
      expect(await run({ http: url, tlsSkipVerify: true })).toEqual({ status: 'passing', output: `HTTP GET ${url}: 200 OK Output: secure` });
      expect((await run({ http: url }))?.status).toBe('critical');
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });
});

describe('httpProbe output', () => {
  /** A server whose body is `size` bytes of `unit`, written in chunks of 1,000 bytes. */
  const start = async (unit: string, size: number): Promise<string> => {
    const body = unit.repeat(Math.ceil(size / Buffer.byteLength(unit)));
    server = createServer((_req, res) => {
      res.writeHead(200);
      const bytes = Buffer.from(body);
      for (let at = 0; at < bytes.length; at += 1_000) res.write(bytes.subarray(at, at + 1_000));
      res.end();
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  };
  const outputOf = async (def: Parameters<typeof httpProbe>[0]): Promise<string> => (await httpProbe(def, 2_000, new AbortController().signal))!.output;
  const bodyOf = async (def: Parameters<typeof httpProbe>[0]): Promise<string> => (await outputOf(def)).slice(`HTTP GET ${def.http}: 200 OK Output: `.length);

  it('keeps the first 4 KB of the output, the body cut to fit', async () => {
    const url = await start('0123456789', 10_000);
    const output = await outputOf({ http: url });
    expect(output).toHaveLength(4096);
    expect(output).toBe(`HTTP GET ${url}: 200 OK Output: ${'0123456789'.repeat(410)}`.slice(0, 4096));
  });

  it('keeps the first outputMaxSize bytes, not cutting a character in two', async () => {
    const url = await start('é', 10_000);
    // 101 bytes hold 50 two-byte characters and half of one more.
    expect(await bodyOf({ http: url, outputMaxSize: 101 })).toBe('é'.repeat(50));
  });

  it('an outputMaxSize above 4 KB keeps 4 KB, as Consul lets a check lower the limit only', async () => {
    const url = await start('x', 10_000);
    expect(await outputOf({ http: url, outputMaxSize: 8_000 })).toHaveLength(4096);
  });
});
