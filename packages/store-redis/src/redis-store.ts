import { Redis } from 'ioredis';
import {
  applyResult,
  CatalogView,
  planBatch,
  Type,
  validate,
  type ApplyResult,
  type CatalogStore,
  type InstanceChange,
  type Logger,
  type PluginModule,
  type ServiceInstance,
  type Static,
  type StoreContext,
  type StoreEntry,
} from '@signpost/core';

export const optionsSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis:// or rediss:// URL, with credentials if any (default redis://127.0.0.1:6379).' })),
    keyPrefix: Type.Optional(Type.String({ minLength: 1, description: 'Prefix of every key, so several registries can share one Redis (default "signpost:").' })),
    streamMaxLen: Type.Optional(Type.Integer({ minimum: 100, description: 'Commits kept in the stream for replicas catching up (default 100000).' })),
  },
  { additionalProperties: false },
);
export type RedisStoreOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): RedisStoreOptions {
  return validate(optionsSchema, input ?? {}, 'store redis');
}

/*
 * Keys: <prefix>index (the global index, the same on every replica), <prefix>instances
 * (a hash of instance key → JSON), <prefix>commits (a stream: one entry per commit,
 * carrying its index and changes).
 *
 * A commit is planned locally with core's planBatch against this replica's view, then
 * applied by a Lua script only if Redis is still at the index the view had: the
 * batch lands whole or not at all, and a replica that was behind catches up from the
 * stream and plans again. Every replica's view follows the stream in index order,
 * and reloads a snapshot when it finds a gap (the stream was trimmed past it).
 */
const COMMIT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '1')
if current ~= tonumber(ARGV[1]) then return {-1, current} end
if #ARGV == 3 then return {0, current} end
local index = current + 1
redis.call('SET', KEYS[1], index)
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[2], ARGV[i]) else redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'index', index, 'changes', ARGV[3])
return {1, index}
`;

const SNAPSHOT = `
local index = redis.call('GET', KEYS[1]) or '1'
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {index, id, redis.call('HVALS', KEYS[2])}
`;

type Commit = { readonly index: number; readonly changes: ReadonlyArray<readonly [string, ServiceInstance | null]> };

/**
 * The catalog in Redis, shared by several replicas. Each replica serves reads from
 * its own view (core's CatalogView) fed by the commit stream, so reads cost what the
 * memory store's do and every replica answers the same index for the same state.
 */
export class RedisStore extends CatalogView implements CatalogStore {
  readonly name = 'redis';
  readonly #url: string;
  readonly #prefix: string;
  readonly #maxLen: number;
  #client: Redis | undefined;
  #reader: Redis | undefined;
  #lastId = '0-0';
  #running = false;
  #loop: Promise<void> | undefined;
  #logger: Logger | undefined;
  readonly #waiting = new Set<{ index: number; resolve: () => void }>();

  constructor(options: RedisStoreOptions = {}) {
    super();
    const o = parseOptions(options);
    this.#url = o.url ?? 'redis://127.0.0.1:6379';
    this.#prefix = o.keyPrefix ?? 'signpost:';
    this.#maxLen = o.streamMaxLen ?? 100_000;
  }

  get #keys(): [string, string, string] {
    return [`${this.#prefix}index`, `${this.#prefix}instances`, `${this.#prefix}commits`];
  }

  async start(ctx?: StoreContext): Promise<void> {
    this.#logger = ctx?.logger;
    this.#client = new Redis(this.#url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });
    this.#reader = new Redis(this.#url, { lazyConnect: true, maxRetriesPerRequest: null });
    await Promise.all([this.#client.connect(), this.#reader.connect()]);
    await this.#snapshot();
    this.#running = true;
    this.#loop = this.#follow();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#reader?.disconnect();
    await this.#loop?.catch(() => undefined);
    this.#client?.disconnect();
    for (const w of this.#waiting) w.resolve();
    this.#waiting.clear();
    this.close();
  }

  async apply(entries: readonly StoreEntry[]): Promise<ApplyResult> {
    const client = this.#client;
    if (!client) throw new Error('the redis store is not started');
    for (let attempt = 0; attempt < 50; attempt++) {
      const base = this.index;
      const plan = planBatch(this, entries, base + 1);
      const args: string[] = [String(base), String(this.#maxLen), JSON.stringify(plan.changes.map((c) => [c.key, c.after ?? null]))];
      for (const c of plan.changes) args.push(c.key, c.after ? JSON.stringify(c.after) : '');
      const [outcome, index] = (await client.eval(COMMIT, 3, ...this.#keys, ...args)) as [number, number];
      if (outcome === 0) return applyResult(base, plan);
      if (outcome === 1) {
        // Read-your-writes: answer once this replica's view has the commit.
        await this.#reach(index);
        return applyResult(index, plan);
      }
      // Another replica committed first: catch up from the stream, then plan again.
      await this.#reach(index);
    }
    throw new Error('the redis store could not commit: too many concurrent writers');
  }

  /** Loads the whole catalog and the stream position, in one script (a consistent cut). */
  async #snapshot(): Promise<void> {
    const [index, id, values] = (await this.#client!.eval(SNAPSHOT, 3, ...this.#keys)) as [string, string, string[]];
    this.#lastId = id;
    this.reset(Number(index), values.map((v) => JSON.parse(v) as ServiceInstance));
    this.#wake();
  }

  async #follow(): Promise<void> {
    const reader = this.#reader!;
    while (this.#running) {
      let reply: Array<[string, Array<[string, string[]]>]> | null;
      try {
        reply = (await reader.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.#keys[2], this.#lastId)) as typeof reply;
      } catch (err) {
        if (!this.#running) return;
        this.#logger?.warn({ err }, 'reading the redis commit stream failed; retrying');
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      for (const [, items] of reply ?? []) {
        for (const [id, fields] of items) {
          const commit = parseCommit(fields);
          if (commit.index <= this.index) {
            this.#lastId = id;
            continue;
          }
          if (commit.index !== this.index + 1) {
            // A gap: the stream was trimmed past this replica. Start again from a snapshot.
            this.#logger?.warn({ have: this.index, next: commit.index }, 'missed commits in the redis stream; reloading a snapshot');
            await this.#snapshot();
            break;
          }
          const changes: InstanceChange[] = commit.changes.map(([key, after]) => {
            const before = this.instanceByKey(key);
            return after ? (before ? { key, before, after } : { key, after }) : { key, before: before! };
          });
          this.commit(commit.index, changes.filter((c) => c.before || c.after));
          this.#lastId = id;
        }
      }
      this.#wake();
    }
  }

  #reach(index: number): Promise<void> {
    if (this.index >= index) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.add({ index, resolve }));
  }

  #wake(): void {
    for (const w of this.#waiting) {
      if (this.index >= w.index) {
        this.#waiting.delete(w);
        w.resolve();
      }
    }
  }
}

function parseCommit(fields: string[]): Commit {
  const map = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return { index: Number(map.get('index')), changes: JSON.parse(map.get('changes') ?? '[]') as Commit['changes'] };
}

/** Factory: `redisStore({ url, keyPrefix })`. */
export function redisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}

/** Config entry: `store: { plugin: redis, url: redis://127.0.0.1:6379 }`. */
export const store: PluginModule<RedisStoreOptions, CatalogStore> = {
  name: 'redis',
  kind: 'store',
  optionsSchema,
  parseOptions,
  create: redisStore,
};
