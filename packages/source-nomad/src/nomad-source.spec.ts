import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeSourceContract, eventually, hasProgram, runPlugins, tempDir, type Running } from '@signpost/testing';
import { NomadDouble, sampleFrame, sampleServices } from './__fixtures__/nomad-double.js';
import { eventsOf, FrameSplitter, nomadSource, parseOptions, toInstance, type NomadService, type NomadSource } from './index.js';

describe('mapping Nomad registrations', () => {
  it("maps the docs' sample registration, keeping Nomad's ids in meta", () => {
    expect(toInstance(sampleServices()[0]!)).toEqual({
      id: '_nomad-task-177160af-26f6-619f-9c9f-5e46d1104395-redis-example-cache-redis-db',
      service: 'example-cache-redis',
      node: '7406e90b-de16-d118-80fe-60d0f2730cb3',
      nodeAddress: '127.0.0.1',
      datacenter: 'dc1',
      address: '127.0.0.1',
      port: 29702,
      tags: ['db', 'cache'],
      meta: {
        'external-source': 'nomad',
        'nomad-namespace': 'default',
        'nomad-job-id': 'example',
        'nomad-alloc-id': '177160af-26f6-619f-9c9f-5e46d1104395',
        'nomad-node-id': '7406e90b-de16-d118-80fe-60d0f2730cb3',
      },
    });
  });

  it.each([
    ['a registration', 'ServiceRegistration', {}, 'upsert'],
    ['a deregistration', 'ServiceDeregistration', {}, 'remove'],
    ['a registration the tag filter no longer wants', 'ServiceRegistration', { tags: ['web'] }, 'remove'],
    ['another topic', 'JobRegistered', {}, undefined],
  ] as const)('turns %s into %s', (_what, type, filter, expected) => {
    const frame = sampleFrame();
    const e = { ...frame.Events![0]!, Type: type, Topic: type === 'JobRegistered' ? 'Job' : 'Service' };
    const events = eventsOf({ ...frame, Events: [e] }, filter);
    expect(events.map((x) => x.type)).toEqual(expected ? [expected] : []);
  });

  it('splits NDJSON frames across and within chunks, heartbeats included', () => {
    const s = new FrameSplitter();
    const text = `{}\n${JSON.stringify(sampleFrame())}\n{}\n`;
    const bytes = Buffer.from(text);
    const out = [...s.push(bytes.subarray(0, 5)), ...s.push(bytes.subarray(5, 60)), ...s.push(bytes.subarray(60))];
    expect(out.map((f) => f.Index ?? 'heartbeat')).toEqual(['heartbeat', 35, 'heartbeat']);
    expect(() => new FrameSplitter().push(Buffer.from('nope\n'))).toThrow('the event stream sent a line that is not JSON: nope');
  });
});

describeSourceContract('nomad', async () => {
  const nomad = new NomadDouble();
  await nomad.start();
  const source = nomadSource({ address: nomad.url, heartbeatTimeout: '2s', retryMax: '100ms' });
  return { source, expectedInstances: 2, dispose: () => nomad.stop() };
});

