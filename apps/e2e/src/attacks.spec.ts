import { createSocket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, seededRandom, tempDir } from '@signpost/testing';
import { startProbe, type ProbeReport } from './attack-probe.js';
import { appMain, startApp, type AppProcess } from './processes.js';

/*
 * Hostile and sloppy input against a real agent process. While each attack runs, a
 * probe asks DNS and the HTTP API every 100 ms: no probe may wait longer than 1 s.
 * At the end nothing partial is stored and the process is still up.
 */
const PROBE_BOUND_MS = 1000;
const ID = '_nomad-task-2e81934f-3fd7-1fd6-9339-5ae120e1f314-group-backend-backend-http';

describe('attacks on a running agent', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let agent: AppProcess;
  let backend: Server;
  let hanging: Server;
  let ports: { dns: number; http: number; proxy: number };
  const results: Array<{ attack: string; report: ProbeReport }> = [];

  beforeAll(async () => {
    backend = createServer((req, res) => res.end(`backend ${req.method} ${req.url}`));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const backendPort = (backend.address() as { port: number }).port;
    // Takes every request and never answers.
    hanging = createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', () => r()));
    const hangingPort = (hanging.address() as { port: number }).port;
    ports = { dns: await freePort(), http: await freePort(), proxy: await freePort() };
    dir = await tempDir('signpost-attacks-');
    await writeFile(
      join(dir.path, 'services.yaml'),
      [
        'services:',
        `  - { name: backend, id: "${ID}", address: 127.0.0.1, port: ${backendPort}, tags: ["traefik.enable=true", "traefik.http.routers.backend.rule=PathPrefix(\`/backend\`)"] }`,
        `  - { name: evil, address: 127.0.0.1, port: ${backendPort}, tags: ["traefik.enable=true", "traefik.http.routers.evil.rule=PathRegexp(\`^/(a+)+$\`)"] }`,
        `  - { name: guarded, address: 127.0.0.1, port: ${backendPort}, tags: ["traefik.enable=true", "traefik.http.routers.guarded.rule=PathPrefix(\`/guarded\`)", "traefik.http.routers.guarded.middlewares=auth", "traefik.http.middlewares.auth.basicauth.users=u:$$apr1$$x$$y"] }`,
        `  - { name: hang, address: 127.0.0.1, port: ${hangingPort}, tags: ["traefik.enable=true", "traefik.http.routers.hang.rule=PathPrefix(\`/hang\`)"] }`,
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir.path, 'agent.yaml'),
      [
        'node: box',
        'dataDir: ./data',
        'plugins:',
        `  - { plugin: dns, listen: "127.0.0.1:${ports.dns}" }`,
        `  - { plugin: http, listen: "127.0.0.1:${ports.http}", maxBodyBytes: 65536 }`,
        `  - { plugin: proxy, entrypoints: { web: { address: "127.0.0.1:${ports.proxy}", transport: { respondingTimeouts: { readTimeout: 2s } } } }, responseTimeout: 2s }`,
        '  - { plugin: health, priority: 0 }',
        '  - { plugin: static, path: ./services.yaml }',
        '',
      ].join('\n'),
    );
    agent = startApp(appMain('agent'), ['--config', join(dir.path, 'agent.yaml')], {});
    await agent.waitFor('agent running');
    await eventually(async () => (await fetch(`http://127.0.0.1:${ports.http}/v1/catalog/service/backend`).then((r) => r.json() as Promise<unknown[]>)).length === 1, 10_000, 'the backend registered');
  });

  afterAll(async () => {
    const lines = results.map(({ attack, report: r }) => `  ${attack.padEnd(58)} probes ${String(r.answered).padStart(3)}/${String(r.probes).padEnd(3)} longest wait ${r.longestMs} ms`);
    const longest = Math.max(0, ...results.map((r) => r.report.longestMs));
    console.log(`attacks tried ${results.length}, probes answered ${results.reduce((n, r) => n + r.report.answered, 0)} of ${results.reduce((n, r) => n + r.report.probes, 0)}, longest probe wait ${longest} ms\n${lines.join('\n')}`);
    agent?.child.kill('SIGTERM');
    await agent?.exited;
    await new Promise<void>((r) => backend?.close(() => r()));
    hanging?.closeAllConnections();
    await new Promise<void>((r) => hanging?.close(() => r()));
    await dir?.dispose();
  });

  /** Runs `attack` with the probe going; the probe must be answered throughout, each within the bound. */
  const underProbe = async (name: string, attack: () => Promise<void>): Promise<void> => {
    const probe = startProbe(ports, 'backend.service.consul');
    try {
      await attack();
    } finally {
      const report = await probe.stop();
      results.push({ attack: name, report });
      expect(report.failures, `${name}: probes that failed`).toEqual([]);
      expect(report.longestMs, `${name}: the longest probe wait`).toBeLessThanOrEqual(PROBE_BOUND_MS);
      expect(agent.child.exitCode, `${name}: the agent is still up`).toBeNull();
    }
  };
  const api = (path: string, init?: RequestInit): Promise<Response> => fetch(`http://127.0.0.1:${ports.http}${path}`, init);
  const register = (body: string): Promise<Response> => api('/v1/agent/service/register', { method: 'PUT', body });

  it('a filter built to backtrack (ReDoS) is answered, and freezes nothing', async () => {
    await underProbe('filter ID matches "^(.|[0-9]|[0-9a-f])+x$"', async () => {
      for (let n = 0; n < 5; n++) {
        const res = await api(`/v1/catalog/service/backend?filter=${encodeURIComponent('ServiceID matches "^(.|[0-9]|[0-9a-f])+x$"')}`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual([]);
      }
      const backref = await api(`/v1/catalog/service/backend?filter=${encodeURIComponent('ServiceID matches `(a)\\1`')}`);
      expect(backref.status).toBe(400);
    });
  });

  it('malformed, oversized and deeply nested bodies answer 400 or 413 and store nothing', async () => {
    await underProbe('malformed JSON, 2 MiB body, 100,000-deep nesting', async () => {
      for (const body of ['{"Name":', '{"Name":"x"', 'null', '[]', '"x"', '{"Name":"x","Port":"eighty"}', '{"Name":"x","Port":70000}', '{"Name":"x","Check":{"Args":["sh"]}}']) {
        expect((await register(body)).status, body).toBe(400);
      }
      expect((await register(JSON.stringify({ Name: 'big', Meta: { k: 'x'.repeat(2 << 20) } }))).status).toBe(413);
      const deep = `{"Name":"deep","Meta":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
      expect([400, 413]).toContain((await register(deep)).status);
      const deepSmall = `{"Name":"deep","Meta":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
      expect((await register(deepSmall)).status).toBe(400);
    });
  });

  it('a smuggled request (Content-Length with Transfer-Encoding) is refused whole', async () => {
    await underProbe('request smuggling, CL.TE and TE.CL', async () => {
      const smuggled = 'PUT /v1/agent/service/register HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{"Name":"smuggl"}';
      for (const head of [
        `PUT /v1/agent/service/register HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        `PUT /v1/agent/service/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`,
        `PUT /v1/agent/service/register HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n`,
      ]) {
        const reply = await raw(ports.http, head + smuggled);
        expect(reply).toMatch(/^HTTP\/1\.1 400 /);
        expect(reply.match(/HTTP\/1\.1/g)).toHaveLength(1);
      }
    });
    expect((await (await api('/v1/catalog/services')).json()) as object).not.toHaveProperty('smuggl');
  });

  it('malformed DNS packets are dropped or refused, over UDP and TCP', async () => {
    await underProbe('malformed DNS packets over UDP and TCP', async () => {
      const packets = malformedDns();
      expect(packets.length).toBeGreaterThanOrEqual(44);
      const udp = createSocket('udp4');
      await Promise.all(packets.map((p) => new Promise<void>((sent) => udp.send(p, ports.dns, '127.0.0.1', () => sent()))));
      udp.close();
      await Promise.all(
        packets.slice(0, 20).map(
          (p) =>
            new Promise<void>((flushed) => {
              const socket = connect(ports.dns, '127.0.0.1');
              socket.on('error', () => flushed());
              socket.end(Buffer.concat([Buffer.from([p.length >> 8, p.length & 255]), p]), () => flushed());
            }),
        ),
      );
    });
  });

  it('slow clients (slowloris) and connection floods are held to their caps, and others are served', async () => {
    await underProbe('slowloris: 150 connections trickling headers', async () => {
      const sockets = await openMany(ports.http, 150, 'GET /v1/catalog/services HTTP/1.1\r\nHost: x\r\n');
      // One header line a socket per round; a round ends when the agent has answered a read
      // from elsewhere, so the trickle is paced by the agent itself, not by a clock.
      for (let round = 0; round < 10; round++) {
        for (const s of sockets) if (!s.destroyed) s.write('X-a: b\r\n');
        expect((await api('/v1/status/leader')).status).toBe(200);
      }
      for (const s of sockets) s.destroy();
    });
    await underProbe('400 idle TCP connections to DNS, 400 to the HTTP API', async () => {
      const dns = await openMany(ports.dns, 400);
      const http = await openMany(ports.http, 400);
      // The caps (200 a client) close the rest at once.
      await eventually(() => dns.filter((s) => s.destroyed).length >= 200 && http.filter((s) => s.destroyed).length >= 200, 5000, 'the connections past the cap closed');
      for (const s of [...dns, ...http]) s.destroy();
    });
  });

  it('a lone surrogate is stored as U+FFFD: the catalog stays valid UTF-8', async () => {
    await underProbe('"Name":"\\ud800"', async () => {
      expect((await register('{"Name":"lone\\ud800","ID":"lone"}')).status).toBe(200);
      const bytes = Buffer.from(await (await api('/v1/catalog/services')).arrayBuffer());
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      expect(Object.keys(JSON.parse(text) as object)).toContain('lone\ufffd');
      expect((await api('/v1/agent/service/deregister/lone', { method: 'PUT' })).status).toBe(200);
    });
  });

  it('checks registered at "Interval":"1ns" are raised to 1s, each with a warning', async () => {
    let hits = 0;
    const target = createServer((_req, res) => void (hits++, res.end('ok')));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(target.address() as { port: number }).port}/`;
    try {
      await underProbe('52 HTTP checks at "Interval":"1ns"', async () => {
        for (let n = 0; n < 52; n++) {
          expect((await register(JSON.stringify({ Name: 'flood', ID: `flood-${n}`, Check: { HTTP: url, Interval: '1ns' } }))).status).toBe(200);
        }
        await eventually(() => hits >= 52, 10_000, 'each check to run once');
        const warned = agent.out.filter((l) => l.includes('below the minimum of 1s'));
        expect(warned.length).toBeGreaterThanOrEqual(52);
        for (let n = 0; n < 52; n++) expect((await api(`/v1/agent/service/deregister/flood-${n}`, { method: 'PUT' })).status).toBe(200);
      });
    } finally {
      await new Promise<void>((r) => target.close(() => r()));
    }
  });

  const proxy = (path: string, init?: RequestInit): Promise<Response> => fetch(`http://127.0.0.1:${ports.proxy}${path}`, init);

  it('a path built to backtrack through PathRegexp is answered, and freezes nothing', async () => {
    await underProbe('PathRegexp(`^/(a+)+$`) against /aaa…a!', async () => {
      for (const n of [29, 40, 5000]) expect((await proxy(`/${'a'.repeat(n)}!`)).status).toBe(404);
      expect((await proxy(`/${'a'.repeat(29)}`)).status).toBe(200);
    });
  });

  it('a router whose middleware is not implemented is not served at all, and says why', async () => {
    await underProbe('basicauth middleware (not implemented)', async () => {
      expect((await proxy('/guarded/')).status).toBe(404);
      expect((await proxy('/backend/')).status).toBe(200);
    });
    expect(agent.out.some((l) => l.includes('basicauth'))).toBe(true);
  });

  it("a client's forwarded headers do not reach the backend as sent", async () => {
    await underProbe('spoofed X-Forwarded-*, X-Real-Ip, Forwarded; Connection-named headers', async () => {
      const seen: Array<Record<string, string | string[] | undefined>> = [];
      const listener = (req: { headers: Record<string, string | string[] | undefined> }): void => void seen.push(req.headers);
      backend.on('request', listener);
      try {
        const reply = await raw(
          ports.proxy,
          'GET /backend/x HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nX-Real-Ip: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nConnection: close, X-Secret\r\nX-Secret: hop\r\n\r\n',
        );
        expect(reply).toMatch(/^HTTP\/1\.1 200 /);
        const h = seen.at(-1)!;
        expect([h['x-forwarded-for'], h['x-real-ip'], h['x-forwarded-proto'], h['forwarded'], h['x-secret']]).toEqual(['127.0.0.1', '127.0.0.1', 'http', undefined, undefined]);
        expect(h['x-forwarded-host']).not.toBe('evil.example');
      } finally {
        backend.off('request', listener);
      }
    });
  });

  it('a client that aborts its body does not take the backend out for others', async () => {
    await underProbe('aborted request bodies, 20 times', async () => {
      for (let n = 0; n < 20; n++) {
        const c = connect(ports.proxy, '127.0.0.1');
        c.on('error', () => undefined);
        await new Promise<void>((r) => c.once('connect', () => r()));
        // Three bytes of five, then the connection is gone: `exec 3>&-` in the issue's reproduction.
        c.write('POST /backend/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabc', () => c.destroy());
        await new Promise<void>((r) => c.once('close', () => r()));
        expect((await proxy('/backend/')).status).toBe(200);
      }
    });
  });

  it('slow request bodies time out, a hanging backend answers 504, and h2c is answered over HTTP/1.1', async () => {
    await underProbe('50 trickled bodies, a hanging backend, h2c upgrades', async () => {
      const slow = await openMany(ports.proxy, 50, 'POST /backend/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
      expect((await proxy('/backend/')).status).toBe(200);
      // readTimeout (2s here) ends each of them.
      await eventually(() => slow.every((s) => s.closed), 15_000, 'the trickling clients to be timed out');
      for (const s of slow) s.destroy();
      expect((await proxy('/hang/')).status).toBe(504);
      const h2c = await raw(ports.proxy, 'GET /backend/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n');
      expect(h2c).toMatch(/^HTTP\/1\.1 200 /);
    });
  });

  it('ends with nothing partial stored, and the agent up', async () => {
    const services = (await (await api('/v1/catalog/services')).json()) as Record<string, string[]>;
    expect(Object.keys(services).sort()).toEqual(['backend', 'evil', 'guarded', 'hang']);
    expect(agent.child.exitCode).toBeNull();
  });
});

/** Sends `bytes` on a new connection and collects what comes back until the server closes or goes quiet. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('close', () => resolve(reply));
  });
}

/** Opens `n` connections from 127.0.0.1, sending `first` on each, and keeps them open. */
async function openMany(port: number, n: number, first?: string): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let k = 0; k < n; k++) {
    const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
    socket.on('error', () => undefined);
    // Read what the server says, so that its closing the connection closes ours.
    socket.resume();
    if (first) socket.once('connect', () => socket.write(first));
    sockets.push(socket);
  }
  await eventually(() => sockets.every((s) => !s.connecting), 5000, `${n} connections`);
  return sockets;
}

/** Broken DNS messages: short headers, bad label lengths, compression loops, lying counts, garbage. */
function malformedDns(): Buffer[] {
  const q = (name: string): Buffer => Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]);
  const header = (id: number, qd: number, an = 0, flags = 0x0100): Buffer => Buffer.from([id >> 8, id & 255, flags >> 8, flags & 255, 0, qd, 0, an, 0, 0, 0, 0]);
  const question = q('backend.service.consul');
  const packets: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from([1]),
    header(1, 1).subarray(0, 11),
    header(2, 1),
    header(3, 0),
    header(4, 255, 0),
    Buffer.concat([header(5, 1), Buffer.from([63]), Buffer.from('a')]),
    Buffer.concat([header(6, 1), Buffer.from([0xc0, 12])]),
    Buffer.concat([header(7, 1), Buffer.from([0xc0, 14, 0xc0, 12])]),
    Buffer.concat([header(8, 1), Buffer.from([64]), Buffer.alloc(64, 97), Buffer.from([0, 0, 1, 0, 1])]),
    Buffer.concat([header(9, 1), ...Array.from({ length: 130 }, () => Buffer.from([1, 97])), Buffer.from([0, 0, 1, 0, 1])]),
    Buffer.concat([header(10, 1), question.subarray(0, question.length - 2)]),
    Buffer.concat([header(11, 2), question]),
    Buffer.concat([header(12, 1, 0, 0x8100), question]),
    Buffer.concat([header(13, 1, 0, 0x7900), question]),
    Buffer.concat([header(14, 1, 0, 0x0110), question]),
    Buffer.concat([header(15, 1, 5), question]),
    Buffer.concat([header(16, 1), question, Buffer.alloc(3000, 0xff)]),
    Buffer.concat([header(17, 1), Buffer.from([0x80]), Buffer.from([0, 0, 1, 0, 1])]),
    Buffer.concat([header(18, 1), Buffer.from([0x40, 1]), Buffer.from([0, 0, 1, 0, 1])]),
    Buffer.concat([header(19, 1), q('backend.service.consul').subarray(0, 5)]),
    Buffer.concat([header(20, 1), Buffer.from([3, 0xff, 0xfe, 0x00, 0]), Buffer.from([0, 1, 0, 1])]),
    Buffer.concat([header(21, 1), q('a.b'), Buffer.from([0, 41, 16, 0, 0, 0, 0, 0, 0xff, 0xff])]),
    Buffer.concat([Buffer.from([0, 22, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]), question, Buffer.from([0, 0, 41, 0xff, 0xff, 0, 0, 0, 0, 0, 5, 0, 8, 0, 20])]),
    Buffer.concat([Buffer.from([0, 23, 1, 0, 0, 1, 0, 0, 0, 0, 0, 2]), question, Buffer.from([0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0])]),
    Buffer.concat([header(24, 1), q('backend.service.consul').subarray(0, question.length - 4), Buffer.from([0, 255])]),
    Buffer.concat([header(25, 1), q(`${'x'.repeat(63)}.${'y'.repeat(63)}.${'z'.repeat(63)}.${'w'.repeat(63)}`)]),
    Buffer.concat([header(26, 1, 0, 0x2900), question]),
  ];
  // Mutations of a good query: each byte of the header flipped, then random bytes, repeatably.
  const good = Buffer.concat([header(100, 1), question]);
  for (let n = 0; n < 12; n++) {
    const p = Buffer.from(good);
    p[n] = p[n]! ^ 0xff;
    packets.push(p);
  }
  const random = seededRandom(44);
  for (let n = 0; n < 20; n++) packets.push(Buffer.from(Array.from({ length: 1 + Math.floor(random() * 600) }, () => Math.floor(random() * 256))));
  return packets;
}
