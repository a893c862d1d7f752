import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';
import type { Subscription } from 'rxjs';
import {
  formatListen,
  isRoutable,
  parseDuration,
  parseListen,
  Type,
  validate,
  type CatalogEvent,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type Static,
} from '@signpost/core';
import { Balancer, BackendHealth } from './balancer.js';
import { byPriority, mergeRouters, serviceRoutes, type Backend, type RouteOptions, type Router } from './routes.js';
import type { RequestFacts } from './rules.js';

const Duration = Type.String({ format: 'duration' });

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1 })),
    entrypoints: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), Type.String({ format: 'listen' }), { description: 'Listeners by name (default { web: 127.0.0.1:8080 }).' })),
    admin: Type.Optional(Type.String({ format: 'listen', description: 'Admin endpoint (routers and backends as JSON); off by default.' })),
    exposedByDefault: Type.Optional(Type.Boolean()),
    defaultRule: Type.Optional(Type.String({ minLength: 1 })),
    domain: Type.Optional(Type.String({ minLength: 1 })),
    prefix: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' })),
    includeWarning: Type.Optional(Type.Boolean({ description: 'Route to warning instances too (default true, as Consul DNS).' })),
    loadBalancer: Type.Optional(Type.Unsafe<'wrr' | 'leastconn'>({ type: 'string', enum: ['wrr', 'leastconn'], description: 'Weighted round robin (default) or least connections.' })),
    connectTimeout: Type.Optional(Duration),
    responseTimeout: Type.Optional(Duration),
    ejectFor: Type.Optional(Duration),
  },
  { additionalProperties: false },
);
export type ProxySinkOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): ProxySinkOptions {
  return validate(optionsSchema, input ?? {}, 'plugin proxy');
}

export interface ProxySink extends Plugin {
  /** Bound addresses by entry point (and `admin`). */
  addresses(): Record<string, { host: string; port: number }>;
  routers(): readonly Router[];
}

