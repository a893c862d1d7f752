import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect, isIP } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { CHECK_OUTPUT_MAX, checkOutputLimit, type CheckDefinition, type HealthStatus } from '@signpost/core';
import type { ProbeTls } from './check-tls.js';

export interface ProbeResult {
  readonly status: HealthStatus;
  readonly output: string;
}

/** The catalog keeps the first 4 KB of a check's output. */
export const MAX_OUTPUT = CHECK_OUTPUT_MAX;

/** The agents the probes' requests go through: plain HTTP, HTTPS, and HTTPS for `tlsSkipVerify`; and the TLS of `tcpUseTls` checks. */
export interface ProbeAgents {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
  readonly insecure: HttpsAgent;
  /** The CA and client certificate of `tls`, parsed once: TCP+TLS checks connect with it. */
  readonly secureContext: SecureContext;
}

/**
 * One agent each, without keep-alive: `agent: false` would build an Agent per
 * request (measured: most of a check's CPU), and keep-alive would hold a socket
 * per checked service between runs. Consul's checks do not keep connections either.
 * With `tls`, HTTPS checks trust its CA instead of the system's roots and present
 * its client certificate, as Consul's do with `enable_agent_tls_for_checks`; a check
 * with `tlsSkipVerify` presents the certificate too (Go sets InsecureSkipVerify on
 * the same config).
 */
export function probeAgents(tls: ProbeTls = {}): ProbeAgents {
  const base = { keepAlive: false, maxSockets: Infinity };
  const client = { ...(tls.cert !== undefined ? { cert: tls.cert } : {}), ...(tls.key !== undefined ? { key: tls.key } : {}) };
  return {
    http: new HttpAgent(base),
    https: new HttpsAgent({ ...base, ...client, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) }),
    insecure: new HttpsAgent({ ...base, ...client, rejectUnauthorized: false }),
    // Without a CA of its own, Node's bundled roots, as the HTTPS agent has.
    secureContext: createSecureContext({ ...client, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) }),
  };
}

const defaultAgents = probeAgents();

/** A request to make: where, and with what options, body and agents. */
export interface PreparedRequest {
  readonly url: URL;
  readonly options: RequestOptions;
  readonly body: string | undefined;
  readonly agents: ProbeAgents;
}

/** How a check talks TLS: Consul's TLSSkipVerify and TLSServerName. */
type TlsSettings = Pick<CheckDefinition, 'tlsSkipVerify' | 'tlsServerName'>;

function requestTo(url: URL, method: string, headers: NonNullable<RequestOptions['headers']>, tls: TlsSettings, agents: ProbeAgents): RequestOptions & { servername?: string } {
  const https = url.protocol === 'https:';
  return {
    // Consul sets it on the check's whole TLS config, so it holds after a redirect to another host too.
    ...(https && tls.tlsServerName ? { servername: tls.tlsServerName } : {}),
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || (https ? 443 : 80),
    path: `${url.pathname}${url.search}`,
    method,
    headers,
    agent: https ? (tls.tlsSkipVerify ? agents.insecure : agents.https) : agents.http,
  };
}

/** Go's words for a URL it will not fetch. */
function unsupportedScheme(url: URL): string | undefined {
  return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : `unsupported protocol scheme ${JSON.stringify(url.protocol.slice(0, -1))}`;
}

/** Request options for a check, made once per check definition rather than per run. */
export function httpRequestOptions(def: CheckDefinition, agents: ProbeAgents = defaultAgents): PreparedRequest | string {
  let url: URL;
  try {
    url = new URL(def.http!);
  } catch {
    return `invalid check URL ${JSON.stringify(def.http)}`;
  }
  const refused = unsupportedScheme(url);
  if (refused) return `HTTP ${def.method ?? 'GET'} ${def.http}: ${refused}`;
  const headers = { 'User-Agent': 'Consul Health Check', Accept: 'text/plain, text/*, */*', Connection: 'close', ...(def.header ?? {}) };
  return { url, options: requestTo(url, def.method ?? 'GET', headers, def, agents), body: def.body, agents };
}

/** The statuses Go's `http.Client` follows when the response names a `Location`. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Go's default redirect policy: "stopped after 10 redirects", counting every request made. */
export const MAX_REQUESTS = 10;
/** Headers Go forwards on a redirect only to the same host or one of its subdomains. */
const SENSITIVE = new Set(['authorization', 'www-authenticate', 'cookie', 'cookie2']);

