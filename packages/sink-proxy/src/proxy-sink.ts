import { hostname } from 'node:os';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Subscription } from 'rxjs';
import {
  formatListen,
  isRoutable,
  limitConnections,
  parseDuration,
  parseListen,
  type CatalogEvent,
  type ConnectionLimiter,
  type Plugin,
  type PluginContext,
  type PluginModule,
} from '@signpost/core';
import { Balancer, BackendHealth } from './balancer.js';
import { readBody } from './body.js';
import { Forwarder, hostPort, pick, plain, type Live } from './forward.js';
import { clientAddress, entryHeaders } from './headers.js';
import { applyMiddlewares } from './middlewares.js';
import { entryPointConfigs, optionsSchema, parseOptions, type EntryPointConfig, type ProxySinkOptions } from './options.js';
import { byPriority, mergeRouters, serviceRoutes, type Backend, type RouteOptions, type RouteProblem, type Router } from './routes.js';
import type { RequestFacts } from './rules.js';
import { parseTarget, TargetError, type Target } from './target.js';
import { DEFAULT_TRANSPORT, loadTransports } from './transports.js';
import { isWebSocket, replayWithoutUpgrade } from './upgrade.js';

export { optionsSchema, parseOptions, type ProxySinkOptions } from './options.js';

export interface ProxySink extends Plugin {
  /** Bound addresses by entry point (and `admin`). */
  addresses(): Record<string, { host: string; port: number }>;
  routers(): readonly Router[];
  /** Why routers were not built, by the latest rebuild of each service. */
  problems(): readonly RouteProblem[];
  /** Connections open now, and refused by `maxConnsPerClient` / `maxConns` since start, by entry point (and `admin`). */
  connections(): Record<string, { open: number; refused: number }>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * A reverse proxy whose routes come from service tags and follow the catalog by
 * push: each commit recomputes the touched services' routers and swaps in a new
 * table; requests already routed finish on the table they matched.
 */
export function proxySink(options: ProxySinkOptions = {}): ProxySink {
  const opts = parseOptions(options);
  const entrypoints = entryPointConfigs(opts);
  const routeOptions: RouteOptions = {
    prefix: opts.prefix ?? 'traefik',
    exposedByDefault: opts.exposedByDefault ?? false,
    defaultRule: opts.defaultRule ?? 'Host(`{{ name }}.{{ domain }}`)',
    domain: opts.domain ?? 'localhost',
    entrypoints: entrypoints.map((e) => e.name),
    loadBalancer: opts.loadBalancer ?? 'wrr',
    transports: [DEFAULT_TRANSPORT, ...Object.keys(opts.serversTransports ?? {})],
  };
  const health = new BackendHealth(parseDuration(opts.ejectFor ?? '10s'));
  const connectTimeoutMs = parseDuration(opts.connectTimeout ?? '5s');
  const responseTimeoutMs = parseDuration(opts.responseTimeout ?? '60s');
  const connectionsPerBackend = opts.connectionsPerBackend ?? 256;
  const bodyBuffer = opts.requestBodyBuffer ?? 65_536;
  const serverName = hostname();
  // http-proxy carries WebSocket upgrades only, which undici's client does not proxy.
  const proxy = httpProxy.createProxyServer({ proxyTimeout: responseTimeoutMs, timeout: responseTimeoutMs, ws: true });
  let forwarder: Forwarder | undefined;
  let transports: Awaited<ReturnType<typeof loadTransports>> | undefined;
  let ctx: PluginContext | undefined;
  let subscription: Subscription | undefined;
  const servers: Array<{ name: string; server: Server }> = [];
  const bound: Record<string, { host: string; port: number }> = {};
  const limiters: Record<string, ConnectionLimiter> = {};
  const byService = new Map<string, Live[]>();
  const problemsByService = new Map<string, RouteProblem[]>();
  let table: readonly Live[] = [];
  const dirty = new Set<string>();
  let flushing = false;

  /** One service's routers; any error building them (a bug) drops that service's routers with the reason, never the proxy. */
  const buildService = (service: string, instances: Parameters<typeof serviceRoutes>[1]): ReturnType<typeof serviceRoutes> => {
    try {
      return serviceRoutes(service, instances, routeOptions);
    } catch (err) {
      return { routers: [], problems: [{ service, instances: instances.map((i) => i.id), reason: `the service's routers were not built: ${err instanceof Error ? err.message : String(err)}` }] };
    }
  };

  const rebuild = (): void => {
    flushing = false;
    if (!ctx) return;
    for (const service of dirty) {
      const instances = ctx.catalog.instances(service).filter((i) => isRoutable(i, { includeWarning: opts.includeWarning ?? true }));
      const { routers, problems } = buildService(service, instances);
      for (const p of problems) ctx.logger.error({ service: p.service, instances: p.instances, ...(p.router ? { router: p.router } : {}), ...(p.key ? { key: p.key } : {}), reason: p.reason }, 'a route was not built');
      if (problems.length) problemsByService.set(service, problems);
      else problemsByService.delete(service);
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
    forwarder?.retain(table.flatMap((l) => l.router.backends));
  };

  const onEvent = (event: CatalogEvent): void => {
    if (event.type === 'snapshot') {
      byService.clear();
      problemsByService.clear();
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

  /** Matches the request, its target normalised by parseTarget (decoded, cleaned path; absolute-form host). */
  const route = (req: IncomingMessage, target: Target, entrypoint: string, headers: RequestFacts['headers'], clientIp: string): { live: Live; facts: RequestFacts } | undefined => {
    const facts: RequestFacts = { host: req.headers.host ?? '', path: target.path, method: req.method ?? 'GET', headers, query: new URLSearchParams(target.search), clientIp };
    const live = table.find((l) => (l.router.entrypoints.length === 0 || l.router.entrypoints.includes(entrypoint)) && l.router.matches(facts));
    return live ? { live, facts } : undefined;
  };

  /** The request's target, or why it is refused; an absolute-form target's authority becomes its Host, as in Go. */
  const target = (req: IncomingMessage): Target | TargetError => {
    try {
      const t = parseTarget(req.url ?? '/');
      if (t.authority !== undefined) req.headers.host = t.authority;
      return t;
    } catch (err) {
      if (err instanceof TargetError) return err;
      throw err;
    }
  };

  const handle = (ep: EntryPointConfig, trusted: (ip: string) => boolean): Handler => (req, res) => {
    // Traefik's writeTimeout (Go's http.Server.WriteTimeout): the connection is closed when the answer is not written in time.
    if (ep.writeTimeoutMs > 0) {
      const timer = setTimeout(() => res.destroy(), ep.writeTimeoutMs);
      res.once('close', () => clearTimeout(timer));
    }
    const t = target(req);
    const clientIp = clientAddress(req.socket.remoteAddress);
    const headers = entryHeaders(req.headers, { clientIp, trusted: trusted(clientIp), tls: false, hostname: serverName, websocket: false });
    const tooLarge = oversized(req, headers);
    if (tooLarge) return plain(res.setHeader('Connection', 'close'), tooLarge.status, `${tooLarge.status} ${tooLarge.reason}\n`);
    if (t instanceof TargetError) return plain(res.setHeader('Connection', 'close'), 400, `400 Bad Request: ${t.message}\n`);
    const hit = route(req, t, ep.name, headers, clientIp);
    if (!hit) {
      ctx?.logger.debug({ entrypoint: ep.name, host: req.headers.host, url: req.url }, 'no route');
      return plain(res, 404, '404 page not found\n');
    }
    req.url = applyMiddlewares(hit.live.router.middlewares, t.rawPath, t.search, headers);
    void readBody(req, bodyBuffer).then((body) => {
      if (!body) return void res.destroy();
      forwarder?.forward(req, res, hit.live, headers, body);
    });
  };

  const upgrade = (ep: EntryPointConfig, trusted: (ip: string) => boolean, server: () => Server): UpgradeHandler => (req, socket, head) => {
    if (!isWebSocket(req)) return replayWithoutUpgrade(server(), req, socket, head);
    const t = target(req);
    const clientIp = clientAddress(req.socket.remoteAddress);
    const headers = entryHeaders(req.headers, { clientIp, trusted: trusted(clientIp), tls: false, hostname: serverName, websocket: true });
    const tooLarge = oversized(req, headers);
    if (tooLarge) return void socket.end(`HTTP/1.1 ${tooLarge.status} ${tooLarge.reason}\r\nConnection: close\r\n\r\n`);
    if (t instanceof TargetError) return void socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    const hit = route(req, t, ep.name, headers, clientIp);
    const backend = hit ? pick(hit.live, req, new Set(), health) : undefined;
    if (!hit || !backend) {
      socket.end(`HTTP/1.1 ${hit ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
      return;
    }
    req.url = applyMiddlewares(hit.live.router.middlewares, t.rawPath, t.search, headers);
    req.headers = headers;
    const agent = backend.scheme === 'https' ? transports?.get(backend.transport)?.wsAgent : undefined;
    proxy.ws(req, socket, head, { target: `${backend.scheme}://${hostPort(backend)}`, xfwd: false, ...(agent ? { agent } : {}) }, (err: NodeJS.ErrnoException) => {
      ctx?.logger.warn({ router: hit.live.router.name, err: err.code ?? err.message }, 'websocket upstream failure');
      socket.destroy();
    });
  };

  const admin: Handler = (req, res) => {
    if (req.url !== '/' && req.url !== '/api/routers') return plain(res, 404, '404 page not found\n');
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
        backends: router.backends.map((b) => ({
          url: `${b.scheme}://${hostPort(b)}`,
          transport: b.scheme === 'https' ? b.transport : null,
          weight: b.weight,
          alive: health.alive(b.key),
          ejectedUntil: health.ejectedUntil(b.key) ?? null,
          active: health.active(b.key),
          streamingBodies: forwarder?.streaming(b.key) ?? 0,
        })),
      })),
      errors: [...problemsByService.values()].flat(),
    });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
  };

  const listen = async (
    name: string,
    address: string,
    timeouts: Pick<EntryPointConfig, 'readTimeoutMs' | 'idleTimeoutMs' | 'connectionLimits'>,
    handler: Handler,
    onUpgrade?: (server: () => Server) => UpgradeHandler,
  ): Promise<void> => {
    // Node checks its request and header deadlines on this interval (30 s by default), so it follows the shortest deadline.
    const headersTimeout = timeouts.readTimeoutMs > 0 ? Math.min(10_000, timeouts.readTimeoutMs) : 10_000;
    const server = createServer({ requestTimeout: timeouts.readTimeoutMs, headersTimeout, connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeout / 4))) }, handler);
    server.keepAliveTimeout = timeouts.idleTimeoutMs;
    limiters[name] = limitConnections(server, timeouts.connectionLimits, ctx!.logger, `proxy entry point ${name}`);
    if (onUpgrade) server.on('upgrade', onUpgrade(() => server));
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
      transports = await loadTransports(opts, c.baseDir);
      forwarder = new Forwarder({
        health,
        transports,
        connectTimeoutMs,
        responseTimeoutMs,
        connectionsPerBackend,
        streamingBodiesPerBackend: opts.streamingBodiesPerBackend ?? Math.max(1, Math.floor(connectionsPerBackend / 2)),
        logger: () => ctx?.logger,
      });
      ctx = c;
      subscription = c.catalog.follow(onEvent);
      rebuild();
      for (const ep of entrypoints) {
        const trusted = trustCheck(ep);
        await listen(ep.name, ep.address, ep, handle(ep, trusted), (server) => upgrade(ep, trusted, server));
      }
      if (opts.admin) await listen('admin', opts.admin, { readTimeoutMs: 60_000, idleTimeoutMs: 5_000, connectionLimits: { perClient: 16, total: 64 } }, admin);
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
      await forwarder?.close();
      for (const t of transports?.values() ?? []) t.wsAgent.destroy();
      ctx = undefined;
    },
    addresses: () => ({ ...bound }),
    routers: () => table.map((l) => l.router),
    problems: () => [...problemsByService.values()].flat(),
    connections: () => Object.fromEntries(Object.entries(limiters).map(([name, l]) => [name, { open: l.open, refused: l.refused }])),
  };
}