interface Live {
  readonly router: Router;
  readonly balancer: Balancer;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * A reverse proxy whose routes come from service tags and follow the catalog by
 * push: each commit recomputes the touched services' routers and swaps in a new
 * table; requests already routed finish on the table they matched.
 */
export function proxySink(options: ProxySinkOptions = {}): ProxySink {
  const opts = parseOptions(options);
  const entrypoints = opts.entrypoints ?? { web: '127.0.0.1:8080' };
  const routeOptions: RouteOptions = {
    prefix: opts.prefix ?? 'traefik',
    exposedByDefault: opts.exposedByDefault ?? false,
    defaultRule: opts.defaultRule ?? 'Host(`{{ name }}.{{ domain }}`)',
    domain: opts.domain ?? 'localhost',
    entrypoints: Object.keys(entrypoints),
    loadBalancer: opts.loadBalancer ?? 'wrr',
  };
  const health = new BackendHealth(parseDuration(opts.ejectFor ?? '10s'));
  const connectTimeoutMs = parseDuration(opts.connectTimeout ?? '5s');
  const responseTimeoutMs = parseDuration(opts.responseTimeout ?? '60s');
  // HTTP goes through undici pools (keep-alive per backend): measured side by side,
  // 1.6x the requests/s of http-proxy on these machines (see the README). http-proxy
  // still carries WebSocket upgrades, which undici's client does not proxy.
  const pools = new Map<string, Pool>();
  const poolFor = (origin: string): Pool => {
    let pool = pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { connections: 256, pipelining: 1, headersTimeout: responseTimeoutMs, bodyTimeout: responseTimeoutMs, connect: { timeout: connectTimeoutMs, rejectUnauthorized: false } });
      pools.set(origin, pool);
    }
    return pool;
  };
  const proxy = httpProxy.createProxyServer({ xfwd: true, proxyTimeout: responseTimeoutMs, timeout: responseTimeoutMs, ws: true });
  let ctx: PluginContext | undefined;
  let subscription: Subscription | undefined;
  const servers: Array<{ name: string; server: Server }> = [];
  const bound: Record<string, { host: string; port: number }> = {};
  const byService = new Map<string, Live[]>();
  let table: readonly Live[] = [];
  const dirty = new Set<string>();
  let flushing = false;

  const rebuild = (): void => {
    flushing = false;
    if (!ctx) return;
    for (const service of dirty) {
      const instances = ctx.catalog.instances(service).filter((i) => isRoutable(i, { includeWarning: opts.includeWarning ?? true }));
      const { routers, problems } = serviceRoutes(service, instances, routeOptions);
      for (const p of problems) ctx.logger.error({ service: p.service, instances: p.instances, reason: p.reason }, 'a route was not built');
      const previous = new Map((byService.get(service) ?? []).map((l) => [l.router.name, l]));
      const live = mergeRouters(routers).map((router) => {
        const old = previous.get(router.name);
        // Keep the balancer's rotation when only the backends' health changed nothing.
        const same = old && old.router.backends.length === router.backends.length && old.router.backends.every((b, n) => sameBackend(b, router.backends[n]!));
        return { router, balancer: same ? old.balancer : new Balancer(router.backends, router.loadBalancer, health) };
      });
      if (live.length) byService.set(service, live);
      else byService.delete(service);
    }
    dirty.clear();
    table = [...byService.values()].flat().sort((a, b) => byPriority(a.router, b.router));
    // Pools of backends no router uses any more are closed (requests in flight finish first).
    const inUse = new Set(table.flatMap((l) => l.router.backends.map(origin)));
    for (const [key, pool] of pools) {
      if (!inUse.has(key)) {
        pools.delete(key);
        void pool.close().catch(() => undefined);
      }
    }
  };

  const onEvent = (event: CatalogEvent): void => {
    if (event.type === 'snapshot') {
      byService.clear();
      for (const i of event.instances) dirty.add(i.service);
    } else {
      dirty.add(event.instance.service);
      if (event.type === 'upsert' && event.previous) dirty.add(event.previous.service);
    }
    if (!flushing) {
      flushing = true;
      queueMicrotask(rebuild);
    }
  };

  const route = (req: IncomingMessage, entrypoint: string): { live: Live; facts: RequestFacts; search: string } | undefined => {
    // Split, not `new URL`: one parse per request, shared with the rewrite below.
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const search = q < 0 ? '' : raw.slice(q);
    const facts: RequestFacts = {
      host: req.headers.host ?? '',
      path: q < 0 ? raw : raw.slice(0, q),
      method: req.method ?? 'GET',
      headers: req.headers,
      query: new URLSearchParams(search),
      clientIp: req.socket.remoteAddress ?? '',
    };
    const live = table.find((l) => (l.router.entrypoints.length === 0 || l.router.entrypoints.includes(entrypoint)) && l.router.matches(facts));
    return live ? { live, facts, search } : undefined;
  };

  const rewrite = (req: IncomingMessage, router: Router, facts: RequestFacts, search: string): void => {
    if (router.middlewares.length === 0) return;
    let path = facts.path;
    for (const m of router.middlewares) {
      if (m.stripPrefixes) {
        const hit = m.stripPrefixes.filter((p) => path.startsWith(p)).sort((a, b) => b.length - a.length)[0];
        if (hit) {
          path = path.slice(hit.length);
          if (!path.startsWith('/')) path = `/${path}`;
          req.headers['x-forwarded-prefix'] = hit.replace(/\/$/, '');
        }
      }
      if (m.addPrefix) path = `${m.addPrefix.replace(/\/$/, '')}${path}`;
      if (m.requestHeaders) for (const [k, v] of Object.entries(m.requestHeaders)) req.headers[k.toLowerCase()] = v;
    }
    req.url = `${path}${search}`;
  };

  const pick = (live: Live, req: IncomingMessage, tried: ReadonlySet<string>): Backend | undefined => {
    const cookie = live.router.stickyCookie;
    if (cookie) {
      const wanted = parseCookies(req.headers.cookie)[cookie];
      const sticky = wanted ? live.router.backends.find((b) => stickyValue(b) === wanted && !tried.has(b.key)) : undefined;
      if (sticky && health.alive(sticky.key)) return sticky;
    }
    return live.balancer.pick(tried);
  };

  const plain = (res: ServerResponse, status: number, text: string): void => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, live: Live, tried: Set<string>): void => {
    const backend = pick(live, req, tried);
    if (!backend) {
      ctx?.logger.warn({ router: live.router.name, url: req.url }, 'no live backend');
      return plain(res, 503, 'Service Unavailable: no live backend\n');
    }
    tried.add(backend.key);
    health.begin(backend.key);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      health.end(backend.key);
    };
    res.once('close', finish);
    if (live.router.stickyCookie) res.setHeader('Set-Cookie', `${live.router.stickyCookie}=${stickyValue(backend)}; Path=/; HttpOnly`);
    const hasBody = !(req.method === 'GET' || req.method === 'HEAD') && (req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined);
    poolFor(origin(backend)).stream(
      { path: req.url ?? '/', method: req.method ?? 'GET', headers: upstreamHeaders(req), body: hasBody ? req : null },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, downstreamHeaders(headers));
        return res;
      },
      (err: (Error & { code?: string }) | null) => {
        finish();
        if (!err) return;
        const code = err.code ?? '';
        const connectFailure = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET'].includes(code);
        if (connectFailure) health.eject(backend.key);
        // Retry once, on another backend, only if nothing was sent back yet and the request may be repeated.
        if (connectFailure && !res.headersSent && tried.size === 1 && IDEMPOTENT.has(req.method ?? '') && !hasBody) {
          ctx?.logger.warn({ router: live.router.name, backend: hostPort(backend), err: code }, 'backend failed; retrying on another');
          return forward(req, res, live, tried);
        }
        if (res.destroyed || res.writableEnded) return;
        ctx?.logger.warn({ router: live.router.name, backend: hostPort(backend), err: code || err.message }, 'upstream failure');
        plain(res, code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502, code === 'UND_ERR_HEADERS_TIMEOUT' ? 'Gateway Timeout\n' : 'Bad Gateway\n');
      },
    );
  };

  const handle = (entrypoint: string) => (req: IncomingMessage, res: ServerResponse) => {
    const hit = route(req, entrypoint);
    if (!hit) {
      ctx?.logger.debug({ entrypoint, host: req.headers.host, url: req.url }, 'no route');
      return plain(res, 404, '404 page not found\n');
    }
    if (!req.headers['x-forwarded-host'] && req.headers.host) req.headers['x-forwarded-host'] = req.headers.host;
    rewrite(req, hit.live.router, hit.facts, hit.search);
    forward(req, res, hit.live, new Set());
  };

  const upgrade = (entrypoint: string) => (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const hit = route(req, entrypoint);
    const backend = hit ? pick(hit.live, req, new Set()) : undefined;
    if (!hit || !backend) {
      socket.end(`HTTP/1.1 ${hit ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
      return;
    }
    rewrite(req, hit.live.router, hit.facts, hit.search);
    proxy.ws(req, socket, head, { target: `${backend.scheme}://${hostPort(backend)}`, xfwd: true }, (err: NodeJS.ErrnoException) => {
      ctx?.logger.warn({ router: hit.live.router.name, err: err.code ?? err.message }, 'websocket upstream failure');
      socket.destroy();
    });
  };

  const admin = (req: IncomingMessage, res: ServerResponse): void => {
    const body = JSON.stringify({
      routers: table.map(({ router }) => ({
        name: router.name,
        service: router.service,
        rule: router.rule,
        priority: router.priority,
        entrypoints: router.entrypoints,
        middlewares: router.middlewares,
        loadBalancer: router.loadBalancer,
        stickyCookie: router.stickyCookie ?? null,
        backends: router.backends.map((b) => ({ url: `${b.scheme}://${hostPort(b)}`, weight: b.weight, alive: health.alive(b.key), ejectedUntil: health.ejectedUntil(b.key) ?? null, active: health.active(b.key) })),
      })),
    });
    if (req.url !== '/' && req.url !== '/api/routers') return plain(res, 404, '404 page not found\n');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
  };

  const listen = async (name: string, address: string, handler: (req: IncomingMessage, res: ServerResponse) => void, onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): Promise<void> => {
    const server = createServer({ requestTimeout: 0 }, handler);
    server.headersTimeout = Math.max(connectTimeoutMs, 10_000);
    if (onUpgrade) server.on('upgrade', onUpgrade);
    const { host, port } = parseListen(address);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address();
    bound[name] = { host, port: typeof a === 'object' && a ? a.port : port };
    servers.push({ name, server });
  };

  return {
    name: opts.name ?? 'proxy',
    async start(c) {
      ctx = c;
      subscription = c.catalog.follow(onEvent);
      rebuild();
      for (const [name, address] of Object.entries(entrypoints)) await listen(name, address, handle(name), upgrade(name));
      if (opts.admin) await listen('admin', opts.admin, admin);
      c.logger.info({ entrypoints: Object.fromEntries(Object.entries(bound).map(([k, v]) => [k, formatListen(v)])) }, 'proxy listening');
    },
    async stop() {
      subscription?.unsubscribe();
      await Promise.all(
        servers.splice(0).map(
          ({ server }) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections?.();
              server.close(() => resolve());
            }),
        ),
      );
      proxy.close();
      await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => undefined)));
      pools.clear();
      ctx = undefined;
    },
    addresses: () => ({ ...bound }),
    routers: () => table.map((l) => l.router),
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/** The request's headers for the backend: hop-by-hop ones dropped, X-Forwarded-* added (RFC 7239's predecessors, as Traefik sends them). */
function upstreamHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}` : client;
  out['x-forwarded-proto'] ??= 'encrypted' in req.socket ? 'https' : 'http';
  out['x-forwarded-port'] ??= String(req.socket.localPort ?? '');
  if (req.headers.host) out['x-forwarded-host'] ??= req.headers.host;
  if (req.headers.host) out['host'] = req.headers.host;
  return out;
}

function downstreamHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function origin(b: Backend): string {
  return `${b.scheme}://${hostPort(b)}`;
}

function hostPort(b: Backend): string {
  return b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`;
}

function sameBackend(a: Backend, b: Backend): boolean {
  return a.key === b.key && a.host === b.host && a.port === b.port && a.weight === b.weight && a.scheme === b.scheme;
}

const stickyValues = new WeakMap<Backend, string>();

/** The sticky cookie's value: a hash of the backend, so its address is not exposed; hashed once per backend, not per request. */
function stickyValue(b: Backend): string {
  let value = stickyValues.get(b);
  if (value === undefined) {
    value = createHash('sha256').update(b.key).digest('hex').slice(0, 16);
    stickyValues.set(b, value);
  }
  return value;
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Config entry: `plugins: [{ plugin: proxy, entrypoints: { web: 127.0.0.1:8080 } }]`. */
export const plugin: PluginModule<ProxySinkOptions, Plugin> = {
  name: 'proxy',
  kind: 'sink',
  optionsSchema,
  parseOptions,
  create: proxySink,
};
