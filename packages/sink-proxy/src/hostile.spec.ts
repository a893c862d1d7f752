import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, hasProgram, runPlugins, spec, upsert, type Running } from '@signpost/testing';
import { proxySink, type ProxySink, type ProxySinkOptions } from './index.js';

/*
 * Hostile and sloppy clients, each against a real proxy and real loopback backends.
 * Nothing here waits a fixed time or asserts one: each test waits for a condition.
 */

interface Backend {
  readonly port: number;
  readonly server: Server;
  readonly seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }>;
}

async function backend(name: string): Promise<Backend> {
  const seen: Backend['seen'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(name), Connection: 'X-Hop', 'X-Hop': 'secret', 'Keep-Alive': 'timeout=5' }).end(name);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server, seen };
}

const close = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

/** A raw client: writes exactly what it is given and collects what comes back. */
function raw(port: number): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
  socket.on('error', () => undefined);
  return { socket, received: () => data, closed: new Promise((r) => socket.once('close', () => r())) };
}

async function start(options: ProxySinkOptions): Promise<{ run: Running; proxy: ProxySink; base: string; admin: string; port: number }> {
  const proxy = proxySink({ entrypoints: { web: '127.0.0.1:0' }, admin: '127.0.0.1:0', ...options });
  const run = await runPlugins([proxy], { node: 'n1' });
  const port = proxy.addresses()['web']!.port;
  return { run, proxy, port, base: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${proxy.addresses()['admin']!.port}` };
}

interface AdminState {
  routers: Array<{ name: string; backends: Array<{ url: string; alive: boolean; active: number; streamingBodies: number }> }>;
  errors: Array<{ service: string; router?: string; key?: string; reason: string }>;
}
const state = async (admin: string): Promise<AdminState> => (await (await fetch(`${admin}/api/routers`)).json()) as AdminState;

describe('hostile and sloppy clients', () => {
  let p: Awaited<ReturnType<typeof start>>;
  let a: Backend;
  const tags = (rule: string, extra: string[] = []): string[] => ['traefik.enable=true', `traefik.http.routers.r.rule=${rule}`, ...extra];

  beforeAll(async () => {
    a = await backend('a');
    p = await start({ entrypoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['10.0.0.0/8'] } } } });
    await p.run.store.apply([
      upsert(spec('plain', { id: 'p1', nodeAddress: '127.0.0.1', port: a.port, tags: tags('PathPrefix(`/plain`)') })),
      upsert(spec('evil', { id: 'e1', nodeAddress: '127.0.0.1', port: a.port, tags: tags('PathRegexp(`^/(a+)+$`)') })),
    ]);
  });
  afterAll(async () => {
    await p.run.stop();
    await close(a.server);
  });

  // Before RE2, `/` + 32 a's + `!` held the event loop for about a minute (7.3 s at 29),
  // past the test's timeout: neither request below could be answered within it.
  it('answers a request that would make a backtracking PathRegexp run for minutes, and others meanwhile', async () => {
    const evil = fetch(`${p.base}/${'a'.repeat(32)}!`);
    const other = await fetch(`${p.base}/plain/x`);
    expect([other.status, await other.text()]).toEqual([200, 'a']);
    expect((await evil).status).toBe(404);
    expect((await fetch(`${p.base}/aaaa`)).status).toBe(200);
  });

  it("replaces an untrusted client's forwarded headers with what the proxy saw", async () => {
    const forged = {
      'X-Forwarded-For': '6.6.6.6',
      'X-Forwarded-Host': 'bank.example',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Port': '443',
      'X-Forwarded-Prefix': '/admin',
      'X-Forwarded-Server': 'forged',
      'X-Real-Ip': '6.6.6.6',
      Forwarded: 'for=6.6.6.6;proto=https',
      X_Forwarded_For: '6.6.6.6',
    };
    await fetch(`${p.base}/plain/fwd`, { headers: forged });
    const h = a.seen.find((s) => s.url === '/plain/fwd')!.headers;
    expect(h).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': `127.0.0.1:${p.port}`, 'x-forwarded-port': String(p.port) });
    expect(h['x-forwarded-server']).not.toBe('forged');
    expect(h['x-forwarded-prefix']).toBeUndefined();
    expect(h['forwarded']).toBeUndefined();
    expect(h['x_forwarded_for']).toBeUndefined();
  });

  it("keeps a trusted client's forwarded headers and appends it to X-Forwarded-For", async () => {
    const trusting = await start({ entrypoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['127.0.0.0/8'] } } } });
    try {
      await trusting.run.store.apply([upsert(spec('plain', { id: 'p1', nodeAddress: '127.0.0.1', port: a.port, tags: tags('PathPrefix(`/plain`)') }))]);
      await fetch(`${trusting.base}/plain/trusted`, { headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https', 'X-Real-Ip': '203.0.113.9', Forwarded: 'for=203.0.113.9' } });
      const h = a.seen.find((s) => s.url === '/plain/trusted')!.headers;
      expect(h).toMatchObject({ 'x-forwarded-for': '203.0.113.9, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-real-ip': '203.0.113.9', forwarded: 'for=203.0.113.9' });
    } finally {
      await trusting.run.stop();
    }
  });

  it('drops the headers a Connection header names, both ways, and the hop-by-hop set', async () => {
    const c = raw(p.port);
    c.socket.write(`GET /plain/hop HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret, X-Forwarded-For\r\nX-Secret: 1\r\nX-Kept: 2\r\nTE: trailers\r\n\r\n`);
    await eventually(() => c.received().endsWith('\r\n\r\na'), 5000, 'the answer');
    c.socket.destroy();
    const res = { head: c.received() };
    const h = a.seen.find((s) => s.url === '/plain/hop')!.headers;
    expect(h['x-secret']).toBeUndefined();
    expect(h['te']).toBeUndefined();
    expect(h['x-kept']).toBe('2');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(res.head.toLowerCase()).not.toContain('x-hop');
    expect(res.head.toLowerCase()).not.toContain('keep-alive: timeout=5');
  });

  it('keeps the Host header a Connection header names, over HTTP and WebSocket', async () => {
    const c = raw(p.port);
    c.socket.write('GET /plain/conn-host HTTP/1.1\r\nHost: site.example\r\nConnection: X-Forwarded-For, host\r\n\r\n');
    await eventually(() => c.received().endsWith('\r\n\r\na'), 5000, 'the answer');
    c.socket.destroy();
    expect(a.seen.find((s) => s.url === '/plain/conn-host')!.headers.host).toBe('site.example');

    const upgraded: IncomingHttpHeaders[] = [];
    const onUpgrade = (req: { headers: IncomingHttpHeaders }, socket: Socket): void => {
      upgraded.push(req.headers);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    };
    a.server.on('upgrade', onUpgrade);
    try {
      const ws = raw(p.port);
      ws.socket.write('GET /plain/ws-host HTTP/1.1\r\nHost: site.example\r\nConnection: Upgrade, host\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      await eventually(() => upgraded.length === 1, 5000, 'the upgrade at the backend');
      ws.socket.destroy();
      expect(upgraded[0]!.host).toBe('site.example');
    } finally {
      a.server.off('upgrade', onUpgrade);
    }
  });

  it("never ejects a backend for a client that aborts its request body", async () => {
    const c = raw(p.port);
    c.socket.write('POST /plain/abort HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabc');
    c.socket.destroy();
    await c.closed;
    // A large body that streams, aborted half way, is the client's fault too.
    const big = raw(p.port);
    big.socket.write(`POST /plain/abort-big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(100_000)}`);
    await eventually(async () => (await state(p.admin)).routers.find((r) => r.name === 'r@plain')!.backends[0]!.streamingBodies === 1, 5000, 'the body to stream');
    big.socket.destroy();
    await eventually(async () => (await state(p.admin)).routers.find((r) => r.name === 'r@plain')!.backends[0]!.active === 0, 5000, 'the exchange to end');
    const res = await fetch(`${p.base}/plain/after`);
    expect([res.status, await res.text()]).toEqual([200, 'a']);
    expect((await state(p.admin)).routers.find((r) => r.name === 'r@plain')!.backends[0]!.alive).toBe(true);
  });

  it('answers an h2c upgrade (curl --http2) over HTTP/1.1, keeping the connection usable', async () => {
    const c = raw(p.port);
    c.socket.write('GET /plain/h2c HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
    await eventually(() => c.received().endsWith('\r\n\r\na'), 5000, 'the answer');
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const h = a.seen.find((s) => s.url === '/plain/h2c')!.headers;
    expect(h['upgrade']).toBeUndefined();
    expect(h['http2-settings']).toBeUndefined();
    c.socket.write('GET /plain/h2c-again HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => c.received().split('HTTP/1.1 200 OK').length === 3, 5000, 'a second answer on the same connection');
    c.socket.destroy();
  });

  it.skipIf(!hasProgram('curl', 'curl'))('answers curl --http2', async () => {
    const out = await new Promise<string>((resolve, reject) => execFile('curl', ['-s', '--http2', '--max-time', '10', `${p.base}/plain/curl`], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    expect(out).toBe('a');
  });
});

describe('regular expressions at their bounds', () => {
  // 80 instructions, the cap: on random a/b text its DFA runs out of memory at a few more (then 100+ ms a request).
  const atCap = '[^x]{0,31}a[^x]{14}[^ab/]';
  const overCap = '[^x]{0,32}a[^x]{14}[^ab/]';
  let seed = 7;
  const ab = (n: number): string => Array.from({ length: n }, () => (((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16) % 2 ? 'a' : 'b')).join('');

  it('runs the largest pattern on the longest input while answering others, refuses larger, and bounds the input', async () => {
    const a = await backend('a');
    const p = await start({});
    const rule = (r: string): string[] => ['traefik.enable=true', `traefik.http.routers.r.rule=${r}`];
    try {
      await p.run.store.apply([
        upsert(spec('plain', { id: 'p1', nodeAddress: '127.0.0.1', port: a.port, tags: rule('PathPrefix(`/plain`)') })),
        upsert(spec('capped', { id: 'c1', nodeAddress: '127.0.0.1', port: a.port, tags: rule(`PathRegexp(\`${atCap}\`) || HeaderRegexp(\`X-Probe\`, \`${atCap}\`)`) })),
        upsert(spec('negated', { id: 'n1', nodeAddress: '127.0.0.1', port: a.port, tags: rule('PathPrefix(`/neg`) && !HeaderRegexp(`X-Neg`, `^z`)') })),
        upsert(spec('over', { id: 'o1', nodeAddress: '127.0.0.1', port: a.port, tags: rule(`PathRegexp(\`${overCap}\`)`) })),
      ]);
      await eventually(async () => (await state(p.admin)).routers.length === 3, 5000, 'three routers');
      const { errors } = await state(p.admin);
      expect(errors).toEqual([expect.objectContaining({ service: 'over', reason: expect.stringMatching(/more than the 80 accepted/) })]);
      const longest = `/${ab(8191)}`;
      const path = fetch(`${p.base}${longest}`);
      const header = fetch(`${p.base}/probe`, { headers: { 'X-Probe': ab(8192) } });
      const other = await fetch(`${p.base}/plain/x`);
      expect([other.status, await other.text()]).toEqual([200, 'a']);
      expect((await path).status).toBe(404);
      expect((await header).status).toBe(404);
      expect((await fetch(`${p.base}/plain/${'a'.repeat(8192)}`)).status).toBe(414);
      expect((await fetch(`${p.base}/plain/x`, { headers: { 'X-Probe': 'a'.repeat(8193) } })).status).toBe(431);
      // A value too long to be matched is never routed, so a negated matcher cannot let it through.
      expect((await fetch(`${p.base}/neg`, { headers: { 'X-Neg': 'z'.repeat(8193) } })).status).toBe(431);
      expect((await fetch(`${p.base}/neg`, { headers: { 'X-Neg': 'y' } })).status).toBe(200);
    } finally {
      await p.run.stop();
      await close(a.server);
    }
  });
});

