import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { Observable } from 'rxjs';
import {
  applyResult,
  CatalogView,
  instanceKey,
  parseDuration,
  planBatch,
  silentLogger,
  StoreUnavailableError,
  Type,
  validate,
  type ApplyResult,
  type BatchPlan,
  type CatalogReader,
  type CatalogStore,
  type InstanceChange,
  type InstanceSpec,
  type Logger,
  type PluginModule,
  type ServiceInstance,
  type Static,
  type StoreContact,
  type StoreContext,
  type StoreEntry,
} from '@signpost/core';
import { loadReplicaId } from './identity.js';
import { ACQUIRE, CHECK, CLAIM, COMMIT, INIT, LEASE, REAP, RELEASE, SNAPSHOT, UNCLAIM, type CatalogKeys } from './scripts.js';

export const optionsSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis:// or rediss:// URL, with user:password@ if needed (default redis://127.0.0.1:6379).' })),
    username: Type.Optional(Type.String({ minLength: 1, description: 'ACL user (overrides the URL).' })),
    password: Type.Optional(Type.String({ description: 'Password (overrides the URL).' })),
    keyPrefix: Type.Optional(Type.String({ minLength: 1, description: 'Prefix of every key, so several registries can share one Redis (default "signpost:").' })),
    leaseTtl: Type.Optional(Type.String({ format: 'duration', description: 'How long what a replica registered outlives the replica (default 30s).' })),
    sentinels: Type.Optional(
      Type.Array(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$', description: 'host:port of a Sentinel' }), { minItems: 1, description: 'Sentinels to ask for the primary (with name).' }),
    ),
    name: Type.Optional(Type.String({ minLength: 1, description: 'The primary name the sentinels monitor.' })),
    waitReplicas: Type.Optional(Type.Integer({ minimum: 0, description: 'Redis replicas a commit must reach before it is acknowledged (WAIT); default 0.' })),
    waitTimeout: Type.Optional(Type.String({ format: 'duration', description: 'How long to wait for them (default 1s).' })),
    timeout: Type.Optional(Type.String({ format: 'duration', description: 'A Redis command slower than this fails, and the store reports Redis unavailable (default 2s).' })),
    streamMaxLen: Type.Optional(Type.Integer({ minimum: 100, description: 'Commits kept in the stream for replicas catching up (default 100000).' })),
    readOnly: Type.Optional(Type.Boolean({ description: 'Only follow the catalog: no writes, no lease (an edge proxy).' })),
  },
  { additionalProperties: false },
);
export type RedisStoreOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): RedisStoreOptions {
  const o = validate(optionsSchema, input ?? {}, 'store redis');
  if (o.sentinels && !o.name) throw new Error('store redis: name: required with sentinels (the primary name they monitor, e.g. mymaster)');
  if (o.name && !o.sentinels) throw new Error('store redis: sentinels: required with name');
  return o;
}

type Commit = { readonly index: number; readonly reaped: boolean; readonly changes: ReadonlyArray<readonly [string, ServiceInstance | null]> };
type Outcome =
  | { readonly kind: 'committed' | 'unchanged'; readonly index: number; readonly plan: BatchPlan; readonly asserted: ReadonlyMap<string, string> }
  | { readonly kind: 'moved'; readonly index: number }
  | { readonly kind: 'lost' };

/** The scripts as commands (EVALSHA, with ioredis falling back to EVAL after a failover empties the script cache). */
interface ScriptCommands {
  spCommit(...args: string[]): Promise<[number, number]>;
  spSnapshot(...keys: string[]): Promise<[string, string, string, string[]]>;
  spInit(...args: string[]): Promise<[string, number]>;
  spCheck(...keys: string[]): Promise<[string, number]>;
  spLease(...args: string[]): Promise<[number, string[]]>;
  spClaim(...args: string[]): Promise<[number, string, number]>;
  spUnclaim(...args: string[]): Promise<number>;
  spReap(...args: string[]): Promise<[number, number, number]>;
  spAcquire(...args: string[]): Promise<number>;
  spRelease(...args: string[]): Promise<number>;
}
type Client = Redis & ScriptCommands;

