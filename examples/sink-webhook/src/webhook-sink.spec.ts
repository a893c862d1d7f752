import { createServer, type Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeSinkContract, eventually, RecordingStore, remove, runPlugins, spec, upsert, type Running } from '@signpost/testing';
import { parseOptions, toChange, webhookSink, type WebhookChange, type WebhookSink } from './index.js';

/** A receiver that records each POST and answers with the status it is told. */
async function receiver(): Promise<{ server: Server; url: string; bodies: Array<{ index: number; changes: WebhookChange[] }>; statuses: number[] }> {
  const bodies: Array<{ index: number; changes: WebhookChange[] }> = [];
  const statuses: number[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const status = statuses.shift() ?? 204;
      if (status < 300) bodies.push(JSON.parse(text) as { index: number; changes: WebhookChange[] });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, bodies, statuses };
}

describeSinkContract('webhook', async () => {
  const r = await receiver();
  const sink = webhookSink({ url: r.url, batchWindow: '10ms' });
  return { sink, handled: () => sink.stats().delivered, dispose: () => new Promise((done) => r.server.close(() => done())) };
});

describe('webhook sink', () => {
  let r: Awaited<ReturnType<typeof receiver>>;
  let run: Running | undefined;
  let sink: WebhookSink;
  beforeEach(async () => {
    r = await receiver();
  });
  afterEach(async () => {
    await run?.stop();
    run = undefined;
    await new Promise((done) => r.server.close(done));
  });

  it('maps a delta to what the receiver gets, and sends no snapshot', () => {
    const i = { ...spec('web', { id: 'w1', port: 80 }), createIndex: 2, modifyIndex: 2 };
    expect(toChange({ type: 'upsert', index: 2, instance: i })).toEqual({ type: 'upsert', index: 2, service: 'web', id: 'w1', node: 'node-a', address: '', port: 80, tags: [], health: 'passing' });
    expect(toChange({ type: 'snapshot', index: 2, instances: [i] })).toBeUndefined();
  });

  it('gathers a burst into one POST, in order', async () => {
    sink = webhookSink({ url: r.url, batchWindow: '50ms' });
    run = await runPlugins([sink]);
    for (let n = 0; n < 10; n++) await run.store.apply([upsert(spec('web', { id: `w${n}` }))]);
    await eventually(() => sink.stats().delivered === 10, 3000, 'ten changes');
    expect(r.bodies).toHaveLength(1);
    expect(r.bodies[0]!.changes.map((c) => c.id)).toEqual(Array.from({ length: 10 }, (_, n) => `w${n}`));
    expect(r.bodies[0]!.index).toBe(r.bodies[0]!.changes.at(-1)!.index);
  });

  it('retries a failed POST with backoff, and delivers everything in order once the receiver is back', async () => {
    r.statuses.push(500, 503);
    sink = webhookSink({ url: r.url, batchWindow: '10ms', maxBatch: 2, retryMax: '50ms' });
    run = await runPlugins([sink]);
    await run.store.apply([upsert(spec('web', { id: 'a' })), upsert(spec('web', { id: 'b' }))]);
    await run.store.apply([remove('src-a', 'node-a', 'a')]);
    await eventually(() => sink.stats().delivered === 3, 5000, 'all three');
    expect(sink.stats().failures).toBe(2);
    expect(r.bodies.flatMap((b) => b.changes.map((c) => `${c.type} ${c.id}`))).toEqual(['upsert a', 'upsert b', 'remove a']);
    expect(run.logger.lines.filter((l) => l.msg.includes('delivery failed'))).toHaveLength(2);
  });

  it('sends nothing while another replica leads', async () => {
    const store = new RecordingStore();
    store.leadership.next(false);
    sink = webhookSink({ url: r.url, batchWindow: '10ms' });
    run = await runPlugins([sink], { store });
    await store.apply([upsert(spec('web'))]);
    await new Promise((done) => setTimeout(done, 100));
    expect(r.bodies).toEqual([]);
    store.leadership.next(true);
    await store.apply([upsert(spec('db'))]);
    await eventually(() => r.bodies.length === 1, 3000, 'the leader to send');
  });

  it('validates its options', () => {
    expect(() => parseOptions({})).toThrow(/plugin webhook: url: is required/);
    expect(() => parseOptions({ url: 'ftp://x' })).toThrow(/url: must match/);
  });
});
