import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import type { Logger } from '@signpost/core';
import type { Balancer, BackendHealth } from './balancer.js';
import type { Body } from './body.js';
import { responseHeaders, upstreamHeaders, type HeaderMap } from './headers.js';
import type { Backend, Router } from './routes.js';
import { stickyCookie, stickyValue, parseCookies } from './sticky.js';
import { DEFAULT_TRANSPORT, type TransportTls } from './transports.js';

/*
 * Sends a routed request to one of its router's backends over a keep-alive undici
 * pool per backend and transport, and its answer back. A backend is ejected only for
 * its own failures (refused, reset, timed out): a client that resets its request,
 * stops reading, or leaves before the answer costs the backend nothing, and the
 * request to the backend is aborted so that its pooled connection is freed.
 */

export interface Live {
  readonly router: Router;
  readonly balancer: Balancer;
}

export interface ForwarderOptions {
  readonly health: BackendHealth;
  readonly transports: ReadonlyMap<string, TransportTls>;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly connectionsPerBackend: number;
  readonly streamingBodiesPerBackend: number;
  readonly logger: () => Logger | undefined;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const BACKEND_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

export class Forwarder {
  readonly #pools = new Map<string, Pool>();
  /** Request bodies still arriving from their clients, per backend: at most streamingBodiesPerBackend. */
  readonly #streaming = new Map<string, number>();

  constructor(private readonly opts: ForwarderOptions) {}

  streaming(key: string): number {
    return this.#streaming.get(key) ?? 0;
  }

  /** Closes the pools of backends no router uses any more (requests in flight finish first). */
  retain(backends: readonly Backend[]): void {
    const inUse = new Set(backends.map(poolKey));
    for (const [key, pool] of this.#pools) {
      if (!inUse.has(key)) {
        this.#pools.delete(key);
        void pool.close().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.#pools.clear();
  }

  forward(req: IncomingMessage, res: ServerResponse, live: Live, headers: HeaderMap, body: Body, tried: Set<string> = new Set()): void {
    const { health } = this.opts;
    const log = this.opts.logger();
    const streaming = body.kind === 'stream';
    // A backend already carrying its share of slow bodies is passed over for another one.
    const full = streaming ? live.router.backends.filter((b) => this.streaming(b.key) >= this.opts.streamingBodiesPerBackend).map((b) => b.key) : [];
    const backend = pick(live, req, new Set([...tried, ...full]), health);
    if (!backend) {
      if (full.length && full.length + tried.size >= live.router.backends.length) {
        log?.warn({ router: live.router.name, url: req.url }, 'every backend carries its limit of streaming request bodies');
        return plain(res, 503, 'Service Unavailable: too many request bodies in flight\n');
      }
      log?.warn({ router: live.router.name, url: req.url }, 'no live backend');
      return plain(res, 503, 'Service Unavailable: no live backend\n');
    }
    tried.add(backend.key);
    health.begin(backend.key);
    const releaseBody = streaming ? this.#holdStreamingSlot(backend.key, req) : (): void => undefined;
    const abort = new AbortController();
    let done = false;
    let clientGone = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      health.end(backend.key);
      releaseBody();
    };
    res.once('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        abort.abort();
      }
      finish();
    });
    const cookie = live.router.stickyCookie;
    if (cookie) res.setHeader('Set-Cookie', stickyCookie(cookie, stickyValue(backend), live.router.stickyCookieAttributes));
    this.#pool(backend).stream(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: upstreamHeaders(headers),
        body: body.kind === 'none' ? null : body.kind === 'buffered' ? body.data : body.stream,
        signal: abort.signal,
      },
      ({ statusCode, headers: answer }) => {
        res.writeHead(statusCode, responseHeaders(answer));
        return res;
      },
      (err: (Error & { code?: string }) | null) => {
        finish();
        if (!err) return;
        const code = err.code ?? '';
        // The client's fault, never the backend's: it left, or its body broke off with its connection.
        // A backend that fails while a body still streams in from a connected client is the backend's.
        if (clientGone || (streaming && !req.complete && (req.destroyed || req.socket.destroyed))) {
          log?.debug({ router: live.router.name, backend: hostPort(backend), err: code || err.message }, 'client went away');
          if (!res.destroyed) res.destroy();
          return;
        }
        const backendFailure = BACKEND_FAILURES.has(code);
        if (backendFailure) health.eject(backend.key);
        // Retry once, on another backend, only if nothing was sent back yet and the request may be repeated whole.
        if (backendFailure && !res.headersSent && tried.size === 1 && IDEMPOTENT.has(req.method ?? '') && !streaming) {
          log?.warn({ router: live.router.name, backend: hostPort(backend), err: code }, 'backend failed; retrying on another');
          return this.forward(req, res, live, headers, body, tried);
        }
        if (res.destroyed || res.writableEnded) return;
        log?.warn({ router: live.router.name, backend: hostPort(backend), err: code || err.message }, 'upstream failure');
        const timeout = code === 'UND_ERR_HEADERS_TIMEOUT';
        plain(res, timeout ? 504 : 502, timeout ? 'Gateway Timeout\n' : 'Bad Gateway\n');
      },
    );
  }

  /** Counts a streaming body against its backend until the body has arrived or the exchange ended. */
  #holdStreamingSlot(key: string, req: IncomingMessage): () => void {
    this.#streaming.set(key, this.streaming(key) + 1);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      req.off('end', release);
      const n = this.streaming(key) - 1;
      if (n <= 0) this.#streaming.delete(key);
      else this.#streaming.set(key, n);
    };
    req.once('end', release);
    return release;
  }

  #pool(b: Backend): Pool {
    const key = poolKey(b);
    let pool = this.#pools.get(key);
    if (!pool) {
      const tls = b.scheme === 'https' ? this.opts.transports.get(b.transport) : undefined;
      if (b.scheme === 'https' && !tls) throw new Error(`no transport named ${b.transport}`);
      pool = new Pool(origin(b), {
        connections: this.opts.connectionsPerBackend,
        pipelining: 1,
        headersTimeout: this.opts.responseTimeoutMs,
        bodyTimeout: this.opts.responseTimeoutMs,
        connect: { timeout: this.opts.connectTimeoutMs, ...(tls ? { ...tls.connect, ca: tls.connect.ca ? [...tls.connect.ca] : undefined } : {}) },
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }
}

export function pick(live: Live, req: IncomingMessage, exclude: ReadonlySet<string>, health: BackendHealth): Backend | undefined {
  const cookie = live.router.stickyCookie;
  if (cookie) {
    const wanted = parseCookies(req.headers.cookie)[cookie];
    const sticky = wanted ? live.router.backends.find((b) => stickyValue(b) === wanted && !exclude.has(b.key)) : undefined;
    if (sticky && health.alive(sticky.key)) return sticky;
  }
  return live.balancer.pick(exclude);
}

export function plain(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

/** Pools are per backend and transport: two transports to one backend verify it differently. */
function poolKey(b: Backend): string {
  return `${b.scheme === 'https' ? b.transport : DEFAULT_TRANSPORT}|${origin(b)}`;
}

export function origin(b: Backend): string {
  return `${b.scheme}://${hostPort(b)}`;
}

export function hostPort(b: Backend): string {
  return b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`;
}