/**
 * The request that follows a redirect as Go's `http.Client` (which Consul's HTTP checks
 * use) makes it, or why there is none: 301, 302 and 303 turn into a GET without a
 * body (a HEAD stays one), 307 and 308 repeat the method and body; the first
 * request's headers go along, but for Host, which is the new URL's, and the
 * credentials and cookies, which go only to the first host or its subdomains. The
 * Location is read against the URL that answered.
 * https://pkg.go.dev/net/http#Client (redirects and headers), `redirectBehavior` in Go's
 * net/http/client.go (methods and bodies).
 */
export function redirectRequest(first: PreparedRequest, from: PreparedRequest, code: number, location: string, tls: TlsSettings): PreparedRequest | string {
  let url: URL;
  try {
    url = new URL(location, from.url);
  } catch {
    return `failed to parse Location header ${JSON.stringify(location)}`;
  }
  const refused = unsupportedScheme(url);
  if (refused) return refused;
  const method = from.options.method ?? 'GET';
  const keep = code === 307 || code === 308;
  const trusted = url.hostname === first.url.hostname || url.hostname.endsWith(`.${first.url.hostname}`);
  const headers = Object.fromEntries(
    Object.entries(first.options.headers ?? {}).filter(([name]) => {
      const lower = name.toLowerCase();
      return lower !== 'host' && (trusted || !SENSITIVE.has(lower));
    }),
  );
  return { url, options: requestTo(url, keep || method === 'GET' || method === 'HEAD' ? method : 'GET', headers, tls, from.agents), body: keep ? from.body : undefined, agents: from.agents };
}

/**
 * A run whose deadline timer fires more than this late was not given the CPU (the
 * probe process at idle priority on a saturated host, or a stalled event loop): the
 * target may well have answered in time, so the run counts for nothing rather than as
 * a timeout. Node's timers are otherwise late by milliseconds.
 */
export const STARVED_AFTER_MS = 1000;

/**
 * Calls `stop` when `signal` aborts, until the returned function is called. The probes
 * listen themselves rather than hand the signal to `http.request` or `net.connect`:
 * Node then ties it to the stream's end-of-stream machinery, measured at 30–40 µs of
 * CPU a check (of 170–240 µs in all; 8,000 checks at 1,000/s against nginx, three
 * rounds, 2026-12-01), and its cost lands on the core that may be answering DNS.
 */
function onAbort(signal: AbortSignal, stop: () => void): () => void {
  signal.addEventListener('abort', stop, { once: true });
  return () => signal.removeEventListener('abort', stop);
}

/** The output of a run that the checker stopped (its check was removed, or the checker stopped). */
const ABORTED = 'The operation was aborted';

/**
 * Calls `expired` once `timeoutMs` have passed, with `starved` true if this process
 * only got to notice it more than `STARVED_AFTER_MS` later.
 */
function deadline(timeoutMs: number, expired: (starved: boolean) => void): NodeJS.Timeout {
  const due = performance.now() + timeoutMs;
  return setTimeout(() => expired(performance.now() - due > STARVED_AFTER_MS), timeoutMs);
}

/**
 * The body as the output keeps it: its first `limit` bytes (the check's
 * `outputMaxSize`, at most 4 KB), a character cut at the end left out. Consul's
 * checks read the body into a ring buffer (armon/circbuf) and so keep its last
 * bytes instead; Signpost keeps the first, as the catalog cuts every check's output
 * (TTL updates included) the same way.
 */
function bodyText(chunks: Buffer[], size: number, limit: number): string {
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (size <= limit) return body.toString('utf8');
  // Streaming, the decoder holds back a character cut at the end instead of making it U+FFFD.
  return new TextDecoder().decode(body.subarray(0, limit), { stream: true });
}

/**
 * An HTTP check as Consul runs it: 2xx passing, 429 warning, anything else or no
 * answer within the timeout (the whole exchange, redirects included, as Go's
 * `http.Client.Timeout`) critical. Redirects are followed as Go's client follows them
 * (see `redirectRequest`), unless the check sets `disableRedirects`: Consul's
 * `DisableRedirects` (default false; https://github.com/hashicorp/consul/pull/12685),
 * and then a 3xx is the answer, and critical. Keep-alive is off (as in Consul), so a
 * check holds no socket between runs and nothing lingers when the instance goes away.
 * Resolves `undefined` when the run says nothing about the target (see
 * `STARVED_AFTER_MS`).
 */