describe('rules built to overflow the parser', () => {
  it('drops each with the reason, and the proxy keeps answering', async () => {
    const a = await backend('a');
    const p = await start({});
    const shapes: Array<[string, string]> = [
      ['parens', `traefik.http.routers.r.rule=${'('.repeat(20_000)}Path(\`/\`)${')'.repeat(20_000)}`],
      ['nots', `traefik.http.routers.r.rule=${'!'.repeat(50_000)}Path(\`/\`)`],
      ['ands', `traefik.http.routers.r.rule=${Array.from({ length: 30_000 }, () => 'Path(`/`)').join(' && ')}`],
      ['v1', `traefik.frontend.rule=${Array.from({ length: 30_000 }, () => 'Method:GET').join(';')}`],
    ];
    try {
      await p.run.store.apply([
        upsert(spec('plain', { id: 'p1', nodeAddress: '127.0.0.1', port: a.port, tags: ['traefik.enable=true', 'traefik.http.routers.r.rule=PathPrefix(`/plain`)'] })),
        ...shapes.map(([name, tag]) => upsert(spec(name, { id: `${name}1`, nodeAddress: '127.0.0.1', port: a.port, tags: ['traefik.enable=true', tag] }))),
      ]);
      await eventually(async () => (await state(p.admin)).errors.length === shapes.length, 5000, 'every shape listed');
      const { errors, routers } = await state(p.admin);
      expect(errors.map((e) => e.service).sort()).toEqual(shapes.map(([n]) => n).sort());
      for (const e of errors) expect(e.reason).toMatch(/longer than the 4096 accepted/);
      expect(routers.map((r) => r.name)).toEqual(['r@plain']);
      const res = await fetch(`${p.base}/plain/x`);
      expect([res.status, await res.text()]).toEqual([200, 'a']);
    } finally {
      await p.run.stop();
      await close(a.server);
    }
  });
});

