import { createSocket, type Socket } from 'node:dgram';
import { randomUUID } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { createRegistry, normalizeInstance, silentLogger, type CatalogStore, type InstanceSpec, type PluginContext, type Registry, type StoreEntry } from '@signpost/core';
import { dnsSink, type DnsSink } from '@signpost/sink-dns';
import { memoryStore } from '@signpost/store-memory';
import { redisStore } from '@signpost/store-redis';
import { startRedis } from '@signpost/testing';
import { percentile, type Metric, type ScenarioResult } from '../report.js';

export interface RedisScenarioOptions {
  /** 1 = 20,000 upserts and 2,000 propagation samples; smaller for a smoke run. */
  readonly scale?: number;
}

const defaults = { node: 'bench', nodeAddress: '10.0.0.1', datacenter: 'dc1' };

/**
 * The Redis store beside the memory store, in one run on a redis-server of its own:
 * upserts/s in batches, and the delay from a write on replica A until replica B's
 * DNS answers with it (for the memory store: the same, within one process).
 */
export async function redisScenario(options: RedisScenarioOptions = {}): Promise<ScenarioResult> {
  const scale = options.scale ?? 1;
  const upserts = Math.max(1000, Math.round(20_000 * scale));
  const samples = Math.max(100, Math.round(2_000 * scale));
  const redis = await startRedis();
  const metrics: Metric[] = [];
  try {
    const ctx = { logger: silentLogger(), node: 'bench', datacenter: 'dc1', dataDir: '' };
    // --- upserts/s, batches of 1000 ------------------------------------------------
    const specs: InstanceSpec[] = Array.from({ length: upserts }, (_, n) =>
      normalizeInstance({ service: `svc-${n % 500}`, id: `i-${n}`, address: `10.1.${(n >> 8) & 255}.${n & 255}`, port: 20000 + (n % 40000), tags: ['v1'] }, 'bench', defaults),
    );
    const rate = async (store: CatalogStore): Promise<number> => {
      await store.start(ctx);
      const t = performance.now();
      for (let n = 0; n < specs.length; n += 1000) {
        await store.apply(specs.slice(n, n + 1000).map((instance): StoreEntry => ({ source: 'bench', event: { type: 'upsert', instance } })));
      }
      const perSecond = specs.length / ((performance.now() - t) / 1000);
      await store.stop();
      return perSecond;
    };
    const memoryRate = await rate(memoryStore());
    const redisRate = await rate(redisStore({ url: redis.url, keyPrefix: `bench-${randomUUID()}:` }));
    metrics.push({ name: 'upserts/s, batches of 1000, memory store', value: memoryRate, unit: '/s' });
    metrics.push({ name: 'upserts/s, batches of 1000, redis store', value: redisRate, unit: '/s' });
    metrics.push({ name: 'redis / memory upserts', value: redisRate / memoryRate, unit: 'ratio' });

    // --- write on A → DNS answer on B --------------------------------------------------
    const keyPrefix = `bench-${randomUUID()}:`;
    const memory = memoryStore();
    const viaMemory = await propagation(memory, memory, samples);
    const viaRedis = await propagation(redisStore({ url: redis.url, keyPrefix }), redisStore({ url: redis.url, keyPrefix }), samples);
    metrics.push({ name: 'write → DNS answer, memory store (one process), median', value: viaMemory.p50, unit: 'ms' });
    metrics.push({ name: 'write → DNS answer, memory store (one process), p99', value: viaMemory.p99, unit: 'ms' });
    metrics.push({ name: 'write on A → DNS answer on B, redis store, median', value: viaRedis.p50, unit: 'ms' });
    metrics.push({ name: 'write on A → DNS answer on B, redis store, p99', value: viaRedis.p99, unit: 'ms', aim: '< 20' });
    return { scenario: 'redis', parameters: { upserts, samples }, metrics };
  } finally {
    await redis.stop();
  }
}

/**
 * Replica A publishes a new address for one instance; the clock stops when replica
 * B's DNS answers with it. B is queried back to back, so the figure is within one
 * query's round trip (tens of µs on loopback) of when B could first answer.
 */
async function propagation(storeA: CatalogStore, storeB: CatalogStore, samples: number): Promise<{ p50: number; p99: number }> {
  let publish: PluginContext['publish'] | undefined;
  const writer = { name: 'writer', start: async (c: PluginContext) => void (publish = c.publish), stop: async () => undefined };
  const dns: DnsSink = dnsSink({ listen: '127.0.0.1:0' });
  const registries: Registry[] = [];
  if (storeA === storeB) {
    registries.push(createRegistry({ store: storeA, plugins: [dns, writer], logger: silentLogger(), node: 'a' }));
  } else {
    registries.push(createRegistry({ store: storeA, plugins: [writer], logger: silentLogger(), node: 'a' }));
    registries.push(createRegistry({ store: storeB, plugins: [dns], logger: silentLogger(), node: 'b' }));
  }
  for (const r of registries) await r.start();
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const port = dns.address()!.port;
  const delays: number[] = [];
  try {
    for (let n = 0; n < samples; n++) {
      const address = `10.9.${(n >> 8) & 255}.${n & 255}`;
      const t0 = performance.now();
      void publish!([{ type: 'upsert', instance: { service: 'probe', id: 'probe-1', address, port: 80 } }]);
      for (let id = 1; ; id++) {
        if ((await ask(socket, port, id)) === address) break;
        if (performance.now() - t0 > 5000) throw new Error(`replica B did not answer ${address} within 5 s`);
      }
      delays.push(performance.now() - t0);
    }
  } finally {
    socket.close();
    for (const r of registries.reverse()) await r.stop();
  }
  delays.sort((a, b) => a - b);
  return { p50: percentile(delays, 50), p99: percentile(delays, 99) };
}

function ask(socket: Socket, port: number, id: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    socket.once('message', (msg) => {
      const answer = dnsPacket.decode(msg).answers?.find((a) => a.type === 'A');
      resolve(answer?.type === 'A' ? answer.data : undefined);
    });
    socket.send(dnsPacket.encode({ type: 'query', id: id & 0xffff, questions: [{ type: 'A', name: 'probe.service.consul' }] }), port, '127.0.0.1');
  });
}
