import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { NomadFrame, NomadService } from '../mapping.js';

const fixture = (name: string): string => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');

/** The docs' two sample registrations of example-cache-redis. */
export const sampleServices = (): NomadService[] => JSON.parse(fixture('service-example-cache-redis.json')) as NomadService[];
/** The sample stream frame registering the second one. */
export const sampleFrame = (): NomadFrame => JSON.parse(fixture('stream-registration.ndjson')) as NomadFrame;

/**
 * A protocol double of Nomad's HTTP API, serving the documented request and
 * response shapes of /v1/services, /v1/service/:name and /v1/event/stream, with
 * switches for what a real cluster does to a client: heartbeats, frames split
 * across writes, dropped connections, error statuses.
 */
export class NomadDouble {
  readonly registrations = new Map<string, NomadService>();
  readonly requests: Array<{ path: string; query: URLSearchParams; token: string | undefined }> = [];
  /** Answer every request with this status (403, 500) until cleared. */
  failWith: { status: number; body: string } | undefined;
  index = 40;
  #server: Server | undefined;
  readonly #streams = new Set<ServerResponse>();

  #scheme = 'http';

  get url(): string {
    const a = this.#server!.address() as { port: number };
    return `${this.#scheme}://127.0.0.1:${a.port}`;
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  /** With `tls`, serves HTTPS; with `tls.ca`, asks for and verifies a client certificate (mTLS). */
  async start(tls?: { key: Buffer; cert: Buffer; ca?: Buffer }): Promise<void> {
    for (const s of sampleServices()) this.registrations.set(s.ID, s);
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.#handle(req, res);
    this.#scheme = tls ? 'https' : 'http';
    this.#server = tls
      ? createTlsServer({ key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : createServer(handler);
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
  }

  async stop(): Promise<void> {
    this.drop();
    await new Promise((r) => this.#server?.close(r));
  }

  /** Registers (or changes) a service in the state, and tells open streams. */
  register(s: NomadService, announce = true): void {
    this.index++;
    const reg = { ...s, ModifyIndex: this.index };
    this.registrations.set(s.ID, reg);
    if (announce) this.send(frame(this.index, 'ServiceRegistration', reg));
  }

  deregister(id: string, announce = true): void {
    const s = this.registrations.get(id);
    if (!s) return;
    this.index++;
    this.registrations.delete(id);
    if (announce) this.send(frame(this.index, 'ServiceDeregistration', s));
  }

  /** Writes one NDJSON object to every open stream, whole or in two writes. */
  send(f: NomadFrame | Record<string, never>, split = false): void {
    const line = `${JSON.stringify(f)}\n`;
    for (const res of this.#streams) {
      if (!split) res.write(line);
      else {
        res.write(line.slice(0, 17));
        setTimeout(() => res.write(line.slice(17)), 30);
      }
    }
  }

  heartbeat(): void {
    this.send({});
  }

  /** Cuts every open event stream, as a restarting server or a broken network would. */
  drop(): void {
    for (const res of this.#streams) res.destroy();
    this.#streams.clear();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const token = req.headers['x-nomad-token'];
    this.requests.push({ path: url.pathname, query: url.searchParams, token: Array.isArray(token) ? token[0] : token });
    if (this.failWith) {
      res.writeHead(this.failWith.status, { 'content-type': 'text/plain' }).end(this.failWith.body);
      return;
    }
    const ns = url.searchParams.get('namespace') ?? 'default';
    const inNs = (s: NomadService): boolean => ns === '*' || s.Namespace === ns;
    if (url.pathname === '/v1/services') {
      const byNs = new Map<string, Map<string, Set<string>>>();
      for (const s of this.registrations.values()) {
        if (!inNs(s)) continue;
        const names = byNs.get(s.Namespace) ?? new Map<string, Set<string>>();
        byNs.set(s.Namespace, names);
        const tags = names.get(s.ServiceName) ?? new Set<string>();
        names.set(s.ServiceName, tags);
        for (const t of s.Tags ?? []) tags.add(t);
      }
      const body = [...byNs].map(([Namespace, names]) => ({ Namespace, Services: [...names].map(([ServiceName, tags]) => ({ ServiceName, Tags: [...tags].sort() })) }));
      res.writeHead(200, { 'content-type': 'application/json', 'x-nomad-index': String(this.index) }).end(JSON.stringify(body));
      return;
    }
    const one = /^\/v1\/service\/([^/]+)$/.exec(url.pathname);
    if (one) {
      const name = decodeURIComponent(one[1]!);
      const body = [...this.registrations.values()].filter((s) => s.ServiceName === name && inNs(s));
      res.writeHead(200, { 'content-type': 'application/json', 'x-nomad-index': String(this.index) }).end(JSON.stringify(body));
      return;
    }
    if (url.pathname === '/v1/event/stream') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.#streams.add(res);
      res.on('close', () => this.#streams.delete(res));
      return;
    }
    res.writeHead(404).end('404 page not found');
  }
}

function frame(index: number, type: 'ServiceRegistration' | 'ServiceDeregistration', s: NomadService): NomadFrame {
  return {
    Index: index,
    Events: [{ Topic: 'Service', Type: type, Key: s.ID, Namespace: s.Namespace, Index: index, Payload: { Service: s } }],
  };
}
