import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CheckDefinition, HealthStatus } from '@signpost/core';

export interface ProbeResult {
  readonly status: HealthStatus;
  readonly output: string;
}

/** Consul keeps the first 4 KB of a check's output. */
export const MAX_OUTPUT = 4096;

/**
 * An HTTP check as Consul runs it: 2xx passing, 429 warning, anything else or no
 * answer critical. Keep-alive is off (as in Consul), so a check holds no socket
 * between runs and nothing lingers when the instance goes away.
 */
export function httpProbe(def: CheckDefinition, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  const target = def.http!;
  const method = def.method ?? 'GET';
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      resolve({ status: 'critical', output: `invalid check URL ${JSON.stringify(target)}` });
      return;
    }
    const headers: Record<string, string | string[]> = { 'User-Agent': 'Consul Health Check', Accept: 'text/plain, text/*, */*', Connection: 'close', ...(def.header ?? {}) };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method, headers, agent: false, timeout: timeoutMs, signal, ...(url.protocol === 'https:' ? { rejectUnauthorized: !def.tlsSkipVerify } : {}) }, (res) => {
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