/** Longest request target (path and query) routed; longer ones are answered 414 before routing. */
export const MAX_REQUEST_TARGET = 8192;
/** Longest header value (repeated fields joined) routed; longer ones are answered 431 before routing. */
export const MAX_HEADER_VALUE = 8192;

/**
 * Bounds what a rule's regular expressions see, before any is run: a rule's
 * patterns take time in proportion to their input's length (regex.ts).
 */
function oversized(req: IncomingMessage, headers: Record<string, string | string[]>): { status: number; reason: string } | undefined {
  if ((req.url ?? '').length > MAX_REQUEST_TARGET) return { status: 414, reason: 'URI Too Long' };
  for (const v of Object.values(headers)) {
    if ((Array.isArray(v) ? v : [v]).some((x) => x.length > MAX_HEADER_VALUE)) return { status: 431, reason: 'Request Header Fields Too Large' };
  }
  return undefined;
}

/** Whose forwarded headers an entry point believes: everyone's with `insecure`, else those of `trustedIPs`. */
function trustCheck(ep: EntryPointConfig): (ip: string) => boolean {
  if (ep.insecure) return () => true;
  if (ep.trustedIPs.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of ep.trustedIPs) {
    const [ip, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(bits), family);
  }
  return (ip) => isIP(ip) !== 0 && list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}

function sameBackend(a: Backend, b: Backend): boolean {
  return a.key === b.key && a.host === b.host && a.port === b.port && a.weight === b.weight && a.scheme === b.scheme && a.transport === b.transport;
}

/** Config entry: `plugins: [{ plugin: proxy, entrypoints: { web: 127.0.0.1:8080 } }]`. */
export const plugin: PluginModule<ProxySinkOptions, Plugin> = {
  name: 'proxy',
  kind: 'sink',
  optionsSchema,
  parseOptions,
  create: proxySink,
};
