import type { IncomingHttpHeaders } from 'node:http';

/*
 * What an entry point does to a request's headers before routing, as Traefik's
 * forwardedheaders.XForwarded (pkg/middlewares/forwardedheaders/forwarded_header.go)
 * does it, and what the proxy drops on each hop. Pure: headers in, headers out.
 */

export type HeaderMap = Record<string, string | string[]>;

/**
 * The X- headers a proxy manages. From a client that is not trusted they are dropped
 * whole, underscore spellings too (`X_Forwarded_For`: Node keeps them as sent, and some
 * backends' frameworks fold `_` into `-`), then set from what the proxy saw.
 */
const MANAGED = new Set([
  'x-forwarded-proto',
  'x-forwarded-scheme',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-prefix',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-scheme',
  'x-real-ip',
]);

export function isManagedHeader(name: string): boolean {
  return MANAGED.has(name.toLowerCase().replace(/_/g, '-'));
}

/**
 * RFC 9110 §7.6.1's hop-by-hop fields, as Go's httputil.ReverseProxy lists them, plus
 * `expect`: Node already answered the client's `100-continue`, and undici refuses it.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

/**
 * Fields a `Connection` header cannot remove, besides the managed X- headers: the client's
 * Host, which names the site to the backend (`Connection: host` dropped it, HTTP and WebSocket).
 */
const KEPT = new Set(['host']);

/** Header names a `Connection` header lists: they are this hop's alone (RFC 9110 §7.6.1). */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const line of value === undefined ? [] : Array.isArray(value) ? value : [value]) {
    for (const token of line.split(',')) {
      const t = token.trim().toLowerCase();
      if (t) out.add(t);
    }
  }
  return out;
}

export interface ClientFacts {
  /** The peer's address, IPv4-mapped IPv6 unwrapped. */
  readonly clientIp: string;
  /** Whether its forwarded headers are believed (forwardedHeaders.insecure or trustedIPs). */
  readonly trusted: boolean;
  readonly tls: boolean;
  /** X-Forwarded-Server: this proxy's host name. */
  readonly hostname: string;
  /** A WebSocket handshake keeps its Connection/Upgrade and says ws/wss as its proto. */
  readonly websocket: boolean;
}

/**
 * The request's headers as the entry point hands them on: hop-by-hop fields and the
 * fields `Connection` names removed, an untrusted client's forwarded headers removed,
 * then X-Real-Ip, X-Forwarded-Proto/-Port/-Host set where absent, X-Forwarded-Server set,
 * and the client appended to X-Forwarded-For.
 *
 * Two choices differ from a plain reading of RFC 9110: as Traefik, a `Connection` header
 * cannot remove a managed X- header (the proxy sets those itself) nor Host; and unlike Traefik,
 * which passes RFC 7239's `Forwarded` through untouched, an untrusted client's
 * `Forwarded` is dropped too, so a backend that reads it hears no forged address.
 */
export function entryHeaders(headers: IncomingHttpHeaders, facts: ClientFacts): HeaderMap {
  const named = connectionTokens(headers.connection);
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const managed = isManagedHeader(k);
    if (!facts.trusted && (managed || k === 'forwarded')) continue;
    if (HOP_BY_HOP.has(k) || (named.has(k) && !managed && !KEPT.has(k))) continue;
    out[k] = v;
  }
  const host = headers.host;
  out['x-real-ip'] ??= facts.clientIp;
  out['x-forwarded-proto'] ??= facts.websocket ? (facts.tls ? 'wss' : 'ws') : facts.tls ? 'https' : 'http';
  const proto = first(out['x-forwarded-proto']);
  // Traefik takes the port from the Host header, else the scheme's (forwardedPort()).
  out['x-forwarded-port'] ??= portOf(host) ?? (facts.tls || proto === 'https' || proto === 'wss' ? '443' : '80');
  if (host) out['x-forwarded-host'] ??= host;
  out['x-forwarded-server'] = facts.hostname;
  const prior = out['x-forwarded-for'];
  const list = prior === undefined ? '' : Array.isArray(prior) ? prior.join(', ') : prior;
  out['x-forwarded-for'] = list ? `${list}, ${facts.clientIp}` : facts.clientIp;
  if (facts.websocket) {
    out['connection'] = 'Upgrade';
    if (headers.upgrade) out['upgrade'] = headers.upgrade;
  }
  return out;
}

/** A backend's response headers for the client: hop-by-hop fields and those its `Connection` names removed. */
export function responseHeaders(headers: Record<string, string | string[] | undefined>): HeaderMap {
  const named = connectionTokens(headers['connection']);
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !named.has(k)) out[k] = v;
  return out;
}

/** The headers sent upstream over HTTP (not a WebSocket): nothing hop-by-hop survives the middlewares either. */
export function upstreamHeaders(headers: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export function clientAddress(remote: string | undefined): string {
  return (remote ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '').replace(/%.*$/, '');
}

function portOf(host: string | undefined): string | undefined {
  return host ? /^(?:\[[^\]]*\]|[^:]*):(\d+)$/.exec(host)?.[1] : undefined;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
