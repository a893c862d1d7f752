import { afterEach, describe, expect, it } from 'vitest';
import { Observable, Subject, concat, of, throwError } from 'rxjs';
import type { ApplyResult, CatalogEvent, SourceEvent, StoreEntry } from './events.js';
import { applyResult, planBatch } from './plan.js';
import type { CatalogStore, Ownership, Plugin, PluginContext, SourcePlugin } from './plugin.js';
import { createRegistry, type Registry } from './registry.js';
import { CatalogView } from './view.js';
import type { Logger } from './logger.js';
import { ValidationError } from './validate.js';
import { StoreUnavailableError } from './errors.js';
import { firstValueFrom } from 'rxjs';

/** The smallest store: a view that commits each batch; it records nesting and calls. */
class TestStore extends CatalogView implements CatalogStore {
  readonly name = 'test';
  batches: number[] = [];
  nested = 0;
  log: string[];
  constructor(log: string[] = []) {
    super();
    this.log = log;
  }
  async start(): Promise<void> {
    this.log.push('start store');
  }
  /** Several registries may share it, as replicas share a Redis store: then stopping one leaves it open. */
  shared = false;
  async stop(): Promise<void> {
    this.log.push('stop store');
    if (!this.shared) this.close();
  }
  async apply(entries: readonly StoreEntry[]): Promise<ApplyResult> {
    if (this.publishing) this.nested++;
    this.batches.push(entries.length);
    const index = this.index + 1;
    const plan = planBatch(this, entries, index);
    if (plan.changes.length) this.commit(index, plan.changes);
    return applyResult(plan.changes.length ? index : this.index, plan);
  }
}

function recordingLogger(lines: Array<{ level: string; msg: string; obj: object }>): Logger {
  const make = (bindings: object): Logger => {
    const at =
      (level: string) =>
      (objOrMsg: object | string, msg?: string): void => {
        if (typeof objOrMsg === 'string') lines.push({ level, msg: objOrMsg, obj: bindings });
        else lines.push({ level, msg: msg ?? '', obj: { ...bindings, ...objOrMsg } });
      };
    return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (b) => make({ ...bindings, ...b }) };
  };
  return make({});
}