/**
 * The catalog in Redis, shared by several replicas. Each replica serves reads from
 * its own view (core's CatalogView) fed by the commit stream, so reads cost what the
 * memory store's do, keep working while Redis is away, and every replica answers
 * the same index for the same state.
 */
export class RedisStore extends CatalogView implements CatalogStore {
  readonly name = 'redis';
  readonly #options: RedisStoreOptions;
  readonly #prefix: string;
  readonly #maxLen: string;
  readonly #leaseTtl: number;
  readonly #timeout: number;
  #replica: string;
  #node = '';
  /** Replicas whose lease was live at the last refresh: after Redis lost its data, the ones to wait for. */
  #peers: ReadonlySet<string> = new Set();
  /** True from Redis losing its data until every peer has written its state again: reads are stale meanwhile. */
  #settling = false;
  #client: Client | undefined;
  #reader: Client | undefined;
  #logger: Logger = silentLogger();
  #epoch = '';
  #lastId = '0-0';
  #running = false;
  #loop: Promise<void> | undefined;
  #recovering: Promise<void> | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #leased = false;
  #reaping = false;
  #lastReply = 0;
  #connectedSince = 0;
  #outage = false;
  /**
   * What this replica's sources assert, by instance key, with the instance as last
   * seen: written again when Redis lost it, or when a reaper took it because this
   * replica's lease lapsed.
   */
  readonly #held = new Map<string, ServiceInstance>();
  readonly #waiting = new Set<{ index: number; resolve: () => void }>();
  readonly #stopElections: Array<() => void> = [];

  constructor(options: RedisStoreOptions = {}) {
    super();
    this.#options = parseOptions(options);
    this.#prefix = this.#options.keyPrefix ?? 'signpost:';
    this.#maxLen = String(this.#options.streamMaxLen ?? 100_000);
    this.#leaseTtl = parseDuration(this.#options.leaseTtl ?? '30s');
    this.#timeout = parseDuration(this.#options.timeout ?? '2s');
    this.#replica = randomUUID();
  }

  /** Replicas whose lease was live at this replica's last lease refresh (itself included). */
  get liveReplicas(): number {
    return this.#peers.size;
  }

  /** This process's id in Redis (its lease, its held set). */
  get replicaId(): string {
    return this.#replica;
  }