describe('backend faults while a body streams', () => {
  it('still ejects a backend that resets the connection while a connected client is sending', async () => {
    const resetting = createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => resetting.listen(0, '127.0.0.1', () => r()));
    const p = await start({ requestBodyBuffer: 16 });
    try {
      await p.run.store.apply([upsert(spec('reset', { id: 'x1', nodeAddress: '127.0.0.1', port: (resetting.address() as { port: number }).port, tags: ['traefik.enable=true', 'traefik.http.routers.x.rule=PathPrefix(`/reset`)'] }))]);
      const c = raw(p.port);
      c.socket.write(`POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
      await eventually(() => c.received().startsWith('HTTP/1.1 502'), 5000, 'a 502');
      expect((await state(p.admin)).routers[0]!.backends[0]!.alive).toBe(false);
      c.socket.destroy();
    } finally {
      await p.run.stop();
      await close(resetting);
    }
  });
});

describe('slow request bodies', () => {
  it('keeps a backend answering while clients trickle their bodies, and times them out', async () => {
    const a = await backend('a');
    // A pool of 4 connections, at most 2 of them carrying bodies still arriving; bodies up to 1 KiB buffered.
    const p = await start({
      entrypoints: { web: { address: '127.0.0.1:0', transport: { respondingTimeouts: { readTimeout: '1s' } } } },
      connectionsPerBackend: 4,
      streamingBodiesPerBackend: 2,
      requestBodyBuffer: 1024,
    });
    try {
      await p.run.store.apply([upsert(spec('slow', { id: 's1', nodeAddress: '127.0.0.1', port: a.port, tags: ['traefik.enable=true', 'traefik.http.routers.s.rule=PathPrefix(`/slow`)'] }))]);
      // Five small bodies and three large ones, each sending a first byte and then nothing.
      const small = Array.from({ length: 5 }, () => raw(p.port));
      for (const c of small) c.socket.write('POST /slow/small HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx');
      const large = Array.from({ length: 3 }, () => raw(p.port));
      for (const c of large) c.socket.write('POST /slow/large HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx');
      await eventually(async () => (await state(p.admin)).routers[0]!.backends[0]!.streamingBodies === 2, 5000, 'two large bodies streaming');
      // The third large body finds the backend at its limit: refused, not queued behind the others.
      await eventually(() => large.some((c) => c.received().startsWith('HTTP/1.1 503')), 5000, 'the third large body refused');
      const res = await fetch(`${p.base}/slow/ok`);
      expect([res.status, await res.text()]).toEqual([200, 'a']);
      // readTimeout ends every trickling request; the backend stays in service.
      await Promise.all([...small, ...large].map((c) => c.closed));
      expect([...small, ...large].filter((c) => c.received().startsWith('HTTP/1.1 408')).length).toBeGreaterThan(0);
      const after = await state(p.admin);
      expect(after.routers[0]!.backends[0]).toMatchObject({ alive: true, streamingBodies: 0 });
      expect(a.seen.filter((s) => s.method === 'POST')).toEqual([]);
    } finally {
      await p.run.stop();
      await close(a.server);
    }
  });
});

describe('connection floods', () => {
  it('caps open connections per client address and per entry point, and serves other clients', async () => {
    const b = await backend('b');
    const p = await start({ entrypoints: { web: { address: '127.0.0.1:0', maxConnsPerClient: 3, maxConns: 5 } } });
    const sockets: Socket[] = [];
    const open = (from: string): Promise<{ socket: Socket; closed: Promise<void> }> =>
      new Promise((resolve) => {
        const socket = connect({ port: p.port, host: '127.0.0.1', localAddress: from });
        sockets.push(socket);
        socket.on('error', () => undefined);
        const closed = new Promise<void>((c) => socket.once('close', () => c()));
        socket.once('connect', () => resolve({ socket, closed }));
      });
    try {
      await p.run.store.apply([upsert(spec('web', { id: 'w1', nodeAddress: '127.0.0.1', port: b.port, tags: ['traefik.enable=true', 'traefik.http.routers.w.rule=PathPrefix(`/`)'] }))]);
      for (let n = 0; n < 3; n++) await open('127.0.0.1');
      await eventually(() => p.proxy.connections()['web']?.open === 3, 2000, 'three connections held');
      await (await open('127.0.0.1')).closed;
      const other = await open('127.0.0.2');
      const reply = new Promise<string>((resolve) => other.socket.once('data', (d: Buffer) => resolve(d.toString())));
      other.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await reply).toMatch(/^HTTP\/1.1 200/);
      await open('127.0.0.3');
      await eventually(() => p.proxy.connections()['web']?.open === 5, 2000, 'five connections held');
      await (await open('127.0.0.4')).closed;
      expect(p.proxy.connections()['web']?.refused).toBe(2);
      expect(p.run.logger.lines.filter((l) => l.level === 'warn' && l.msg.includes('refused a connection')).map((l) => l.fields['client'])).toEqual(['127.0.0.1', '127.0.0.4']);
    } finally {
      for (const s of sockets) s.destroy();
      await p.run.stop();
      await close(b.server);
    }
  });
});

describe('request targets spelled to slip past a rule', () => {
  /** Sends one request as written and resolves with the status and the whole answer once the proxy closes. */
  const send = async (port: number, target: string, host: string): Promise<{ status: number; text: string }> => {
    const c = raw(port);
    c.socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    await c.closed;
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(c.received())?.[1] ?? 0), text: c.received() };
  };

  it('matches and forwards the decoded, cleaned path and the absolute-form host, as Traefik', async () => {
    const b = await backend('w');
    const p = await start({});
    try {
      await p.run.store.apply([
        upsert(spec('w', { id: 'w1', nodeAddress: '127.0.0.1', port: b.port, tags: ['traefik.enable=true', 'traefik.http.routers.w.rule=Host(`w.example`) && !PathPrefix(`/admin`)'] })),
        upsert(spec('hr', { id: 'h1', nodeAddress: '127.0.0.1', port: b.port, tags: ['traefik.enable=true', 'traefik.http.routers.h.rule=PathPrefix(`/hr`) && !HostRegexp(`^admin\\.example$`)'] })),
      ]);
      await eventually(async () => (await state(p.admin)).routers.length === 2, 5000, 'two routers');
      const bypasses: Array<[string, string]> = [
        ['/admin', 'w.example'],
        ['/%61dmin', 'w.example'],
        ['//admin', 'w.example'],
        ['/./admin', 'w.example'],
        ['/x/../admin', 'w.example'],
        ['/%2e%2e/admin', 'w.example'],
        ['http://w.example/admin', 'w.example'],
        ['http://w.example/admin', 'ignored.example'],
        ['http://other.example/admin', 'w.example'],
        ['/hr', 'admin.example'],
        ['/hr', 'admin.example:80'],
        ['/hr', 'admin.example.'],
        ['/hr', 'ADMIN.example.:80'],
      ];
      for (const [target, host] of bypasses) expect([target, host, (await send(p.port, target, host)).status]).toEqual([target, host, 404]);
      for (const target of ['/x%2F..%2Fadmin', '/x%2f..%2fadmin', '/x%5C..%5Cadmin', '/x\\..\\admin', '/%zz']) expect([target, (await send(p.port, target, 'w.example')).status]).toEqual([target, 400]);
      expect(b.seen.filter((s) => s.url.toLowerCase().includes('admin') || s.url.includes('%61'))).toEqual([]);

      expect((await send(p.port, '/x/../ok', 'w.example')).status).toBe(200);
      expect(b.seen.at(-1)).toMatchObject({ url: '/ok', headers: { host: 'w.example' } });
      expect((await send(p.port, '//a/./b/../c/?q=1', 'w.example')).status).toBe(200);
      expect(b.seen.at(-1)!.url).toBe('/a/c/?q=1');
      // An absolute-form target's host wins over the Host header, for matching and forwarding alike.
      expect((await send(p.port, 'http://w.example/abs', 'ignored.example')).status).toBe(200);
      expect(b.seen.at(-1)).toMatchObject({ url: '/abs', headers: { host: 'w.example', 'x-forwarded-host': 'w.example' } });
      expect((await send(p.port, 'http://other.example/abs', 'w.example')).status).toBe(404);
      expect((await send(p.port, '/hr/x', 'ok.example:80')).status).toBe(200);
    } finally {
      await p.run.stop();
      await close(b.server);
    }
  });
});