function source(name: string, events: () => Observable<SourceEvent | readonly SourceEvent[]>, log: string[] = [], ownership: Ownership = 'shared'): SourcePlugin {
  return {
    name,
    ownership,
    async start() {
      log.push(`start ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
    events,
  };
}

function sink(name: string, log: string[], onStart?: (ctx: PluginContext) => void): Plugin {
  return {
    name,
    async start(ctx) {
      log.push(`start ${name}`);
      onStart?.(ctx);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
  };
}

const until = async (predicate: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
};

const up = (service: string, extra: Record<string, unknown> = {}): SourceEvent => ({ type: 'upsert', instance: { service, ...extra } });

describe('createRegistry', () => {
  let registry: Registry | undefined;
  afterEach(async () => {
    await registry?.stop();
    registry = undefined;
  });

  it('starts the store, then sinks, then sources, and stops in reverse', async () => {
    const log: string[] = [];
    const store = new TestStore(log);
    registry = createRegistry({
      store,
      plugins: [source('src', () => new Subject<SourceEvent>(), log), sink('dns', log), sink('http', log)],
    });
    await registry.start();
    await registry.stop();
    expect(log).toEqual(['start store', 'start dns', 'start http', 'start src', 'stop src', 'stop http', 'stop dns', 'stop store']);
  });

  it('applies a burst from several sources as one batch, with owners stamped', async () => {
    const store = new TestStore();
    const a = new Subject<SourceEvent>();
    const b = new Subject<SourceEvent>();
    registry = createRegistry({ store, node: 'n1', plugins: [source('a', () => a), source('b', () => b)] });
    await registry.start();
    for (let n = 0; n < 500; n++) a.next(up('web', { id: `a${n}` }));
    for (let n = 0; n < 500; n++) b.next(up('web', { id: `b${n}` }));
    await registry.flush();
    expect(store.batches).toEqual([1000]);
    expect(store.index).toBe(2);
    expect(store.ownedBy('a').size).toBe(500);
    expect(store.instance({ node: 'n1', id: 'b7' })?.source).toBe('b');
  });

  it('restarts a failed source with backoff and keeps what it registered meanwhile', async () => {
    const store = new TestStore();
    const lines: Array<{ level: string; msg: string; obj: object }> = [];
    let subscriptions = 0;
    const failing = source('flaky', () => {
      subscriptions++;
      return subscriptions === 1 ? concat(of<SourceEvent>({ type: 'reset', instances: [{ service: 'web' }] }), throwError(() => new Error('boom'))) : new Subject<SourceEvent>();
    });
    registry = createRegistry({ store, plugins: [failing], logger: recordingLogger(lines), backoff: { initialMs: 20, maxMs: 20 } });
    await registry.start();
    await until(() => subscriptions === 2);
    await registry.flush();
    expect(store.instances('web')).toHaveLength(1);
    const failure = lines.find((l) => l.msg.includes('source stream failed'));
    expect(failure?.obj).toMatchObject({ plugin: 'flaky', attempt: 1 });
  });

  it('while the store is unavailable: publish fails at once, source events are held in order and applied when it is back', async () => {
    class FlakyStore extends TestStore {
      down = false;
      attempts = 0;
      override async apply(entries: readonly StoreEntry[]): Promise<ApplyResult> {
        this.attempts++;
        if (this.down) throw new StoreUnavailableError('backend unreachable');
        return super.apply(entries);
      }
    }
    const store = new FlakyStore();
    const lines: Array<{ level: string; msg: string; obj: object }> = [];
    const s = new Subject<SourceEvent | readonly SourceEvent[]>();
    let ctx: PluginContext | undefined;
    registry = createRegistry({
      store,
      plugins: [sink('api', [], (c) => (ctx = c)), source('s', () => s)],
      logger: recordingLogger(lines),
      backoff: { initialMs: 10, maxMs: 40, jitter: 0 },
    });
    await registry.start();
    store.down = true;
    s.next(up('web', { id: 'w1', port: 1 }));
    await until(() => store.attempts >= 1);
    // Later events from the source queue behind the held one, in order.
    s.next(up('web', { id: 'w1', port: 2 }));
    s.next({ type: 'remove', ref: { id: 'w1' } });
    s.next(up('web', { id: 'w1', port: 3 }));
    await expect(ctx!.publish([up('api-svc')])).rejects.toBeInstanceOf(StoreUnavailableError);
    await until(() => store.attempts >= 4);
    expect(store.instances('web')).toHaveLength(0);
    store.down = false;
    await until(() => store.instances('web')[0]?.port === 3);
    await registry.flush();
    expect(store.instances('web').map((i) => i.port)).toEqual([3]);
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes('source events are held'))).toBe(true);
    expect(lines.some((l) => l.msg.includes('available again'))).toBe(true);
    // Back to normal: new events apply at once.
    s.next(up('db'));
    await until(() => store.instances('db').length === 1);
  });

  it('without a backend to lose, reports contact and elects this replica', async () => {
    let ctx: PluginContext | undefined;
    registry = createRegistry({ store: new TestStore(), plugins: [sink('api', [], (c) => (ctx = c))] });
    await registry.start();
    expect(ctx!.catalog.contact()).toEqual({ knownLeader: true, lastContactMs: 0 });
    expect(await firstValueFrom(ctx!.elect('checks'))).toBe(true);
  });

  it('drops an invalid event with a clear log line and applies the rest', async () => {
    const store = new TestStore();
    const lines: Array<{ level: string; msg: string; obj: object }> = [];
    const s = new Subject<SourceEvent | readonly SourceEvent[]>();
    registry = createRegistry({ store, plugins: [source('s', () => s)], logger: recordingLogger(lines) });
    await registry.start();
    s.next([up('web'), up('db', { port: 99999 }), up('cache')]);
    await registry.flush();
    expect([...store.services().keys()]).toEqual(['cache', 'web']);
    const dropped = lines.find((l) => l.msg.includes('invalid event'));
    expect(dropped?.obj).toMatchObject({ err: 'event from source "s": [1].instance.port: must be <= 65535' });
  });

  it('resolves publish with the commit and rejects bad input as a ValidationError, storing nothing', async () => {
    const store = new TestStore();
    let ctx: PluginContext | undefined;
    registry = createRegistry({ store, plugins: [sink('api', [], (c) => (ctx = c))] });
    await registry.start();
    const result = await ctx!.publish([up('web', { port: 80 })]);
    expect(result).toMatchObject({ index: 2, changed: 1, rejected: [] });
    await expect(ctx!.publish([up('db'), up('x', { port: -1 })])).rejects.toBeInstanceOf(ValidationError);
    expect(store.instances('db')).toHaveLength(0);
    const owned = await ctx!.publish([{ type: 'remove', ref: { id: 'nothing' } }]);
    expect(owned.changed).toBe(0);
  });

  it('reports rejections to the publisher that caused them only', async () => {
    const store = new TestStore();
    const ctxs: PluginContext[] = [];
    registry = createRegistry({ store, node: 'n', plugins: [sink('a', [], (c) => ctxs.push(c)), sink('b', [], (c) => ctxs.push(c))] });
    await registry.start();
    await ctxs[0]!.publish([up('web')]);
    const [ra, rb] = await Promise.all([ctxs[0]!.publish([up('db')]), ctxs[1]!.publish([up('cache'), up('web', { port: 1 })])]);
    expect(ra.rejected).toEqual([]);
    expect(rb.rejected).toEqual([{ entry: 1, source: 'b@n', event: 'upsert', reason: 'instance n/web is owned by source "a@n"' }]);
  });

  it('never writes to the store from inside a watcher callback', async () => {
    const store = new TestStore();
    let ctx: PluginContext | undefined;
    registry = createRegistry({
      store,
      plugins: [
        sink('echo', [], (c) => {
          ctx = c;
          c.catalog.follow((e: CatalogEvent) => {
            if (e.type === 'upsert' && e.instance.service === 'web') void c.publish([up('echo')]);
          });
        }),
      ],
    });
    await registry.start();
    await ctx!.publish([up('web')]);
    await until(() => store.instances('echo').length === 1);
    expect(store.nested).toBe(0);
  });

  it('contains a sink handler that throws: it keeps receiving events', async () => {
    const store = new TestStore();
    const seen: number[] = [];
    const lines: Array<{ level: string; msg: string; obj: object }> = [];
    let ctx: PluginContext | undefined;
    registry = createRegistry({
      store,
      logger: recordingLogger(lines),
      plugins: [
        sink('bad', [], (c) => {
          ctx = c;
          c.catalog.follow((e) => {
            seen.push(e.index);
            if (e.index === 2) throw new Error('one bad event');
          });
        }),
      ],
    });
    await registry.start();
    await ctx!.publish([up('a')]);
    await ctx!.publish([up('b')]);
    expect(seen).toEqual([1, 2, 3]);
    expect(lines.some((l) => l.level === 'error' && l.msg.includes('handler failed'))).toBe(true);
  });

  describe('ownership', () => {
    it('owns what a replica registers as name@node: restarting one replica leaves what another registered', async () => {
      const store = new TestStore();
      store.shared = true;
      const replica = async (node: string): Promise<{ registry: Registry; ctx: PluginContext }> => {
        let ctx: PluginContext | undefined;
        const r = createRegistry({ store, node, plugins: [sink('http', [], (c) => (ctx = c))] });
        await r.start();
        return { registry: r, ctx: ctx! };
      };
      const a = await replica('a');
      const b = await replica('b');
      try {
        expect([a.ctx.owner, b.ctx.owner]).toEqual(['http@a', 'http@b']);
        await a.ctx.publish([up('svc-a')]);
        await b.ctx.publish([up('svc-b')]);
        // A restarts: its start-up reset says what A's API holds, and only that.
        await a.registry.stop();
        const again = await replica('a');
        await again.ctx.publish([{ type: 'reset', instances: [{ service: 'svc-a' }] }]);
        expect([...store.services().keys()]).toEqual(['svc-a', 'svc-b']);
        await again.ctx.publish([{ type: 'reset', instances: [] }]);
        expect([...store.services().keys()]).toEqual(['svc-b']);
        // Neither replica may remove what the other's API registered.
        const refused = await again.ctx.publish([{ type: 'remove', ref: { node: 'b', id: 'svc-b' } }]);
        expect(refused.rejected[0]?.reason).toBe('instance b/svc-b is owned by source "http@b"');
        await again.registry.stop();
      } finally {
        await b.registry.stop();
        await a.registry.stop();
      }
    });

    it('gives a shared source one owner on every replica: its name', async () => {
      const store = new TestStore();
      store.shared = true;
      const events = [new Subject<SourceEvent>(), new Subject<SourceEvent>()];
      const replicas = ['a', 'b'].map((node, n) => createRegistry({ store, node, plugins: [source('static', () => events[n]!, [], 'shared')] }));
      for (const r of replicas) await r.start();
      try {
        events[0]!.next({ type: 'reset', instances: [{ service: 'web', node: 'apps' }] });
        events[1]!.next({ type: 'reset', instances: [{ service: 'web', node: 'apps' }] });
        for (const r of replicas) await r.flush();
        expect([...store.allInstances()].map((i) => i.source)).toEqual(['static']);
        expect(store.batches.length).toBe(2);
      } finally {
        for (const r of replicas) await r.stop();
      }
    });

    it('refuses a source that does not say whose state it registers, and a name with "@"', () => {
      const unsaid = { ...source('src', () => new Subject<SourceEvent>()), ownership: undefined } as unknown as SourcePlugin;
      expect(() => createRegistry({ store: new TestStore(), plugins: [unsaid] })).toThrow(
        /plugin "src": ownership must be "replica" \(state local to this replica\) or "shared".*got undefined; a source must say which/,
      );
      const wrong = { ...source('src', () => new Subject<SourceEvent>()), ownership: 'global' } as unknown as SourcePlugin;
      expect(() => createRegistry({ store: new TestStore(), plugins: [wrong] })).toThrow(/got "global"/);
      expect(() => createRegistry({ store: new TestStore(), plugins: [sink('http@a', [])] })).toThrow(/plugin name "http@a": must be a non-empty string without "@"/);
    });
  });

  it('refuses two plugins with one name', () => {
    expect(() => createRegistry({ store: new TestStore(), plugins: [sink('x', []), sink('x', [])] })).toThrow(/two plugins are named "x"/);
  });

  it('stops what started when a plugin fails to start, and says which', async () => {
    const log: string[] = [];
    const broken: Plugin = {
      name: 'broken',
      start: () => Promise.reject(new Error('port in use')),
      stop: async () => undefined,
    };
    registry = createRegistry({ store: new TestStore(log), plugins: [sink('ok', log), broken] });
    await expect(registry.start()).rejects.toThrow('plugin "broken" failed to start: port in use');
    expect(log).toEqual(['start store', 'start ok', 'stop ok', 'stop store']);
  });

  it('leaves no timer, subscription or watcher behind after stop', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
    const store = new TestStore();
    let teardowns = 0;
    let watchCompleted = false;
    const s = source('s', () => new Observable<SourceEvent>(() => () => void teardowns++));
    registry = createRegistry({
      store,
      plugins: [s, sink('w', [], (c) => c.catalog.watch().subscribe({ complete: () => (watchCompleted = true) }))],
      backoff: { initialMs: 5 },
    });
    await registry.start();
    await registry.stop();
    await new Promise((r) => setImmediate(r));
    expect(teardowns).toBe(1);
    expect(watchCompleted).toBe(true);
    expect(process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length).toBeLessThanOrEqual(before);
    await expect(registry.stop()).resolves.toBeUndefined();
  });
});
