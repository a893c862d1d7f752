import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Observable } from 'rxjs';
import { Agent, request, type Dispatcher } from 'undici';
import {
  backoffDelay,
  parseDuration,
  Type,
  validate,
  type InstanceInput,
  type Logger,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type SourceEvent,
  type SourcePlugin,
  type Static,
} from '@signpost/core';
import { eventsOf, FrameSplitter, toInstance, wants, wantsName, type NomadFrame, type NomadService, type ServiceFilter } from './mapping.js';

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Owner id of what it registers (default "nomad").' })),
    address: Type.Optional(Type.String({ pattern: '^https?://', description: 'Nomad HTTP API (default http://127.0.0.1:4646).' })),
    region: Type.Optional(Type.String({ minLength: 1, description: 'Region to query (default: the agent\'s).' })),
    namespace: Type.Optional(Type.String({ minLength: 1, description: 'Namespace to follow, or * for all (default "default").' })),
    token: Type.Optional(Type.String({ description: 'ACL token, sent as X-Nomad-Token (needs namespace:read-job).' })),
    tls: Type.Optional(
      Type.Object(
        {
          ca: Type.Optional(Type.String({ minLength: 1, description: 'CA certificate file (PEM).' })),
          cert: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate file (PEM), for mTLS.' })),
          key: Type.Optional(Type.String({ minLength: 1, description: 'Client key file (PEM).' })),
          serverName: Type.Optional(Type.String({ minLength: 1, description: 'Name to verify the server certificate against.' })),
          insecureSkipVerify: Type.Optional(Type.Boolean({ description: 'Do not verify the server certificate.' })),
        },
        { additionalProperties: false },
      ),
    ),
    services: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Only these service names.' })),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Only services carrying one of these tags.' })),
    heartbeatTimeout: Type.Optional(Type.String({ format: 'duration', description: 'Silence on the event stream after which it reconnects and re-lists (default 45s; Nomad sends a heartbeat every 30s).' })),
    retryMax: Type.Optional(Type.String({ format: 'duration', description: 'Longest wait between reconnects (default 30s).' })),
  },
  { additionalProperties: false },
);
export type NomadSourceOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): NomadSourceOptions {
  const o = validate(optionsSchema, input ?? {}, 'plugin nomad');
  if (o.tls && (o.tls.cert === undefined) !== (o.tls.key === undefined)) throw new Error('plugin nomad: tls: cert and key go together');
  return o;
}

/** Nomad answered with an error status. */
export class NomadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'NomadError';
  }
}

export interface NomadSource extends SourcePlugin {
  /** Connections made (the first, and every reconnect), and resets sent. */
  stats(): { readonly connects: number; readonly resets: number; readonly lastIndex: number };
}

/**
 * Follows a Nomad cluster's native service registrations (`provider = "nomad"`).
 * Each connection opens `/v1/event/stream?topic=Service` first, then lists every
 * service and says the whole state as one `reset`, then applies the stream's
 * events newer than the list. Whatever ends a connection (a drop, a missed
 * heartbeat, an index that goes backwards, an error status) leads to a reconnect
 * with capped backoff and jitter, and so to a fresh list and reset: nothing
 * deregistered while disconnected lingers, however small Nomad's event buffer.
 */
