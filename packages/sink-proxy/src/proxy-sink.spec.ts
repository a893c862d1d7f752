import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { checkStatus, describeSinkContract, remove, runPlugins, spec, upsert, type Running } from '@signpost/testing';
import { proxySink, type ProxySink } from './index.js';

describeSinkContract('proxy', async () => ({ sink: proxySink({ entrypoints: { web: '127.0.0.1:0' } }) }));


interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: Server;
  readonly seen: Array<{ url: string; headers: Record<string, unknown> }>;
}

async function backend(name: string): Promise<Backend> {
  const seen: Backend['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { name, port: (server.address() as { port: number }).port, server, seen };
}

const SEED = ['traefik.enable=true', 'traefik.tags=service', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/'];

describe('proxy sink', () => {
  let run: Running;
  let proxy: ProxySink;
  let base: string;
  let admin: string;
  let a: Backend;
  let b: Backend;
  const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> => {
    const res = await fetch(`${base}${path}`, { headers });
    return { status: res.status, text: await res.text(), headers: res.headers };
  };

  beforeAll(async () => {
    a = await backend('a');
    b = await backend('b');
    proxy = proxySink({ entrypoints: { web: '127.0.0.1:0' }, admin: '127.0.0.1:0', ejectFor: '5s' });
    run = await runPlugins([proxy], { node: 'n1' });
    base = `http://127.0.0.1:${proxy.addresses()['web']!.port}`;
    admin = `http://127.0.0.1:${proxy.addresses()['admin']!.port}`;
    await run.store.apply([
      upsert(spec('cerebro', { id: 'c1', node: 'n1', nodeAddress: '127.0.0.1', port: a.port, tags: SEED })),
      upsert(spec('cerebro', { id: 'c2', node: 'n2', nodeAddress: '127.0.0.1', port: b.port, tags: SEED })),
    ]);
  });

  afterAll(async () => {
    await run.stop();
    await new Promise<void>((r) => a.server.close(() => r()));
    await new Promise<void>((r) => b.server.close(() => r()));
  });

  it("routes the seed's /cerebro/ over both instances in turn, stripping the prefix", async () => {
    const answers = [];
    for (let n = 0; n < 4; n++) answers.push((await get('/cerebro/status?x=1')).text);
    expect(answers.sort()).toEqual(['a', 'a', 'b', 'b']);
    const last = [...a.seen, ...b.seen].at(-1)!;
    expect(last.url).toBe('/status?x=1');
    expect(last.headers).toMatchObject({ 'x-forwarded-prefix': '/cerebro', 'x-forwarded-host': `127.0.0.1:${proxy.addresses()['web']!.port}`, 'x-forwarded-proto': 'http' });
    expect(last.headers['x-forwarded-for']).toMatch(/127\.0\.0\.1/);
  });

  it('answers 404 with no route', async () => {
    expect(await get('/nowhere')).toMatchObject({ status: 404, text: '404 page not found\n' });
  });

  it('sends nothing to an instance whose check is not passing', async () => {
    const c = await backend('c');
    await run.store.apply([upsert(spec('gated', { id: 'g1', nodeAddress: '127.0.0.1', port: c.port, tags: ['traefik.enable=true', 'traefik.http.routers.g.rule=PathPrefix(`/gated`)'], checks: [{ type: 'ttl', definition: { ttl: '30s' } }] }))]);
    expect((await get('/gated')).status).toBe(404);
    await run.store.apply([checkStatus('health', 'node-a', 'service:g1', 'passing')]);
    expect(await get('/gated')).toMatchObject({ status: 200, text: 'c' });
    await run.store.apply([checkStatus('health', 'node-a', 'service:g1', 'critical')]);
    expect((await get('/gated')).status).toBe(404);
    await new Promise<void>((r) => c.server.close(() => r()));
  });

  // Untimed on purpose (a wall-clock bound fails on a loaded CI machine): the request sent
  // the moment the store has the removal, with the backend still up, must already miss.
  // A table rebuilt on a timer or a debounce, however short, serves it 'd' instead.
  it('removes the route as soon as the store has the deregistration', async () => {
    const d = await backend('d');
    await run.store.apply([upsert(spec('brief', { id: 'd1', nodeAddress: '127.0.0.1', port: d.port, tags: ['traefik.enable=true', 'traefik.http.routers.d.rule=Path(`/brief`)'] }))]);
    expect((await get('/brief')).text).toBe('d');
    await run.store.apply([remove('src-a', 'node-a', 'd1')]);
    const status = (await get('/brief')).status;
    expect(status).toBe(404);
    await new Promise<void>((r) => d.server.close(() => r()));
  });

  it('retries an idempotent request on another instance when one is dead, and ejects the dead one', async () => {
    const live = await backend('live');
    const dead = await backend('dead');
    await new Promise<void>((r) => dead.server.close(() => r()));
    const tags = ['traefik.enable=true', 'traefik.http.routers.r.rule=PathPrefix(`/retry`)'];
    await run.store.apply([
      upsert(spec('retry', { id: 'r-live', nodeAddress: '127.0.0.1', port: live.port, tags })),
      upsert(spec('retry', { id: 'r-dead', node: 'n9', nodeAddress: '127.0.0.1', port: dead.port, tags })),
    ]);
    for (let n = 0; n < 4; n++) expect(await get('/retry')).toMatchObject({ status: 200, text: 'live' });
    const state = (await (await fetch(`${admin}/api/routers`)).json()) as { routers: Array<{ name: string; backends: Array<{ url: string; alive: boolean }> }> };
    const router = state.routers.find((r) => r.name === 'r@retry')!;
    expect(router.backends.find((x) => x.url.endsWith(`:${dead.port}`))!.alive).toBe(false);
    await new Promise<void>((r) => live.server.close(() => r()));
  });

  it('answers 503 when every instance is ejected, and 502 when a non-idempotent request fails', async () => {
    const dead = await backend('gone');
    await new Promise<void>((r) => dead.server.close(() => r()));
    await run.store.apply([upsert(spec('gone', { id: 'x1', nodeAddress: '127.0.0.1', port: dead.port, tags: ['traefik.enable=true', 'traefik.http.routers.x.rule=PathPrefix(`/gone`)'] }))]);
    const post = await fetch(`${base}/gone`, { method: 'POST', body: 'x' });
    expect([post.status, await post.text()]).toEqual([502, 'Bad Gateway\n']);
    expect(await get('/gone')).toMatchObject({ status: 503, text: 'Service Unavailable: no live backend\n' });
  });

  it('tunnels WebSocket upgrades', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m.toString()}`)));
    await new Promise<void>((r) => wss.on('listening', () => r()));
    await run.store.apply([upsert(spec('ws', { id: 'w1', nodeAddress: '127.0.0.1', port: (wss.address() as { port: number }).port, tags: ['traefik.enable=true', 'traefik.http.routers.ws.rule=Path(`/ws`)'] }))]);
    const client = new WebSocket(`${base.replace('http', 'ws')}/ws`);
    const reply = await new Promise<string>((resolve, reject) => {
      client.on('open', () => client.send('hello'));
      client.on('message', (m) => resolve(m.toString()));
      client.on('error', reject);
    });
    expect(reply).toBe('echo:hello');
    client.close();
    await new Promise<void>((r) => wss.close(() => r()));
  });

  it('lists routers and backends on the admin endpoint', async () => {
    const state = (await (await fetch(`${admin}/api/routers`)).json()) as { routers: Array<Record<string, unknown>> };
    expect(state.routers.find((r) => r['name'] === 'frontend@cerebro')).toMatchObject({
      rule: 'PathPrefixStrip:/cerebro/',
      priority: 25,
      entrypoints: ['web'],
      middlewares: [{ stripPrefixes: ['/cerebro/'] }],
      loadBalancer: 'wrr',
    });
  });

  it('keeps a client on one instance with a sticky cookie', async () => {
    const s1 = await backend('s1');
    const s2 = await backend('s2');
    const tags = ['traefik.enable=true', 'traefik.http.routers.s.rule=PathPrefix(`/sticky`)', 'traefik.http.services.s.loadbalancer.sticky.cookie.name=lb'];
    await run.store.apply([upsert(spec('sticky', { id: 's1', nodeAddress: '127.0.0.1', port: s1.port, tags })), upsert(spec('sticky', { id: 's2', node: 'n2', nodeAddress: '127.0.0.1', port: s2.port, tags }))]);
    const first = await get('/sticky');
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    for (let n = 0; n < 4; n++) expect((await get('/sticky', { Cookie: cookie })).text).toBe(first.text);
    await new Promise<void>((r) => s1.server.close(() => r()));
    await new Promise<void>((r) => s2.server.close(() => r()));
  });

  it('drops a router two instances define differently, logging the service, the instances and the reason', async () => {
    const x = await backend('x');
    await run.store.apply([
      upsert(spec('clash', { id: 'k1', nodeAddress: '127.0.0.1', port: x.port, tags: ['traefik.enable=true', 'traefik.http.routers.k.rule=Path(`/one`)'] })),
      upsert(spec('clash', { id: 'k2', node: 'n2', nodeAddress: '127.0.0.1', port: x.port, tags: ['traefik.enable=true', 'traefik.http.routers.k.rule=Path(`/uno`)'] })),
    ]);
    await new Promise((r) => setImmediate(r));
    expect((await get('/one')).status).toBe(404);
    const line = run.logger.lines.find((l) => l.msg === 'a route was not built' && l.fields['service'] === 'clash');
    expect(line?.fields).toMatchObject({ instances: ['k1', 'k2'], reason: 'the instances define traefik.http.routers.k differently; the router is dropped' });
    expect((await get('/cerebro/')).status).toBe(200);
    await new Promise<void>((r) => x.server.close(() => r()));
  });

  it('finishes a request in flight on the route it matched, after the route is gone', async () => {
    let release!: () => void;
    const slow = createServer((_req, res) => {
      release = () => res.writeHead(200).end('slow');
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    await run.store.apply([upsert(spec('slow', { id: 's1', nodeAddress: '127.0.0.1', port: (slow.address() as { port: number }).port, tags: ['traefik.enable=true', 'traefik.http.routers.s.rule=Path(`/slow`)'] }))]);
    const pending = get('/slow');
    while (!release) await new Promise((r) => setTimeout(r, 5));
    await run.store.apply([remove('src-a', 'node-a', 's1')]);
    expect((await get('/slow')).status).toBe(404);
    release();
    expect(await pending).toMatchObject({ status: 200, text: 'slow' });
    await new Promise<void>((r) => slow.close(() => r()));
  });
});

describe('proxy options and middlewares', () => {
  it('applies addprefix and custom request headers, reads a custom tag prefix, and balances by least connections', async () => {
    const x = await backend('x');
    const y = await backend('y');
    const proxy = proxySink({ entrypoints: { web: '127.0.0.1:0' }, prefix: 'edge', loadBalancer: 'leastconn' });
    const run = await runPlugins([proxy], { node: 'n1' });
    try {
      const tags = [
        'edge.enable=true',
        'edge.http.routers.m.rule=PathPrefix(`/m`)',
        'edge.http.routers.m.middlewares=add,hdr',
        'edge.http.middlewares.add.addprefix.prefix=/v2',
        'edge.http.middlewares.hdr.headers.customrequestheaders.X-Tenant=blue',
      ];
      await run.store.apply([upsert(spec('mw', { id: 'm1', nodeAddress: '127.0.0.1', port: x.port, tags })), upsert(spec('mw', { id: 'm2', node: 'n2', nodeAddress: '127.0.0.1', port: y.port, tags }))]);
      const url = `http://127.0.0.1:${proxy.addresses()['web']!.port}/m/items?q=1`;
      const answers = await Promise.all(Array.from({ length: 6 }, async () => (await fetch(url)).text()));
      expect(new Set(answers)).toEqual(new Set(['x', 'y']));
      const seen = [...x.seen, ...y.seen];
      expect(seen.every((r) => r.url === '/v2/m/items?q=1' && r.headers['x-tenant'] === 'blue')).toBe(true);
      expect(proxy.routers()[0]!.loadBalancer).toBe('leastconn');
    } finally {
      await run.stop();
      await new Promise<void>((r) => x.server.close(() => r()));
      await new Promise<void>((r) => y.server.close(() => r()));
    }
  });
});

describe('proxy entry points', () => {
  it('serves each router only on the entry points it names', async () => {
    const x = await backend('x');
    const proxy = proxySink({ entrypoints: { web: '127.0.0.1:0', internal: '127.0.0.1:0' } });
    const run = await runPlugins([proxy], { node: 'n1' });
    try {
      await run.store.apply([
        upsert(spec('ops', { id: 'o1', nodeAddress: '127.0.0.1', port: x.port, tags: ['traefik.enable=true', 'traefik.http.routers.ops.rule=PathPrefix(`/ops`)', 'traefik.http.routers.ops.entrypoints=internal'] })),
      ]);
      const at = (name: string): string => `http://127.0.0.1:${proxy.addresses()[name]!.port}/ops`;
      expect((await fetch(at('internal'))).status).toBe(200);
      expect((await fetch(at('web'))).status).toBe(404);
    } finally {
      await run.stop();
      await new Promise<void>((r) => x.server.close(() => r()));
    }
  });
});