  get #keys(): CatalogKeys {
    const p = this.#prefix;
    return [`${p}index`, `${p}instances`, `${p}commits`, `${p}epoch`, `${p}leases`];
  }

  #heldKey(replica = this.#replica): string {
    return `${this.#prefix}held:${replica}`;
  }

  #connect(role: 'writer' | 'reader'): Client {
    const o = this.#options;
    const common: RedisOptions = {
      lazyConnect: true,
      connectionName: `signpost-${role}-${this.#replica.slice(0, 8)}`,
      // Fail at once while disconnected: the registry holds source events and the API answers 503.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // WAIT blocks for up to waitTimeout on the writer's connection.
      commandTimeout: this.#timeout + (role === 'writer' ? (o.waitReplicas ? parseDuration(o.waitTimeout ?? '1s') : 0) : READ_BLOCK_MS),
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
    };
    const client = o.sentinels
      ? new Redis({
          ...common,
          name: o.name!,
          sentinels: o.sentinels.map((s) => {
            const at = s.lastIndexOf(':');
            return { host: s.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(s.slice(at + 1)) };
          }),
          // Reconnect as soon as the sentinels announce a new primary, not when the old one times out.
          failoverDetector: true,
          sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
        })
      : new Redis(o.url ?? 'redis://127.0.0.1:6379', common);
    client.defineCommand('spCommit', { numberOfKeys: 5, lua: COMMIT });
    client.defineCommand('spSnapshot', { numberOfKeys: 5, lua: SNAPSHOT });
    client.defineCommand('spInit', { numberOfKeys: 2, lua: INIT });
    client.defineCommand('spCheck', { numberOfKeys: 2, lua: CHECK });
    client.defineCommand('spLease', { numberOfKeys: 1, lua: LEASE });
    client.defineCommand('spClaim', { numberOfKeys: 2, lua: CLAIM });
    client.defineCommand('spUnclaim', { numberOfKeys: 1, lua: UNCLAIM });
    client.defineCommand('spReap', { numberOfKeys: 5, lua: REAP });
    client.defineCommand('spAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    client.defineCommand('spRelease', { numberOfKeys: 1, lua: RELEASE });
    client.on('error', (err: Error) => {
      if (!this.#outage && this.#running) this.#logger.warn({ err: err.message, role }, 'redis connection failed; serving reads from this replica\'s view and retrying');
      if (role === 'writer') this.#outage = true;
    });
    return client as Client;
  }

  #where(): string {
    const o = this.#options;
    return o.sentinels ? `the primary "${o.name}" (sentinels ${o.sentinels.join(', ')})` : redactUrl(o.url ?? 'redis://127.0.0.1:6379');
  }

  /** Runs a command on the writer, turning connection trouble into StoreUnavailableError. */
  async #call<T>(what: string, run: (client: Client) => Promise<T>): Promise<T> {
    const client = this.#client;
    if (!client) throw new Error('the redis store is not started');
    try {
      const result = await run(client);
      this.#lastReply = Date.now();
      return result;
    } catch (err) {
      // A script error is a bug, not an outage: let it through as it is.
      if (err instanceof Error && err.name === 'ReplyError' && !/^(LOADING|READONLY|MASTERDOWN|NOREPLICAS|CLUSTERDOWN|TRYAGAIN)/.test(err.message)) throw err;
      throw new StoreUnavailableError(`redis at ${this.#where()} is unavailable (${err instanceof Error ? err.message : String(err)}): ${what} was not acknowledged`, { cause: err });
    }
  }

  async start(ctx?: StoreContext): Promise<void> {
    this.#logger = ctx?.logger ?? silentLogger();
    this.#node = ctx?.node ?? '';
    if (!this.#options.readOnly) this.#replica = await loadReplicaId(ctx?.dataDir ?? '', (m) => this.#logger.warn(m));
    this.#client = this.#connect('writer');
    this.#reader = this.#connect('reader');
    try {
      await Promise.all([this.#client.connect(), this.#reader.connect()]);
    } catch (err) {
      this.#client.disconnect();
      this.#reader.disconnect();
      throw new Error(`store redis: cannot reach ${this.#where()}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.#lastReply = this.#connectedSince = Date.now();
    const [epoch] = await this.#call('starting', (c) => c.spInit(this.#keys[0], this.#keys[3], randomUUID(), '1'));
    this.#epoch = epoch;
    await this.#snapshot();
    this.#running = true;
    this.#client.on('ready', () => this.#onReady());
    this.#loop = this.#follow();
    if (!this.#options.readOnly) {
      try {
        await this.#claimNode();
      } catch (err) {
        await this.stop();
        throw err;
      }
      await this.#refreshLease();
      this.#scheduleLease();
      this.#stopElections.push(this.#watchLeadership('reaper', (leading) => (this.#reaping = leading)));
    }
    this.#logger.info({ replica: this.#replica, redis: this.#where(), index: this.index, instances: this.size }, 'following the catalog in redis');
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#leaseTimer) clearTimeout(this.#leaseTimer);
    for (const stop of this.#stopElections.splice(0)) stop();
    this.#reader?.disconnect();
    await this.#loop?.catch(() => undefined);
    await this.#recovering?.catch(() => undefined);
    // A clean stop gives the node up, so that this replica may start again under a new id (no data
    // directory). What it holds stays until its lease expires, so a restart within the lease does not
    // flap what it registered.
    if (this.#node && !this.#options.readOnly) await this.#client?.spUnclaim(`${this.#prefix}nodes`, this.#node, this.#replica).catch(() => undefined);
    // Give lock releases a moment to reach Redis.
    await this.#client?.quit().catch(() => undefined);
    this.#client?.disconnect();
    for (const w of this.#waiting) w.resolve();
    this.#waiting.clear();
    this.close();
  }

  contact(): StoreContact {
    const since = Date.now() - this.#lastReply;
    const ready = this.#client?.status === 'ready' && this.#reader?.status === 'ready';
    return { knownLeader: ready && !this.#settling && since < READ_BLOCK_MS + this.#timeout, lastContactMs: since };
  }

  async apply(entries: readonly StoreEntry[]): Promise<ApplyResult> {
    if (this.#options.readOnly) throw new Error('store redis: this store is read-only (readOnly: true); it cannot apply writes');
    if (!this.#running) throw new Error('the redis store is not started');
    for (let attempt = 0; attempt < 50; attempt++) {
      if (this.#recovering) await this.#recovering;
      const base = this.index;
      const outcome = await this.#commit(this, base, entries);
      if (outcome.kind === 'lost') {
        await this.#recover('redis has lost the catalog (a restart without persistence)');
        continue;
      }
      if (outcome.kind === 'moved') {
        if (outcome.index < this.index) await this.#recover(`redis is at index ${outcome.index}, behind this replica's ${this.index} (a failover lost commits)`);
        // Another replica committed first: catch up from the stream, then plan again.
        else await this.#reach(outcome.index);
        continue;
      }
      this.#remember(this, outcome.asserted, outcome.plan.changes);
      if (outcome.kind === 'committed') await this.#reach(outcome.index);
      await this.#waitReplicas();
      return applyResult(outcome.kind === 'committed' ? outcome.index : base, outcome.plan);
    }
    throw new StoreUnavailableError('store redis: could not commit after 50 attempts (too many concurrent writers?)');
  }

  /** Plans `entries` against `reader` (at `base`) and commits the plan if Redis is still there. */
  async #commit(reader: CatalogReader, base: number, entries: readonly StoreEntry[]): Promise<Outcome> {
    const plan = planBatch(reader, entries, base + 1);
    const after = new Map(plan.changes.map((c) => [c.key, c.after]));
    // What each upserting source now owns: this replica holds it for them.
    const asserted = new Map<string, string>();
    for (const { source, event } of entries) {
      const specs: readonly InstanceSpec[] = event.type === 'upsert' ? [event.instance] : event.type === 'reset' ? event.instances : [];
      for (const spec of specs) {
        const key = instanceKey(spec);
        const now = after.has(key) ? after.get(key) : reader.instanceByKey(key);
        if (now?.source === source) asserted.set(key, source);
      }
    }
    const args: string[] = [
      String(base),
      this.#maxLen,
      this.#epoch,
      this.#heldKey(),
      `${this.#prefix}held:`,
      String(asserted.size),
      JSON.stringify(plan.changes.map((c) => [c.key, c.after ?? null])),
      ...asserted.keys(),
    ];
    for (const c of plan.changes) args.push(c.key, c.after ? JSON.stringify(c.after) : '');
    const [code, index] = await this.#call('the write', (c) => c.spCommit(...this.#keys, ...args));
    if (code === -2) return { kind: 'lost' };
    if (code === -1) return { kind: 'moved', index };
    return { kind: code === 1 ? 'committed' : 'unchanged', index, plan, asserted };
  }

  #remember(reader: CatalogReader, asserted: ReadonlyMap<string, string>, changes: readonly InstanceChange[]): void {
    const after = new Map(changes.map((c) => [c.key, c.after]));
    for (const c of changes) if (!c.after) this.#held.delete(c.key);
    for (const key of asserted.keys()) {
      const instance = after.has(key) ? after.get(key) : reader.instanceByKey(key);
      if (instance) this.#held.set(key, instance);
    }
  }

  async #waitReplicas(): Promise<void> {
    const wanted = this.#options.waitReplicas ?? 0;
    if (wanted === 0) return;
    const ms = parseDuration(this.#options.waitTimeout ?? '1s');
    const reached = await this.#call('the write', (c) => c.wait(wanted, ms));
    if (reached < wanted) {
      throw new StoreUnavailableError(`store redis: the write reached ${reached} of the ${wanted} Redis replicas waitReplicas asks for within ${ms} ms; it is not acknowledged`);
    }
  }

  /** Loads the whole catalog and the stream position in one script (a consistent cut), and hands watchers a snapshot. */
  async #snapshot(): Promise<void> {
    const cut = await this.#cut();
    this.#lastId = cut.id;
    this.reset(cut.index, cut.instances);
    // Whatever another replica removed meanwhile is no longer ours to re-assert.
    for (const key of this.#held.keys()) {
      const instance = this.instanceByKey(key);
      if (instance) this.#held.set(key, instance);
      else this.#held.delete(key);
    }
    this.#wake();
  }

  async #cut(): Promise<{ epoch: string; index: number; id: string; instances: ServiceInstance[] }> {
    const [epoch, index, id, values] = await this.#call('reading a snapshot', (c) => c.spSnapshot(...this.#keys));
    return { epoch, index: Number(index), id, instances: values.map((v) => JSON.parse(v) as ServiceInstance) };
  }

  /**
   * Redis lost commits this replica had seen (a restart without persistence, or a
   * failover to a replica that lagged). Indexes are raised past what clients saw,
   * what this replica's sources assert is written again, and the view reloads.
   */
  #recover(why: string): Promise<void> {
    this.#recovering ??= (async () => {
      const entries = this.#reassertion();
      this.#logger.warn({ why, index: this.index, reasserting: entries.length }, 'redis lost commits; re-asserting what this replica holds');
      const before = this.#epoch;
      const [epoch] = await this.#call('recovering', (c) => c.spInit(this.#keys[0], this.#keys[3], randomUUID(), String(this.index + 1)));
      this.#epoch = epoch;
      // Redis lost everything (a new epoch): until every replica has written its state again, what
      // Redis holds is only part of the catalog. Keep answering from the view, said to be stale.
      const lostAll = epoch !== before;
      if (lostAll) this.#settling = true;
      try {
        for (let attempt = 0; attempt < 20 && entries.length; attempt++) {
          const cut = await this.#cut();
          if (cut.epoch !== epoch) break;
          const there = new CatalogView();
          there.reset(cut.index, cut.instances);
          const outcome = await this.#commit(there, cut.index, entries);
          there.close();
          if (outcome.kind === 'committed' || outcome.kind === 'unchanged') {
            this.#remember(there, outcome.asserted, outcome.plan.changes);
            break;
          }
        }
        if (lostAll && !this.#options.readOnly) {
          // The node claim went with the data too.
          await this.#claimNode();
          await this.#call('recovering', (c) => c.hset(`${this.#prefix}recovered`, this.#replica, epoch));
        }
        if (lostAll) await this.#awaitPeers(epoch);
        await this.#snapshot();
      } finally {
        this.#settling = false;
      }
      // The lease went with the data; taking it again must not re-assert a second time.
      if (this.#leased) await this.#refreshLease(false);
    })().finally(() => (this.#recovering = undefined));
    return this.#recovering;
  }

  /**
   * Waits until every replica whose lease was live before Redis lost its data has
   * written its state into `epoch`, or for a bounded time (a replica that died
   * meanwhile never will; what it held then goes, as its lease would have taken it).
   */
  async #awaitPeers(epoch: string): Promise<void> {
    const peers = [...this.#peers].filter((p) => p !== this.#replica);
    if (peers.length === 0) return;
    const deadline = Date.now() + Math.max(2500, Math.min(this.#leaseTtl / 2, 10_000));
    for (;;) {
      const marks = await this.#call('recovering', (c) => c.hmget(`${this.#prefix}recovered`, ...peers));
      const waiting = peers.filter((_, n) => marks[n] !== epoch);
      if (waiting.length === 0) return;
      if (Date.now() >= deadline) {
        this.#logger.warn({ waiting }, 'replicas did not write their state again after redis lost it; serving the catalog without what they held');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Takes this replica's node, refusing to run beside another live replica with the same node name. */
  async #claimNode(): Promise<void> {
    if (!this.#node) return;
    const [claimed, holder, ms] = await this.#call('claiming the node', (c) => c.spClaim(`${this.#prefix}nodes`, this.#keys[4], this.#node, this.#replica, String(this.#leaseTtl)));
    if (claimed === 1) return;
    throw new Error(
      `store redis: node "${this.#node}" is run by another live replica (${holder}; its lease runs ${Math.ceil(ms / 1000)} s more). ` +
        'Give every replica its own node name (SIGNPOST_NODE): two replicas with one name would replace each other\'s registrations. ' +
        'If this is that replica restarted without its data directory, it can start once that lease has run out.',
    );
  }

  /** Upserts for everything this replica's sources assert, as the view last saw it (check results included). */
  #reassertion(): StoreEntry[] {
    const entries: StoreEntry[] = [];
    for (const instance of this.#held.values()) {
      const { createIndex: _c, modifyIndex: _m, ...spec } = instance;
      entries.push({ source: instance.source, event: { type: 'upsert', instance: spec } });
    }
    return entries;
  }

  /** After a reconnect: did Redis keep what this replica saw? */
  #onReady(): void {
    if (!this.#running) return;
    this.#connectedSince = this.#lastReply = Date.now();
    if (this.#outage) this.#logger.info({ redis: this.#where() }, 'redis is reachable again');
    this.#outage = false;
    void (async () => {
      try {
        const [epoch, index] = await this.#call('checking', (c) => c.spCheck(this.#keys[0], this.#keys[3]));
        if (epoch !== this.#epoch) await this.#recover('redis came back without the catalog (a restart without persistence)');
        else if (index < this.index) await this.#recover(`redis came back at index ${index}, behind this replica's ${this.index}`);
        if (this.#leased) await this.#refreshLease();
      } catch (err) {
        this.#logger.warn({ err: err instanceof Error ? err.message : err }, 'checking redis after a reconnect failed; the next reconnect checks again');
      }
    })();
  }

  async #follow(): Promise<void> {
    const reader = this.#reader!;
    let failures = 0;
    while (this.#running) {
      let reply: Array<[string, Array<[string, string[]]>]> | null;
      try {
        reply = (await reader.xread('COUNT', 1000, 'BLOCK', READ_BLOCK_MS, 'STREAMS', this.#keys[2], this.#lastId)) as typeof reply;
        this.#lastReply = Date.now();
        failures = 0;
      } catch (err) {
        if (!this.#running) return;
        if (failures++ === 0) this.#logger.warn({ err: err instanceof Error ? err.message : err }, 'reading the redis commit stream failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 2000)));
        continue;
      }
      try {
        for (const [, items] of reply ?? []) {
          for (const [id, fields] of items) {
            const commit = parseCommit(fields);
            if (commit.index <= this.index) {
              this.#lastId = id;
              continue;
            }
            if (commit.index !== this.index + 1) {
              // A gap: the stream was trimmed past this replica, or Redis lost it and started over.
              this.#logger.warn({ have: this.index, next: commit.index }, 'missed commits in the redis stream; reloading');
              await this.#resync();
              break;
            }
            const changes: InstanceChange[] = [];
            for (const [key, after] of commit.changes) {
              const before = this.instanceByKey(key);
              if (after) {
                changes.push(before ? { key, before, after } : { key, after });
                // Keep the latest check results of what this replica holds, to re-assert them as they were.
                if (this.#held.has(key)) this.#held.set(key, after);
              } else {
                if (before) changes.push({ key, before });
                // A source removed it: nobody holds it any more. A reaper's removal (this replica's
                // lease lapsed) leaves it held, so that this replica writes it again.
                if (!commit.reaped) this.#held.delete(key);
              }
            }
            this.commit(commit.index, changes);
            this.#lastId = id;
          }
        }
      } catch (err) {
        this.#logger.error({ err }, 'applying a commit from the redis stream failed; reloading');
        await this.#resync().catch(() => undefined);
      }
      this.#wake();
    }
  }

  async #resync(): Promise<void> {
    const [epoch, index] = await this.#call('checking', (c) => c.spCheck(this.#keys[0], this.#keys[3]));
    if (epoch !== this.#epoch) await this.#recover('the catalog in redis was created again (a restart without persistence)');
    else if (index < this.index) await this.#recover(`redis is at index ${index}, behind this replica's ${this.index}`);
    else await this.#snapshot();
  }

  // --- leases --------------------------------------------------------------------

  #scheduleLease(): void {
    const every = Math.max(100, Math.floor(this.#leaseTtl / 3));
    this.#leaseTimer = setTimeout(() => {
      void (async () => {
        try {
          await this.#refreshLease();
          // Right after Redis comes back every lease looks expired: give the others time to refresh theirs.
          if (this.#reaping && Date.now() - this.#connectedSince >= this.#leaseTtl / 2) await this.#reap();
        } catch (err) {
          this.#logger.debug({ err: err instanceof Error ? err.message : err }, 'lease refresh failed; retrying');
        }
      })().finally(() => {
        if (this.#running) this.#scheduleLease();
      });
    }, every);
    this.#leaseTimer.unref();
  }

  async #refreshLease(reassert = true): Promise<void> {
    const [added, live] = await this.#call('the lease', (c) => c.spLease(this.#keys[4], this.#replica, String(this.#leaseTtl)));
    this.#peers = new Set(live);
    const reaped = added === 1 && this.#leased && reassert;
    this.#leased = true;
    if (reaped && this.#held.size) {
      // The lease expired (this replica was cut off longer than the TTL) and a reaper removed what it held.
      const entries = this.#reassertion();
      this.#logger.warn({ instances: entries.length }, 'this replica\'s lease had expired; re-asserting what its sources hold');
      await this.apply(entries).catch((err: unknown) => this.#logger.warn({ err: err instanceof Error ? err.message : err }, 're-asserting failed; the next refresh tries again'));
    }
  }

  async #reap(): Promise<void> {
    const [index, replicas, removed] = await this.#call('reaping', (c) => c.spReap(...this.#keys, `${this.#prefix}held:`, this.#maxLen, this.#epoch));
    if (replicas > 0) this.#logger.info({ replicas, removed, index }, 'removed what replicas whose lease expired had registered');
  }

  // --- elections ------------------------------------------------------------------

  /**
   * Emits true while this replica holds the lock `name`, refreshed every third of
   * the lease TTL; false while another replica holds it or Redis cannot be reached.
   */
  elect(name: string): Observable<boolean> {
    return new Observable<boolean>((subscriber) => {
      const stop = this.#watchLeadership(name, (leading) => subscriber.next(leading));
      return stop;
    });
  }

  #watchLeadership(name: string, report: (leading: boolean) => void): () => void {
    const key = `${this.#prefix}leader:${name}`;
    let stopped = false;
    let leading = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async (): Promise<void> => {
      try {
        leading = (await this.#call('the election', (c) => c.spAcquire(key, this.#replica, String(this.#leaseTtl)))) === 1;
      } catch {
        leading = false;
      }
      if (stopped) return;
      report(leading);
      timer = setTimeout(() => void tick(), Math.max(100, Math.floor(this.#leaseTtl / 3)));
      timer.unref();
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (leading) void this.#client?.spRelease(key, this.#replica).catch(() => undefined);
    };
  }

  // --- read-your-writes -----------------------------------------------------------

  /** Resolves once the view has `index`, or after the command timeout (the commit is acknowledged either way). */
  #reach(index: number): Promise<void> {
    if (this.index >= index) return Promise.resolve();
    return new Promise((resolve) => {
      const w = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(w);
        resolve();
      }, this.#timeout + READ_BLOCK_MS);
      this.#waiting.add(w);
    });
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

/** The reader's blocking read returns at least this often, which is how a replica knows Redis is there. */
const READ_BLOCK_MS = 500;

function parseCommit(fields: string[]): Commit {
  const map = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return { index: Number(map.get('index')), reaped: map.has('reaped'), changes: JSON.parse(map.get('changes') ?? '[]') as Commit['changes'] };
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
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