export function nomadSource(options: NomadSourceOptions = {}): NomadSource {
  const opts = parseOptions(options);
  const name = opts.name ?? 'nomad';
  const base = (opts.address ?? 'http://127.0.0.1:4646').replace(/\/$/, '');
  const namespace = opts.namespace ?? 'default';
  const filter: ServiceFilter = { ...(opts.services ? { services: opts.services } : {}), ...(opts.tags ? { tags: opts.tags } : {}) };
  const heartbeatMs = parseDuration(opts.heartbeatTimeout ?? '45s');
  const retryMaxMs = parseDuration(opts.retryMax ?? '30s');
  let ctx: PluginContext | undefined;
  let dispatcher: Dispatcher | undefined;
  let connects = 0;
  let resets = 0;
  let lastIndex = 0;

  const headers = (): Record<string, string> => (opts.token ? { 'x-nomad-token': opts.token } : {});
  const query = (params: Record<string, string>): string => {
    const q = new URLSearchParams(params);
    if (opts.region) q.set('region', opts.region);
    return q.toString();
  };

  const get = async (path: string, params: Record<string, string>, signal: AbortSignal): Promise<Dispatcher.ResponseData> => {
    const url = `${base}${path}?${query(params)}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers: headers(), signal, dispatcher: dispatcher!, headersTimeout: heartbeatMs, bodyTimeout: 0 });
    } catch (err) {
      throw new Error(`nomad at ${base} is unreachable (GET ${path}): ${(err as Error).message}`, { cause: err });
    }
    if (res.statusCode !== 200) {
      const text = (await res.body.text().catch(() => '')).trim().slice(0, 300);
      const hint = res.statusCode === 403 ? ` (the token needs namespace:read-job on namespace "${namespace}")` : '';
      throw new NomadError(res.statusCode, `nomad at ${base} answered GET ${path} with ${res.statusCode}: ${text || '(no body)'}${hint}`);
    }
    return res;
  };

  const getJson = async <T>(path: string, params: Record<string, string>, signal: AbortSignal): Promise<{ body: T; index: number }> => {
    const res = await get(path, params, signal);
    const index = Number(res.headers['x-nomad-index'] ?? 0);
    return { body: (await res.body.json()) as T, index: Number.isFinite(index) ? index : 0 };
  };

  /** Every wanted registration, and the highest index any list answered at. */
  const list = async (signal: AbortSignal): Promise<{ instances: InstanceInput[]; index: number }> => {
    const services = await getJson<Array<{ Namespace: string; Services: Array<{ ServiceName: string; Tags: string[] | null }> }>>('/v1/services', { namespace }, signal);
    let index = services.index;
    const instances: InstanceInput[] = [];
    for (const ns of services.body ?? []) {
      for (const svc of ns.Services ?? []) {
        if (!wantsName(filter, svc.ServiceName)) continue;
        const regs = await getJson<NomadService[] | null>(`/v1/service/${encodeURIComponent(svc.ServiceName)}`, { namespace: ns.Namespace }, signal);
        index = Math.max(index, regs.index);
        for (const reg of regs.body ?? []) if (wants(filter, reg)) instances.push(toInstance(reg));
      }
    }
    return { instances, index };
  };

  const connect = async (log: Logger, signal: AbortSignal, emit: (events: SourceEvent[]) => void): Promise<void> => {
    connects++;
    const abort = new AbortController();
    const onOuterAbort = (): void => abort.abort(signal.reason);
    signal.addEventListener('abort', onOuterAbort, { once: true });
    let watchdog: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(new Error(`no heartbeat from nomad's event stream for ${opts.heartbeatTimeout ?? '45s'}`)), heartbeatMs);
    };
    try {
      // The stream first, then the list: what changes while listing is in the stream.
      arm();
      const res = await get('/v1/event/stream', { topic: 'Service', namespace, index: String(lastIndex + 1) }, abort.signal);
      const queue: NomadFrame[] = [];
      let wake: (() => void) | undefined;
      let ended: Error | 'end' | undefined;
      const splitter = new FrameSplitter();
      res.body.on('data', (chunk: Buffer) => {
        arm();
        try {
          queue.push(...splitter.push(chunk));
        } catch (err) {
          ended = err as Error;
          abort.abort(err);
        }
        wake?.();
      });
      res.body.on('end', () => {
        ended ??= 'end';
        wake?.();
      });
      res.body.on('error', (err: Error) => {
        ended ??= err;
        wake?.();
      });

      const listed = await list(abort.signal);
      emit([{ type: 'reset', instances: listed.instances }]);
      resets++;
      log.info({ address: base, namespace, instances: listed.instances.length, index: listed.index }, 'nomad services listed; following the event stream');
      lastIndex = Math.max(lastIndex, listed.index);
      let streamIndex = 0;
      for (;;) {
        while (queue.length) {
          const frame = queue.shift()!;
          if (frame.Index === undefined) continue; // a heartbeat
          if (frame.Index < streamIndex) {
            throw new Error(`nomad's event index went back from ${streamIndex} to ${frame.Index} (a restored or new cluster); listing again`);
          }
          streamIndex = frame.Index;
          if (frame.Index <= listed.index) continue; // the list already has it
          const events = eventsOf(frame, filter);
          if (events.length) emit(events);
          lastIndex = Math.max(lastIndex, frame.Index);
        }
        if (ended === 'end') throw new Error('nomad closed the event stream');
        if (ended) throw ended;
        if (abort.signal.aborted) throw abort.signal.reason instanceof Error ? abort.signal.reason : new Error(String(abort.signal.reason));
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onOuterAbort);
      abort.abort();
    }
  };

  return {
    name,
    // Every replica following the cluster sees the same registrations: one owner for all.
    ownership: 'shared',
    async start(c) {
      ctx = c;
      const tls = opts.tls;
      const file = (path: string): Buffer => readFileSync(resolve(c.baseDir, path));
      dispatcher = new Agent({
        connect: tls
          ? {
              ...(tls.ca ? { ca: file(tls.ca) } : {}),
              ...(tls.cert ? { cert: file(tls.cert), key: file(tls.key!) } : {}),
              ...(tls.serverName ? { servername: tls.serverName } : {}),
              rejectUnauthorized: !tls.insecureSkipVerify,
            }
          : {},
      });
    },
    async stop() {
      await dispatcher?.close().catch(() => undefined);
      dispatcher = undefined;
    },
    events() {
      const c = ctx;
      if (!c) throw new Error('nomad source: events() before start()');
      return new Observable<SourceEvent[]>((subscriber) => {
        const stop = new AbortController();
        void (async () => {
          let attempt = 0;
          while (!stop.signal.aborted) {
            const before = resets;
            try {
              await connect(c.logger, stop.signal, (events) => subscriber.next(events));
            } catch (err) {
              if (stop.signal.aborted) break;
              // A connection that got as far as a reset starts the backoff over.
              if (resets > before) attempt = 0;
              attempt++;
              const ms = backoffDelay(attempt, { initialMs: 500, maxMs: retryMaxMs });
              const level = err instanceof NomadError && err.status === 403 ? 'error' : 'warn';
              c.logger[level]({ err: (err as Error).message, attempt, retryInMs: ms }, 'nomad connection ended; reconnecting, then listing again');
              await new Promise<void>((r) => {
                const t = setTimeout(r, ms);
                stop.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
              });
            }
          }
        })();
        return () => stop.abort(new Error('unsubscribed'));
      });
    },
    stats: () => ({ connects, resets, lastIndex }),
  };
}

/** Config entry: `plugins: [{ plugin: nomad, address: http://127.0.0.1:4646 }]`. */
export const plugin: PluginModule<NomadSourceOptions, Plugin> = {
  name: 'nomad',
  kind: 'source',
  optionsSchema,
  parseOptions,
  create: nomadSource,
};