describe('nomad source against a protocol double', () => {
  let nomad: NomadDouble;
  let run: Running | undefined;
  let source: NomadSource;
  const ids = (): string[] => run!.store.instances('example-cache-redis').map((i) => i.id.slice(-30)).sort();
  const start = async (options: Record<string, unknown> = {}): Promise<void> => {
    source = nomadSource({ address: nomad.url, heartbeatTimeout: '1s', retryMax: '100ms', ...options });
    run = await runPlugins([source]);
  };
  const another = (id: string, extra: Partial<NomadService> = {}): NomadService => ({ ...sampleServices()[0]!, ID: id, AllocID: id, Port: 30000, ...extra });

  beforeEach(async () => {
    nomad = new NomadDouble();
    await nomad.start();
  });
  afterEach(async () => {
    await run?.stop();
    run = undefined;
    await nomad.stop();
  });

  it('lists, then follows registrations and deregistrations from the stream, with the token, region and namespace', async () => {
    await start({ token: 'secret', region: 'global', namespace: 'default' });
    await eventually(() => run!.store.instances('example-cache-redis').length === 2 && nomad.openStreams === 1, 3000, 'the list');
    nomad.register(another('web-3'));
    await eventually(() => run!.store.instance({ node: '7406e90b-de16-d118-80fe-60d0f2730cb3', id: 'web-3' }) !== undefined, 3000, 'the registration');
    nomad.deregister(sampleServices()[0]!.ID);
    await eventually(() => run!.store.instances('example-cache-redis').length === 2, 3000, 'the deregistration');
    expect(run!.store.instances('example-cache-redis').map((i) => i.id)).not.toContain(sampleServices()[0]!.ID);
    for (const r of nomad.requests) {
      expect(r.token).toBe('secret');
      expect(r.query.get('region')).toBe('global');
      expect(r.query.get('namespace')).toBe('default');
    }
    const stream = nomad.requests.find((r) => r.path === '/v1/event/stream')!;
    expect(stream.query.get('topic')).toBe('Service');
    expect(source.stats().connects).toBe(1);
  });

  it('applies a frame split across writes, and stays connected while heartbeats come', async () => {
    await start();
    await eventually(() => nomad.openStreams === 1 && source.stats().resets === 1, 3000, 'connected');
    const beat = setInterval(() => nomad.heartbeat(), 200);
    try {
      nomad.index++;
      const reg = { ...another('split-1'), ModifyIndex: nomad.index };
      nomad.registrations.set(reg.ID, reg);
      nomad.send({ Index: nomad.index, Events: [{ Topic: 'Service', Type: 'ServiceRegistration', Key: reg.ID, Namespace: 'default', Index: nomad.index, Payload: { Service: reg } }] }, true);
      await eventually(() => run!.store.instances('example-cache-redis').length === 3, 3000, 'the split frame');
      await new Promise((r) => setTimeout(r, 1500));
      expect(source.stats().connects).toBe(1);
    } finally {
      clearInterval(beat);
    }
  });

  it('after a missed heartbeat, reconnects and lists again', async () => {
    await start({ heartbeatTimeout: '300ms' });
    await eventually(() => source.stats().resets === 1, 3000, 'connected');
    // Silence: no heartbeat; meanwhile a deregistration the stream never tells.
    nomad.deregister(sampleServices()[1]!.ID, false);
    await eventually(() => source.stats().resets >= 2, 5000, 'a reconnect and a new list');
    await eventually(() => run!.store.instances('example-cache-redis').length === 1, 3000, 'the reset to drop it');
    expect(run!.logger.lines.some((l) => String(l.fields['err']).includes('no heartbeat'))).toBe(true);
  });

  it('after a dropped connection, lists again: what was deregistered meanwhile does not linger', async () => {
    await start();
    await eventually(() => nomad.openStreams === 1 && source.stats().resets === 1, 3000, 'connected');
    nomad.failWith = { status: 500, body: 'rpc error: No cluster leader' };
    nomad.drop();
    nomad.deregister(sampleServices()[0]!.ID, false);
    nomad.register(another('while-away'), false);
    await eventually(() => run!.logger.lines.some((l) => String(l.fields['err']).includes('answered GET /v1/event/stream with 500: rpc error: No cluster leader')), 3000, 'the 500');
    expect(ids()).toHaveLength(2);
    nomad.failWith = undefined;
    await eventually(() => run!.store.instance({ node: '7406e90b-de16-d118-80fe-60d0f2730cb3', id: 'while-away' }) !== undefined, 5000, 'the new list');
    expect(run!.store.instances('example-cache-redis').map((i) => i.id)).not.toContain(sampleServices()[0]!.ID);
  });

  it('lists again when the event index goes back (a restored or new cluster)', async () => {
    await start();
    await eventually(() => nomad.openStreams === 1 && source.stats().resets === 1, 3000, 'connected');
    nomad.register(another('a'));
    await eventually(() => run!.store.instances('example-cache-redis').length === 3, 3000, 'a');
    nomad.registrations.delete('a');
    nomad.send({ Index: 5, Events: [] });
    await eventually(() => source.stats().resets === 2, 3000, 'a new list');
    await eventually(() => run!.store.instances('example-cache-redis').length === 2, 3000, 'the reset');
    expect(run!.logger.lines.some((l) => String(l.fields['err']).includes('index went back from'))).toBe(true);
  });

  it('says clearly when the token is refused (403), keeps what it had, and recovers when it is allowed', async () => {
    nomad.failWith = { status: 403, body: 'Permission denied' };
    await start({ token: 'wrong' });
    await eventually(() => run!.logger.lines.some((l) => l.level === 'error'), 3000, 'the error');
    const line = run!.logger.lines.find((l) => l.level === 'error')!;
    expect(line.fields['err']).toBe(`nomad at ${nomad.url} answered GET /v1/event/stream with 403: Permission denied (the token needs namespace:read-job on namespace "default")`);
    nomad.failWith = undefined;
    await eventually(() => run!.store.instances('example-cache-redis').length === 2, 5000, 'the list once allowed');
  });

  it('follows every namespace with namespace "*", asking for each service in its own namespace', async () => {
    nomad.register(another('prod-1', { ServiceName: 'api', Namespace: 'prod' }), false);
    await start({ namespace: '*' });
    await eventually(() => run!.store.services().size === 2, 3000, 'both namespaces');
    expect(run!.store.instances('api')[0]!.meta['nomad-namespace']).toBe('prod');
    expect(nomad.requests.find((r) => r.path === '/v1/service/api')!.query.get('namespace')).toBe('prod');
    expect(nomad.requests.find((r) => r.path === '/v1/event/stream')!.query.get('namespace')).toBe('*');
  });

  it('follows only the services and tags it is told to', async () => {
    nomad.register(another('web-1', { ServiceName: 'web', Tags: ['public'] }), false);
    nomad.register(another('api-1', { ServiceName: 'api', Tags: ['internal'] }), false);
    await start({ tags: ['public', 'cache'] });
    await eventually(() => run!.store.services().size === 2, 3000, 'the list');
    expect([...run!.store.services().keys()]).toEqual(['example-cache-redis', 'web']);
    await run!.stop();
    source = nomadSource({ address: nomad.url, services: ['api'] });
    run = await runPlugins([source]);
    await eventually(() => run!.store.services().size === 1, 3000, 'the list');
    expect([...run!.store.services().keys()]).toEqual(['api']);
    expect(nomad.requests.filter((r) => r.path === '/v1/service/example-cache-redis').length).toBe(1);
  });

  it.skipIf(!hasProgram('openssl', 'openssl'))('speaks TLS: verifies the server against its CA, presents a client certificate, or skips verification', async () => {
    const dir = await tempDir();
    const sh = (cmd: string): void => void execSync(cmd, { cwd: dir.path, stdio: 'ignore' });
    sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca');
    sh('openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=nomad');
    await writeFile(join(dir.path, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    sh('openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile san.ext');
    sh('openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=signpost');
    sh('openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1');
    const read = (f: string): Buffer => readFileSync(join(dir.path, f));
    await nomad.stop();
    nomad = new NomadDouble();
    await nomad.start({ key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem') });
    try {
      const tryWith = async (tls: Record<string, unknown>): Promise<Running> => {
        const s = nomadSource({ address: nomad.url, retryMax: '100ms', tls });
        return runPlugins([s], { baseDir: dir.path });
      };
      // The server's certificate checks out against the CA, and the client presents its own.
      run = await tryWith({ ca: 'ca.pem', cert: 'client.pem', key: 'client.key' });
      await eventually(() => run!.store.instances('example-cache-redis').length === 2, 5000, 'the list over mTLS');
      await run.stop();
      // Without the CA the server is not trusted, and the error says so.
      run = await tryWith({ cert: 'client.pem', key: 'client.key' });
      await eventually(() => run!.logger.lines.some((l) => /unreachable.*(self-signed|unable to verify|certificate)/i.test(String(l.fields['err']))), 5000, 'a certificate error');
      expect(run.store.instances('example-cache-redis')).toEqual([]);
      await run.stop();
      // insecureSkipVerify trusts any server certificate.
      run = await tryWith({ insecureSkipVerify: true, cert: 'client.pem', key: 'client.key' });
      await eventually(() => run!.store.instances('example-cache-redis').length === 2, 5000, 'the list without verification');
    } finally {
      await dir.dispose();
    }
  });

  it('validates its options', () => {
    expect(() => parseOptions({ address: 'nomad:4646' })).toThrow(/plugin nomad: address: must match/);
    expect(() => parseOptions({ tls: { cert: 'c.pem' } })).toThrow('plugin nomad: tls: cert and key go together');
    expect(() => parseOptions({ heartbeatTimeout: 'soon' })).toThrow(/heartbeatTimeout/);
  });
});
