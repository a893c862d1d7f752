import type { Subscription } from 'rxjs';
import {
  backoffDelay,
  instanceHealth,
  parseDuration,
  Type,
  validate,
  type CatalogEvent,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type Static,
} from '@signpost/core';

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Plugin name (default "webhook").' })),
    url: Type.String({ pattern: '^https?://', description: 'Where each batch of changes is POSTed.' }),
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Extra request headers (an Authorization, say).' })),
    batchWindow: Type.Optional(Type.String({ format: 'duration', description: 'How long changes gather before a POST (default 100ms).' })),
    maxBatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'Changes per POST at most (default 100).' })),
    maxQueue: Type.Optional(Type.Integer({ minimum: 1, description: 'Changes kept while the receiver is down; the oldest go first (default 10000).' })),
    timeout: Type.Optional(Type.String({ format: 'duration', description: 'Per request (default 5s).' })),
    retryMax: Type.Optional(Type.String({ format: 'duration', description: 'Longest wait between retries of a batch (default 30s).' })),
    onlyLeader: Type.Optional(Type.Boolean({ description: 'With replicas sharing a store, only the elected one sends (default true).' })),
  },
  { additionalProperties: false },
);
export type WebhookSinkOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): WebhookSinkOptions {
  return validate(optionsSchema, input, 'plugin webhook');
}

/** One change as the receiver gets it. */
export interface WebhookChange {
  readonly type: 'upsert' | 'remove';
  readonly index: number;
  readonly service: string;
  readonly id: string;
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly health: 'passing' | 'warning' | 'critical';
}

export interface WebhookStats {
  readonly delivered: number;
  readonly batches: number;
  readonly failures: number;
  readonly dropped: number;
  readonly pending: number;
}

export interface WebhookSink extends Plugin {
  stats(): WebhookStats;
}

/** Pure: a catalog delta as the receiver sees it (snapshots are not sent). */
export function toChange(event: CatalogEvent): WebhookChange | undefined {
  if (event.type === 'snapshot') return undefined;
  const i = event.instance;
  return {
    type: event.type,
    index: event.index,
    service: i.service,
    id: i.id,
    node: i.node,
    address: i.address,
    port: i.port,
    tags: i.tags,
    health: instanceHealth(i),
  };
}

/**
 * POSTs catalog changes to a URL as `{ "index": n, "changes": [...] }`, gathered
 * for `batchWindow` (or until `maxBatch`), one request at a time and in order. A
 * failed POST is retried with capped backoff; meanwhile changes queue up to
 * `maxQueue`, the oldest dropped first (and counted).
 */
export function webhookSink(options: WebhookSinkOptions): WebhookSink {
  const opts = parseOptions(options);
  const windowMs = parseDuration(opts.batchWindow ?? '100ms');
  const maxBatch = opts.maxBatch ?? 100;
  const maxQueue = opts.maxQueue ?? 10_000;
  const timeoutMs = parseDuration(opts.timeout ?? '5s');
  const retryMaxMs = parseDuration(opts.retryMax ?? '30s');
  const queue: WebhookChange[] = [];
  const subscriptions: Subscription[] = [];
  let ctx: PluginContext | undefined;
  let leading = opts.onlyLeader === false;
  let timer: NodeJS.Timeout | undefined;
  let sending: Promise<void> | undefined;
  let stopping: AbortController | undefined;
  let delivered = 0;
  let batches = 0;
  let failures = 0;
  let dropped = 0;

  const post = async (batch: readonly WebhookChange[], signal: AbortSignal): Promise<void> => {
    const res = await fetch(opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers },
      body: JSON.stringify({ index: batch.at(-1)!.index, changes: batch }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    await res.body?.cancel();
    if (res.status < 200 || res.status > 299) throw new Error(`${opts.url} answered ${res.status}`);
  };

  const deliver = async (signal: AbortSignal): Promise<void> => {
    while (queue.length && !signal.aborted) {
      const batch = queue.slice(0, maxBatch);
      for (let attempt = 1; !signal.aborted; attempt++) {
        try {
          await post(batch, signal);
          break;
        } catch (err) {
          if (signal.aborted) return;
          failures++;
          const ms = backoffDelay(attempt, { initialMs: 200, maxMs: retryMaxMs });
          ctx?.logger.warn({ err: (err as Error).message, changes: batch.length, attempt, retryInMs: ms }, 'webhook delivery failed; retrying');
          await new Promise<void>((r) => {
            const t = setTimeout(r, ms);
            signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
          });
        }
      }
      if (signal.aborted) return;
      // Drops take from the front while a batch is out: remove up to the batch's last change, wherever it is now.
      queue.splice(0, queue.indexOf(batch.at(-1)!) + 1);
      delivered += batch.length;
      batches++;
    }
  };

  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (sending || !queue.length || !stopping) return;
    const signal = stopping.signal;
    sending = deliver(signal).finally(() => {
      sending = undefined;
      if (queue.length && !signal.aborted) schedule();
    });
  };

  const schedule = (): void => {
    if (queue.length >= maxBatch) return flush();
    timer ??= setTimeout(flush, windowMs);
  };

  const onEvent = (event: CatalogEvent): void => {
    if (!leading) return;
    const change = toChange(event);
    if (!change) return;
    queue.push(change);
    if (queue.length > maxQueue) {
      queue.shift();
      if (dropped++ === 0) ctx?.logger.warn({ maxQueue }, 'webhook queue full; dropping the oldest changes');
    }
    schedule();
  };

  return {
    name: opts.name ?? 'webhook',
    async start(c) {
      ctx = c;
      stopping = new AbortController();
      if (opts.onlyLeader !== false) {
        subscriptions.push(
          c.elect(`webhook:${opts.name ?? 'webhook'}`).subscribe((lead) => {
            if (lead !== leading) c.logger.info({ leading: lead }, lead ? 'sending webhooks' : 'another replica sends the webhooks');
            leading = lead;
          }),
        );
      }
      subscriptions.push(c.catalog.follow(onEvent));
    },
    async stop() {
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      flush();
      // What is in flight gets one request's time to land; then everything stops.
      const grace = setTimeout(() => stopping?.abort(), timeoutMs);
      await sending;
      clearTimeout(grace);
      stopping?.abort();
      clearTimeout(timer);
      if (queue.length) ctx?.logger.warn({ pending: queue.length }, 'stopping with webhook changes not delivered');
    },
    stats: () => ({ delivered, batches, failures, dropped, pending: queue.length }),
  };
}

/** Config entry: `plugins: [{ plugin: "@acme/signpost-sink-webhook", url: ... }]`. */
export const plugin: PluginModule<WebhookSinkOptions, Plugin> = {
  name: 'webhook',
  kind: 'sink',
  optionsSchema,
  parseOptions,
  create: webhookSink,
};