export function httpProbe(def: CheckDefinition, timeoutMs: number, signal: AbortSignal, prepared = httpRequestOptions(def)): Promise<ProbeResult | undefined> {
  const target = def.http!;
  const method = def.method ?? 'GET';
  const limit = checkOutputLimit(def);
  return new Promise((resolve) => {
    if (typeof prepared === 'string') {
      resolve({ status: 'critical', output: prepared });
      return;
    }
    if (signal.aborted) {
      resolve({ status: 'critical', output: `HTTP ${method} ${target}: ${ABORTED}` });
      return;
    }
    const settle = (result: ProbeResult | undefined): void => {
      clearTimeout(timer);
      unlisten();
      resolve(result);
    };
    const failed = (message: string): void => settle({ status: 'critical', output: `HTTP ${method} ${target}: ${message}`.slice(0, MAX_OUTPUT) });
    let current: ClientRequest;
    let requests = 0;
    const send = (at: PreparedRequest): void => {
      requests++;
      const request = at.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = request(at.options, (res) => {
        const code = res.statusCode ?? 0;
        const location = res.headers.location;
        if (location && REDIRECTS.has(code) && !def.disableRedirects) {
          // This answer is only a pointer: read it off so its connection closes.
          res.resume();
          if (requests >= MAX_REQUESTS) return failed(`stopped after ${MAX_REQUESTS} redirects`);
          const next = redirectRequest(prepared, at, code, location, def);
          return typeof next === 'string' ? failed(next) : send(next);
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < limit) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => {
          const body = bodyText(chunks, size, limit);
          const status: HealthStatus = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
          settle({ status, output: `HTTP ${method} ${target}: ${code} ${res.statusMessage ?? ''} Output: ${body}`.slice(0, MAX_OUTPUT) });
        });
        res.on('error', (err) => failed(err.message));
      });
      current = req;
      // A request left behind by a redirect may still end badly; the run has moved on.
      req.on('error', (err) => req === current && failed(err.message));
      req.end(at.body);
    };
    send(prepared);
    const timer = deadline(timeoutMs, (starved) => {
      if (starved) settle(undefined);
      else failed(`timed out after ${timeoutMs} ms`);
      current.destroy();
    });
    const unlisten = onAbort(signal, () => current.destroy(new Error(ABORTED)));
  });
}

/**
 * A TCP check: passing when a connection opens within the timeout (`undefined` as for
 * `httpProbe`). With `tcpUseTls` (Consul's TCPUseTLS) the TLS handshake must complete
 * too, the certificate held to `tlsServerName` (or the host) and `agents`' CA unless
 * `tlsSkipVerify`, and the output says `TCP+TLS`, as Consul's.
 */
export function tcpProbe(def: CheckDefinition, timeoutMs: number, signal: AbortSignal, agents: ProbeAgents = defaultAgents): Promise<ProbeResult | undefined> {
  const target = def.tcp!;
  const cut = target.lastIndexOf(':');
  const host = target.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.slice(cut + 1));
  const kind = def.tcpUseTls ? 'TCP+TLS' : 'TCP';
  return new Promise((resolve) => {
    if (cut < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      resolve({ status: 'critical', output: `invalid TCP address ${JSON.stringify(target)}` });
      return;
    }
    const aborted: ProbeResult = { status: 'critical', output: `dial tcp ${target}: ${ABORTED}` };
    if (signal.aborted) {
      resolve(aborted);
      return;
    }
    const servername = def.tlsServerName ?? (isIP(host) ? undefined : host);
    const socket = def.tcpUseTls
      ? tlsConnect({ host, port, secureContext: agents.secureContext, rejectUnauthorized: !def.tlsSkipVerify, ...(servername ? { servername } : {}) })
      : connect({ host, port });
    const done = (result: ProbeResult | undefined): void => {
      clearTimeout(timer);
      unlisten();
      socket.destroy();
      resolve(result);
    };
    const unlisten = onAbort(signal, () => done(aborted));
    const timer = deadline(timeoutMs, (starved) => done(starved ? undefined : { status: 'critical', output: `dial tcp ${target}: i/o timeout` }));
    socket.once(def.tcpUseTls ? 'secureConnect' : 'connect', () => done({ status: 'passing', output: `${kind} connect ${target}: Success` }));
    socket.once('error', (err) => done({ status: 'critical', output: `${def.tcpUseTls ? `${kind} connect` : 'dial tcp'} ${target}: ${err.message}` }));
  });
}
