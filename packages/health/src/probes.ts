import { Agent as HttpAgent, request as httpRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CheckDefinition, HealthStatus } from '@signpost/core';

export interface ProbeResult {
  readonly status: HealthStatus;
  readonly output: string;
}

/** Consul keeps the first 4 KB of a check's output. */
export const MAX_OUTPUT = 4096;

// One agent each, without keep-alive: `agent: false` would build an Agent per
// request (measured: most of a check's CPU), and keep-alive would hold a socket
// per checked service between runs. Consul's checks do not keep connections either.
const httpAgent = new HttpAgent({ keepAlive: false, maxSockets: Infinity });
const httpsAgent = new HttpsAgent({ keepAlive: false, maxSockets: Infinity });
const insecureAgent = new HttpsAgent({ keepAlive: false, maxSockets: Infinity, rejectUnauthorized: false });

/** Request options for a check, made once per check definition rather than per run. */
export function httpRequestOptions(def: CheckDefinition): { url: URL; options: RequestOptions } | string {
  let url: URL;
  try {
    url = new URL(def.http!);
  } catch {
    return `invalid check URL ${JSON.stringify(def.http)}`;
  }
  const https = url.protocol === 'https:';
  return {
    url,
    options: {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (https ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: def.method ?? 'GET',
      headers: { 'User-Agent': 'Consul Health Check', Accept: 'text/plain, text/*, */*', Connection: 'close', ...(def.header ?? {}) },
      agent: https ? (def.tlsSkipVerify ? insecureAgent : httpsAgent) : httpAgent,
    },
  };
}

/**
 * An HTTP check as Consul runs it: 2xx passing, 429 warning, anything else or no
 * answer critical. Keep-alive is off (as in Consul), so a check holds no socket
 * between runs and nothing lingers when the instance goes away.
 */
export function httpProbe(def: CheckDefinition, timeoutMs: number, signal: AbortSignal, prepared = httpRequestOptions(def)): Promise<ProbeResult> {
  const target = def.http!;
  const method = def.method ?? 'GET';
  return new Promise((resolve) => {
    if (typeof prepared === 'string') {
      resolve({ status: 'critical', output: prepared });
      return;
    }
    const request = prepared.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request({ ...prepared.options, timeout: timeoutMs, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_OUTPUT) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8').slice(0, MAX_OUTPUT);
        const status: HealthStatus = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
        resolve({ status, output: `HTTP ${method} ${target}: ${code} ${res.statusMessage ?? ''} Output: ${body}`.slice(0, MAX_OUTPUT) });
      });
      res.on('error', (err) => resolve({ status: 'critical', output: `HTTP ${method} ${target}: ${err.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 'critical', output: `HTTP ${method} ${target}: ${err.message}`.slice(0, MAX_OUTPUT) }));
    req.end(def.body ?? undefined);
  });
}

/** A TCP check: passing when a connection opens within the timeout. */
export function tcpProbe(def: CheckDefinition, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  const target = def.tcp!;
  const cut = target.lastIndexOf(':');
  const host = target.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.slice(cut + 1));
  return new Promise((resolve) => {
    if (cut < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      resolve({ status: 'critical', output: `invalid TCP address ${JSON.stringify(target)}` });
      return;
    }
    const socket = connect({ host, port, timeout: timeoutMs, signal });
    const done = (result: ProbeResult): void => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => done({ status: 'passing', output: `TCP connect ${target}: Success` }));
    socket.once('timeout', () => done({ status: 'critical', output: `dial tcp ${target}: i/o timeout` }));
    socket.once('error', (err) => done({ status: 'critical', output: `dial tcp ${target}: ${err.message}` }));
  });
}
