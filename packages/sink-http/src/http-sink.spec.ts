import { isDeepStrictEqual } from 'node:util';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeSinkContract, eventually, memoryLogger, RecordingStore, runPlugins, spec, tempDir, upsert, type Running } from '@signpost/testing';
import { httpSink, RegistrationLog, type HttpSink } from './index.js';

describeSinkContract('http', async () => ({ sink: httpSink({ listen: '127.0.0.1:0' }) }));


interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: () => unknown;
}

describe('http sink', () => {
  let run: Running;
  let http: HttpSink;
  let base: string;
  let dir: { path: string; dispose(): Promise<void> };

  const call = async (method: string, path: string, body?: unknown, raw?: string): Promise<Res> => {
    const res = await fetch(`${base}${path}`, { method, ...(body !== undefined || raw !== undefined ? { body: raw ?? JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
  };
  const get = (path: string): Promise<Res> => call('GET', path);
  const put = (path: string, body?: unknown, raw?: string): Promise<Res> => call('PUT', path, body, raw);

  beforeAll(async () => {
    dir = await tempDir();
    http = httpSink({ listen: '127.0.0.1:0', maxBodyBytes: 4096 });
    run = await runPlugins([http], { node: 'agent-1', dataDir: dir.path });
    base = `http://127.0.0.1:${http.address()!.port}`;
    await run.store.apply([
      upsert(
        spec('cerebro', {
          id: '_nomad-task-2e81934f-3fd7-1fd6-9339-5ae120e1f314-group-cerebro-cerebro-http',
          node: 'nomad-client01-dev',
          nodeAddress: '192.168.10.107',
          nodeMeta: { 'consul-network-segment': '' },
          address: '192.168.10.107',
          port: 24623,
          tags: ['traefik.enable=true', 'traefik.tags=service', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/'],
          meta: { 'external-source': 'nomad' },
        }),
      ),
      upsert(spec('other', { node: 'n2', nodeAddress: '10.0.0.2', port: 1 })),
    ]);
  });

  afterAll(async () => {
    await run.stop();
    await dir.dispose();
  });

  it("answers /v1/catalog/service/cerebro with the seed's fields, exactly", async () => {
    const res = await get('/v1/catalog/service/cerebro');
    expect(res.status).toBe(200);
    const [entry] = res.json() as Array<Record<string, unknown>>;
    expect(Object.keys(entry!)).toEqual([
      'ID', 'Node', 'Address', 'Datacenter', 'TaggedAddresses', 'NodeMeta', 'ServiceKind', 'ServiceID', 'ServiceName', 'ServiceTags', 'ServiceAddress',
      'ServiceTaggedAddresses', 'ServiceWeights', 'ServiceMeta', 'ServicePort', 'ServiceEnableTagOverride', 'ServiceProxy', 'ServiceConnect', 'CreateIndex', 'ModifyIndex',
    ]);
    expect(entry).toMatchObject({
      Node: 'nomad-client01-dev',
      Address: '192.168.10.107',
      Datacenter: 'dc1',
      TaggedAddresses: { lan: '192.168.10.107', lan_ipv4: '192.168.10.107', wan: '192.168.10.107', wan_ipv4: '192.168.10.107' },
      NodeMeta: { 'consul-network-segment': '' },
      ServiceKind: '',
      ServiceName: 'cerebro',
      ServiceTaggedAddresses: { lan_ipv4: { Address: '192.168.10.107', Port: 24623 }, wan_ipv4: { Address: '192.168.10.107', Port: 24623 } },
      ServiceWeights: { Passing: 1, Warning: 1 },
      ServiceMeta: { 'external-source': 'nomad' },
      ServicePort: 24623,
      ServiceEnableTagOverride: false,
      ServiceProxy: { MeshGateway: {}, Expose: {} },
      ServiceConnect: {},
    });
    expect(entry!['ID']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('sends X-Consul-Index (never 0), KnownLeader and LastContact on every read', async () => {
    for (const path of ['/v1/catalog/services', '/v1/catalog/service/none', '/v1/catalog/nodes', '/v1/health/state/any', '/v1/agent/self', '/v1/status/leader']) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 200]);
      expect(Number(res.headers.get('x-consul-index'))).toBeGreaterThan(0);
      expect(res.headers.get('x-consul-knownleader')).toBe('true');
      expect(res.headers.get('x-consul-lastcontact')).toBe('0');
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
    }
  });

  it('while the store has lost its backend: reads answer stale and say so, writes answer 503 and store nothing', async () => {
    run.store.setUnavailable(true);
    try {
      await new Promise((r) => setTimeout(r, 30));
      const res = await get('/v1/catalog/service/cerebro');
      expect(res.status).toBe(200);
      expect((res.json() as unknown[]).length).toBe(1);
      expect(res.headers.get('x-consul-knownleader')).toBe('false');
      expect(Number(res.headers.get('x-consul-lastcontact'))).toBeGreaterThanOrEqual(30);
      expect(res.headers.get('x-consul-effective-consistency')).toBe('stale');
      const consistent = await get('/v1/catalog/service/cerebro?consistent');
      expect([consistent.status, consistent.text]).toEqual([500, 'No cluster leader']);
      const before = run.store.index;
      const write = await put('/v1/agent/service/register', { Name: 'while-down', Port: 1 });
      expect(write.status).toBe(503);
      expect(write.text).toMatch(/unavailable/);
      expect(run.store.index).toBe(before);
      // Not remembered either: it would otherwise come back after a restart though the client was told no.
      expect((await get('/v1/agent/services')).json()).not.toHaveProperty('while-down');
    } finally {
      run.store.setUnavailable(false);
    }
    expect((await put('/v1/agent/service/register', { Name: 'while-down', Port: 1 })).status).toBe(200);
    expect((await put('/v1/agent/service/deregister/while-down')).status).toBe(200);
  });

  it('lists services with tags, nodes, one node, datacenters, and agent/self for Prometheus and Fabio', async () => {
    expect((await get('/v1/catalog/services')).json()).toMatchObject({ cerebro: ['traefik.enable=true', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/', 'traefik.tags=service'] });
    expect(((await get('/v1/catalog/nodes')).json() as Array<{ Node: string }>).map((n) => n.Node)).toEqual(['n2', 'nomad-client01-dev']);
    const node = (await get('/v1/catalog/node/n2')).json() as { Node: { Address: string }; Services: Record<string, { Service: string; Port: number }> };
    expect(node.Node.Address).toBe('10.0.0.2');
    expect(node.Services['other']).toMatchObject({ Service: 'other', Port: 1 });
    expect((await get('/v1/catalog/node/nope')).text).toBe('null');
    expect((await get('/v1/catalog/datacenters')).json()).toEqual(['dc1']);
    expect((await get('/v1/agent/self')).json()).toMatchObject({ Config: { Datacenter: 'dc1', NodeName: 'agent-1', Version: expect.any(String) } });
    expect((await get('/v1/status/leader')).json()).toBe('127.0.0.1:8300');
  });

  describe('blocking queries', () => {
    it('wakes a watcher of a service only when that service changes, not at the end of its wait', async () => {
      const index = Number((await get('/v1/catalog/service/cerebro')).headers.get('x-consul-index'));
      let settled = false;
      const t0 = Date.now();
      const blocked = get(`/v1/health/service/cerebro?index=${index}&wait=10s`).then((r) => {
        settled = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 100));
      await run.store.apply([upsert(spec('other', { node: 'n2', nodeAddress: '10.0.0.2', port: 2 }))]);
      await new Promise((r) => setTimeout(r, 100));
      expect(settled).toBe(false);
      expect(http.blockedRequests()).toBe(1);
      const changedAt = Date.now();
      await run.store.apply([upsert(spec('cerebro', { id: 'c-extra', node: 'n2', nodeAddress: '10.0.0.2', port: 3 }))]);
      const res = await blocked;
      // Half the wait, not a tight bound: a loaded CI machine must not fail it, and only a
      // wake-up on the change (not the wait running out) answers this soon.
      expect(Date.now() - changedAt).toBeLessThan(5000);
      expect(Date.now() - t0).toBeGreaterThan(150);
      expect(Number(res.headers.get('x-consul-index'))).toBeGreaterThan(index);
      expect(res.json()).toHaveLength(2);
    });

    it('returns the same index when the wait times out', async () => {
      const index = Number((await get('/v1/catalog/service/cerebro')).headers.get('x-consul-index'));
      const t0 = Date.now();
      const res = await get(`/v1/catalog/service/cerebro?index=${index}&wait=100ms`);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
      expect(Number(res.headers.get('x-consul-index'))).toBe(index);
    });

    it('wakes /v1/catalog/services only when names or tags change', async () => {
      const index = Number((await get('/v1/catalog/services')).headers.get('x-consul-index'));
      let settled = false;
      const blocked = get(`/v1/catalog/services?index=${index}&wait=5s`).then((r) => {
        settled = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 50));
      await run.store.apply([upsert(spec('other', { node: 'n2', nodeAddress: '10.0.0.2', port: 9 }))]);
      await new Promise((r) => setTimeout(r, 100));
      expect(settled).toBe(false);
      await run.store.apply([upsert(spec('other', { node: 'n2', nodeAddress: '10.0.0.2', port: 9, tags: ['new'] }))]);
      expect(((await blocked).json() as Record<string, string[]>)['other']).toEqual(['new']);
    });

    it('wakes only the watchers of the changed service among many', async () => {
      const controllers: AbortController[] = [];
      const woke = new Set<string>();
      const names = Array.from({ length: 50 }, (_, n) => `svc-${n}`);
      await run.store.apply(names.map((s) => upsert(spec(s, { node: 'n3', nodeAddress: '10.0.0.3' }))));
      const pending = names.map(async (s) => {
        const c = new AbortController();
        controllers.push(c);
        const idx = (await fetch(`${base}/v1/health/service/${s}`)).headers.get('x-consul-index');
        try {
          await fetch(`${base}/v1/health/service/${s}?index=${idx}&wait=10s`, { signal: c.signal });
          woke.add(s);
        } catch {
          // aborted at the end
        }
      });
      await new Promise((r) => setTimeout(r, 300));
      await run.store.apply([upsert(spec('svc-7', { node: 'n3', nodeAddress: '10.0.0.3', port: 7 }))]);
      await new Promise((r) => setTimeout(r, 200));
      expect([...woke]).toEqual(['svc-7']);
      for (const c of controllers) c.abort();
      await Promise.all(pending);
    });
  });

  describe('agent registration', () => {
    it('stores a lone surrogate as U+FFFD, as Consul (Go) does, so every answer stays valid UTF-8', async () => {
      const raw = '{"Name":"lone\\ud800","ID":"lone-1","Tags":["t\\udc00"],"Meta":{"k":"v\\ud800"}}';
      const r = await put('/v1/agent/service/register', undefined, raw);
      expect([r.status, r.text]).toEqual([200, '']);
      const res = await fetch(`${base}/v1/catalog/services`);
      const bytes = Buffer.from(await res.arrayBuffer());
      // A strict parser (jq) reads UTF-8: the text must survive the round trip unchanged.
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      expect(text).not.toMatch(/\\ud[89a-f]/i);
      expect((JSON.parse(text) as Record<string, string[]>)['lone\ufffd']).toEqual(['t\ufffd']);
      const service = ((await get('/v1/agent/service/lone-1')).json()) as { Meta: Record<string, string> };
      expect(service.Meta).toEqual({ k: 'v\ufffd' });
      // A meta key is held to Consul's [A-Za-z0-9_-]: refused, naming it.
      const key = await put('/v1/agent/service/register', undefined, '{"Name":"x","Meta":{"k\\ud800":"v"}}');
      expect([key.status, key.text]).toEqual([400, '0.instance.meta.k\ufffd: is not an allowed key name']);
      expect((await put('/v1/agent/service/deregister/lone-1')).status).toBe(200);
    });

    it('registers CamelCase and snake_case, and reads back what was registered', async () => {
      expect((await put('/v1/agent/service/register', { Name: 'api', ID: 'api-1', Port: 8080, Tags: ['v1'], Meta: { version: '1' }, EnableTagOverride: true })).status).toBe(200);
      expect((await put('/v1/agent/service/register', { name: 'db', id: 'db-1', port: 5432, enable_tag_override: true, tagged_addresses: { lan: { address: '10.0.0.9', port: 5432 } } })).status).toBe(200);
      const services = (await get('/v1/agent/services')).json() as Record<string, Record<string, unknown>>;
      expect(services['api-1']).toMatchObject({ ID: 'api-1', Service: 'api', Port: 8080, Tags: ['v1'], Meta: { version: '1' }, EnableTagOverride: true, Address: '' });
      expect(services['db-1']).toMatchObject({ Service: 'db', EnableTagOverride: true, TaggedAddresses: { lan: { Address: '10.0.0.9', Port: 5432 } }, Tags: [], Meta: {} });
      expect(((await get('/v1/catalog/service/api')).json() as Array<{ Node: string }>)[0]!.Node).toBe('agent-1');
      expect((await put('/v1/agent/service/deregister/db-1')).status).toBe(200);
      expect((await get('/v1/agent/services')).json()).not.toHaveProperty('db-1');
      expect((await put('/v1/agent/service/deregister/db-1')).status).toBe(404);
    });

    it("replays Nomad's register-then-reconcile loop: nothing differs, so Nomad never re-registers", async () => {
      // What Nomad's consul client sends (api.AgentServiceRegistration, omitempty fields left out).
      const wanted = {
        ID: '_nomad-task-3072b120-3e79-79db-16f4-5f2726d1d057-group-cerebro-cerebro-http',
        Name: 'cerebro',
        Tags: ['traefik.enable=true', 'traefik.tags=service', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/'],
        Port: 31601,
        Address: '192.168.10.108',
        Meta: { 'external-source': 'nomad' },
        Checks: [],
        Namespace: '',
      };
      // nomad/command/agent/consul/service_client.go different(): Kind, ID, Port, Address, Name,
      // EnableTagOverride, and reflect.DeepEqual on Meta and Tags.
      const different = (existing: Record<string, unknown> | undefined): boolean =>
        !existing ||
        !(
          (existing['Kind'] ?? '') === '' &&
          existing['ID'] === wanted.ID &&
          existing['Port'] === wanted.Port &&
          existing['Address'] === wanted.Address &&
          existing['Service'] === wanted.Name &&
          existing['EnableTagOverride'] === false &&
          isDeepStrictEqual(existing['Meta'], wanted.Meta) &&
          isDeepStrictEqual(existing['Tags'], wanted.Tags)
        );
      let registrations = 0;
      for (let sync = 0; sync < 4; sync++) {
        const services = (await get('/v1/agent/services')).json() as Record<string, Record<string, unknown>>;
        if (different(services[wanted.ID])) {
          expect((await put('/v1/agent/service/register', wanted)).status).toBe(200);
          registrations++;
        }
      }
      expect(registrations).toBe(1);
      const index = (await get('/v1/catalog/service/cerebro')).headers.get('x-consul-index');
      expect((await put('/v1/agent/service/register', wanted)).status).toBe(200);
      expect((await get('/v1/catalog/service/cerebro')).headers.get('x-consul-index')).toBe(index);
    });

    it('runs TTL checks through pass/warn/fail, and health reads reflect them as Consul does', async () => {
      await put('/v1/agent/service/register', { Name: 'worker', ID: 'worker-1', Port: 9000, Check: { TTL: '30s' } });
      const health = async (q = ''): Promise<Array<{ Checks: Array<{ CheckID: string; Status: string; Output: string }> }>> =>
        (await get(`/v1/health/service/worker${q}`)).json() as Array<{ Checks: Array<{ CheckID: string; Status: string; Output: string }> }>;
      expect((await health())[0]!.Checks[0]).toMatchObject({ CheckID: 'service:worker-1', Status: 'critical' });
      expect(await health('?passing')).toEqual([]);
      expect((await put('/v1/agent/check/pass/service:worker-1?note=all%20good')).status).toBe(200);
      expect((await health('?passing=1'))[0]!.Checks[0]).toMatchObject({ Status: 'passing', Output: 'all good' });
      await put('/v1/agent/check/warn/service:worker-1');
      expect((await get('/v1/health/state/warning')).json()).toEqual([expect.objectContaining({ CheckID: 'service:worker-1', ServiceName: 'worker' })]);
      await put('/v1/agent/check/update/service:worker-1', { Status: 'critical', Output: 'down' });
      expect((await get('/v1/agent/checks')).json()).toMatchObject({ 'service:worker-1': { Status: 'critical', Output: 'down' } });
      expect((await put('/v1/agent/check/pass/nope')).status).toBe(404);
      await put('/v1/agent/check/register', { Name: 'port', ServiceID: 'worker-1', TCP: '127.0.0.1:9000', Interval: '10s' });
      expect((await put('/v1/agent/check/pass/port')).text).toBe('CheckID "port" does not have associated TTL');
      expect(((await health())[0]!.Checks).map((c) => c.CheckID)).toEqual(['service:worker-1', 'port']);
      await put('/v1/agent/check/deregister/port');
      expect(((await health())[0]!.Checks).map((c) => c.CheckID)).toEqual(['service:worker-1']);
    });
  });

  it('keeps an HTTP check definition as registered, DisableRedirects and the TLS settings included', async () => {
    await put('/v1/agent/service/register', {
      Name: 'redirected',
      ID: 'redirected-1',
      Port: 1,
      Check: { HTTP: 'https://127.0.0.1:1/health', Method: 'HEAD', Header: { 'X-A': ['b'] }, Interval: '10s', DisableRedirects: true, TLSSkipVerify: true, TLSServerName: 'api.internal' },
    });
    const checks = (await get('/v1/health/checks/redirected')).json() as Array<{ Definition: Record<string, unknown> }>;
    expect(checks[0]!.Definition).toMatchObject({ HTTP: 'https://127.0.0.1:1/health', Method: 'HEAD', Header: { 'X-A': ['b'] }, DisableRedirects: true, TLSSkipVerify: true, TLSServerName: 'api.internal' });
    const bad = await put('/v1/agent/service/register', { Name: 'redirected', ID: 'redirected-2', Port: 1, Check: { HTTP: 'http://x/', Interval: '10s', DisableRedirects: 'yes' } });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('DisableRedirects');
  });

  it('keeps checks registered apart on re-register, and drops them with ?replace-existing-checks', async () => {
    const ids = async (): Promise<string[]> => ((await get('/v1/health/checks/keeper2')).json() as Array<{ CheckID: string }>).map((c) => c.CheckID).sort();
    await put('/v1/agent/service/register', { Name: 'keeper2', ID: 'k2', Port: 1, Check: { TTL: '30s' } });
    await put('/v1/agent/check/register', { Name: 'extra', ServiceID: 'k2', TTL: '30s' });
    expect(await ids()).toEqual(['extra', 'service:k2']);
    await put('/v1/agent/service/register', { Name: 'keeper2', ID: 'k2', Port: 2, Check: { TTL: '30s' } });
    expect(await ids()).toEqual(['extra', 'service:k2']);
    await put('/v1/agent/service/register?replace-existing-checks', { Name: 'keeper2', ID: 'k2', Port: 2, Check: { TTL: '30s' } });
    expect(await ids()).toEqual(['service:k2']);
  });

  it('turns a TTL check critical when its TTL passes without an update, and renews on each update', async () => {
    await put('/v1/agent/service/register', { Name: 'beat', ID: 'beat-1', Port: 1, Check: { TTL: '300ms' } });
    const status = async (): Promise<{ Status: string; Output: string }> =>
      ((await get('/v1/agent/checks')).json() as Record<string, { Status: string; Output: string }>)['service:beat-1']!;
    for (let n = 0; n < 4; n++) {
      await put('/v1/agent/check/pass/service:beat-1');
      await new Promise((r) => setTimeout(r, 150));
      expect((await status()).Status).toBe('passing');
    }
    const t0 = Date.now();
    while ((await status()).Status !== 'critical') {
      if (Date.now() - t0 > 2000) throw new Error('the TTL did not expire');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await status()).toMatchObject({ Status: 'critical', Output: 'TTL expired' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
  });

  /** Polls /v1/agent/checks until `id` is critical; returns it. */
  const untilCritical = async (id: string, withinMs = 2000): Promise<{ Status: string; Output: string }> => {
    const t0 = Date.now();
    for (;;) {
      const c = ((await get('/v1/agent/checks')).json() as Record<string, { Status: string; Output: string }>)[id]!;
      if (c.Status === 'critical') return c;
      if (Date.now() - t0 > withinMs) throw new Error(`${id} did not turn critical: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('turns a TTL check registered passing critical when no update ever comes (Consul arms it at registration)', async () => {
    await put('/v1/agent/service/register', { Name: 'silent', ID: 'silent-1', Port: 1, Check: { TTL: '200ms', Status: 'passing' } });
    await put('/v1/agent/check/register', { Name: 'extra', ServiceID: 'silent-1', TTL: '200ms', Status: 'passing' });
    expect(await untilCritical('service:silent-1')).toMatchObject({ Output: 'TTL expired' });
    expect(await untilCritical('extra')).toMatchObject({ Output: 'TTL expired' });
  });

  it('keeps what an update says within OutputMaxSize, and names it when the TTL passes', async () => {
    await put('/v1/agent/service/register', { Name: 'chatty', ID: 'chatty-1', Port: 1, Check: { TTL: '300ms', OutputMaxSize: 8 } });
    await put('/v1/agent/check/warn/service:chatty-1?note=' + encodeURIComponent('queue depth 1200'));
    const warned = ((await get('/v1/agent/checks')).json() as Record<string, { Status: string; Output: string }>)['service:chatty-1'];
    expect(warned).toMatchObject({ Status: 'warning', Output: 'queue de ... (captured 8 of 16 bytes)' });
    expect(await untilCritical('service:chatty-1')).toMatchObject({ Output: 'TTL expired (last output before timeout follows): queue de ... (captured 8 of 16 bytes)' });
  });

  it('keeps TCPUseTLS on a TCP check, and shows it in the Definition', async () => {
    await put('/v1/agent/service/register', { Name: 'tlsed', ID: 'tlsed-1', Port: 1, Check: { TCP: '127.0.0.1:1', Interval: '10s', TCPUseTLS: true, TLSServerName: 'db.internal' } });
    expect(run.store.instance({ node: 'agent-1', id: 'tlsed-1' })!.checks[0]!.definition).toMatchObject({ tcp: '127.0.0.1:1', tcpUseTls: true, tlsServerName: 'db.internal' });
    const [check] = (await get('/v1/health/checks/tlsed')).json() as Array<{ Definition: Record<string, unknown> }>;
    expect(check!.Definition).toMatchObject({ TCP: '127.0.0.1:1', TCPUseTLS: true, TLSServerName: 'db.internal' });
  });

  it('keeps FailuresBeforeWarning and OutputMaxSize in the check definition, and refuses bad ones by name', async () => {
    await put('/v1/agent/service/register', { Name: 'thresholds', ID: 'thresholds-1', Port: 1, Check: { HTTP: 'http://127.0.0.1:1/', Interval: '10s', FailuresBeforeWarning: 2, FailuresBeforeCritical: 4, OutputMaxSize: 512 } });
    expect(run.store.instance({ node: 'agent-1', id: 'thresholds-1' })!.checks[0]!.definition).toMatchObject({ failuresBeforeWarning: 2, failuresBeforeCritical: 4, outputMaxSize: 512 });
    // 0 is Consul's "not set".
    await put('/v1/agent/service/register', { Name: 'thresholds', ID: 'thresholds-2', Port: 1, Check: { TCP: '127.0.0.1:1', Interval: '10s', FailuresBeforeWarning: 0, OutputMaxSize: 0 } });
    expect(run.store.instance({ node: 'agent-1', id: 'thresholds-2' })!.checks[0]!.definition).not.toHaveProperty('outputMaxSize');
    expect(run.store.instance({ node: 'agent-1', id: 'thresholds-2' })!.checks[0]!.definition).not.toHaveProperty('failuresBeforeWarning');
    const bad = await put('/v1/agent/service/register', { Name: 'thresholds', ID: 'thresholds-3', Port: 1, Check: { TCP: '127.0.0.1:1', Interval: '10s', OutputMaxSize: -1 } });
    expect([bad.status, bad.text]).toEqual([400, 'Request decode failed: Check.OutputMaxSize: must be between 0 and 1000000000, not -1']);
  });

  it('deregisters a service critical for longer than its DeregisterCriticalServiceAfter, and not one that recovers', async () => {
    const check = { TTL: '10s', DeregisterCriticalServiceAfter: '300ms' };
    await put('/v1/agent/service/register', { Name: 'doomed', ID: 'doomed-1', Port: 1, Check: check });
    await put('/v1/agent/service/register', { Name: 'saved', ID: 'saved-1', Port: 1, Check: check });
    await new Promise((r) => setTimeout(r, 150));
    await put('/v1/agent/check/pass/service:saved-1');
    const t0 = Date.now();
    while (Object.keys((await get('/v1/agent/services')).json() as object).includes('doomed-1')) {
      if (Date.now() - t0 > 3000) throw new Error('not deregistered');
      await new Promise((r) => setTimeout(r, 20));
    }
    const services = Object.keys((await get('/v1/agent/services')).json() as object);
    expect(services).toContain('saved-1');
    expect(services).not.toContain('doomed-1');
  });

  describe('catalog registration', () => {
    it('registers a service on another node and deregisters it', async () => {
      const reg = { Node: 'ext-1', Address: '10.5.0.1', NodeMeta: { 'external-node': 'true' }, Service: { ID: 'redis1', Service: 'redis', Tags: ['primary'], Port: 6379 } };
      const res = await put('/v1/catalog/register', reg);
      expect([res.status, res.text]).toEqual([200, 'true']);
      expect((await get('/v1/catalog/service/redis')).json()).toEqual([expect.objectContaining({ Node: 'ext-1', Address: '10.5.0.1', NodeMeta: { 'external-node': 'true' }, ServicePort: 6379 })]);
      expect((await put('/v1/catalog/deregister', { Node: 'ext-1', ServiceID: 'redis1' })).text).toBe('true');
      expect((await get('/v1/catalog/service/redis')).json()).toEqual([]);
    });

    it('deregisters everything on a node when only the node is named', async () => {
      for (const id of ['a', 'b']) await put('/v1/catalog/register', { Node: 'ext-2', Address: '10.5.0.2', Service: { ID: id, Service: 'batch', Port: 1 } });
      expect((await get('/v1/catalog/service/batch')).json()).toHaveLength(2);
      await put('/v1/catalog/deregister', { Node: 'ext-2' });
      expect((await get('/v1/catalog/service/batch')).json()).toEqual([]);
      expect((await get('/v1/catalog/node/ext-2')).text).toBe('null');
    });
  });

  it("refuses to deregister a node whose services another replica registered, naming it, and keeps Consul's answer otherwise", async () => {
    await run.store.apply([upsert({ ...spec('ext', { node: 'ext-owned', nodeAddress: '10.5.0.9', port: 1 }), source: 'http@reg-a' })]);
    const res = await put('/v1/catalog/deregister', { Node: 'ext-owned' });
    expect([res.status, res.text]).toEqual([400, 'services on node "ext-owned" are registered through http@reg-a: deregister them there']);
    expect(run.store.instance({ node: 'ext-owned', id: 'ext' })).toBeDefined();
    // A node nobody registered through this plugin: Consul's true, nothing done.
    expect(await put('/v1/catalog/deregister', { Node: 'nobody-here' })).toMatchObject({ status: 200, text: 'true' });
  });

  describe('bad input', () => {
    it.each([
      ['/v1/agent/service/register', '{"Name": "x",', 400, /^Request decode failed: /],
      ['/v1/agent/service/register', '{"Port": 80}', 400, /^Request decode failed: Name: missing service name$/],
      ['/v1/agent/service/register', '{"Name": "x", "Port": "80"}', 400, /^Request decode failed: Port: must be an integer, not "80"$/],
      ['/v1/agent/service/register', '{"Name": "x", "Port": 70000}', 400, /^Request decode failed: Port: must be between 0 and 65535, not 70000$/],
      ['/v1/agent/service/register', '{"Name": "x", "Check": {"HTTP": "http://x/"}}', 400, /^Request decode failed: Check\.Interval: is required for HTTP checks$/],
      ['/v1/agent/service/register', '{"Name": "x", "Check": {"Args": ["/bin/true"], "Interval": "10s"}}', 400, /Check\.Args: Args checks are not supported/],
      ['/v1/agent/service/register', '{"Name": "x", "Address": "not an address"}', 400, /Address: must be an IP address or a host name/],
      ['/v1/catalog/register', '{"Node": "n"}', 400, /Address: missing node address/],
    ])('PUT %s %s → %d', async (path, body, status, message) => {
      const before = run.store.index;
      const res = await put(path, undefined, body);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      expect(res.text).toMatch(message);
      expect(run.store.index).toBe(before);
    });

    it('refuses an oversized body with 413', async () => {
      const res = await put('/v1/agent/service/register', { Name: 'big', Meta: { pad: 'x'.repeat(5000) } });
      expect(res.status).toBe(413);
    });

    it.each([
      ['/v1/nope', 404, '404 page not found\n'],
      ['/v1/catalog/services?stale&consistent', 400, 'Cannot specify ?stale with ?consistent, conflicting semantics.'],
      ['/v1/catalog/services?dc=elsewhere', 500, 'No path to datacenter'],
      ['/v1/catalog/services?index=abc', 400, 'Invalid index'],
      ['/v1/health/state/sideways', 400, 'Invalid state'],
      ['/v1/health/service/cerebro?passing=maybe', 400, 'Invalid value for ?passing'],
    ])('GET %s → %d', async (path, status, text) => {
      const res = await get(path);
      expect([res.status, res.text]).toEqual([status, text]);
    });
  });

  describe('?filter=', () => {
    it('answers 400, not seconds of matching, for a pattern against a value over 8 KiB', async () => {
      await run.store.apply([upsert(spec('longtag', { id: 'lt1', node: 'n2', nodeAddress: '10.0.0.2', tags: ['x'.repeat(20_000)] }))]);
      const res = await get('/v1/catalog/service/longtag?filter=' + encodeURIComponent('ServiceTags matches "^(x|x)+y$"'));
      expect([res.status, res.text]).toEqual([400, 'Failed to evaluate the filter: a value of 20000 characters is longer than the 8192 a pattern is matched against']);
      expect((await get('/v1/catalog/service/longtag?filter=' + encodeURIComponent('ServiceID == lt1'))).status).toBe(200);
      await run.store.apply([{ source: 'src-a', event: { type: 'remove', ref: { node: 'n2', id: 'lt1' } } }]);
    });

    it.each([
      // cerebro by now: the seed's instance, c-extra on n2 (blocking test), and Nomad's on agent-1.
      ['/v1/catalog/service/cerebro?filter=' + encodeURIComponent('ServiceMeta["external-source"] == "nomad"'), 2],
      ['/v1/catalog/service/cerebro?filter=' + encodeURIComponent('Node != "nomad-client01-dev"'), 2],
      ['/v1/catalog/service/cerebro?filter=' + encodeURIComponent('Node == n2'), 1],
      ['/v1/health/service/cerebro?filter=' + encodeURIComponent('"traefik.enable=true" in Service.Tags'), 2],
      ['/v1/agent/services?filter=' + encodeURIComponent('Service == "api"'), 1],
      ['/v1/agent/services?filter=' + encodeURIComponent('Service == api and Port == 9'), 0],
      ['/v1/catalog/nodes?filter=' + encodeURIComponent('Node == n2'), 1],
    ])('%s → %d', async (path, count) => {
      const res = await get(path);
      expect(res.status).toBe(200);
      const body = res.json() as unknown[] | Record<string, unknown>;
      expect(Array.isArray(body) ? body.length : Object.keys(body).length).toBe(count);
    });

    it('answers a bad filter with 400 and the reason', async () => {
      const res = await get('/v1/catalog/service/cerebro?filter=' + encodeURIComponent('Bogus == 1'));
      expect([res.status, res.text]).toEqual([400, 'Failed to create boolean expression evaluator: Selector "Bogus" is not valid']);
      expect((await get('/v1/catalog/service/cerebro?filter=' + encodeURIComponent('ServiceName = x'))).status).toBe(400);
    });
  });

  it('keeps agent registrations across a restart (persisted in the data directory)', async () => {
    // A data directory of its own: the one of the agent the other tests run is locked by it.
    const own = await tempDir();
    const store = new RecordingStore();
    const first = httpSink({ listen: '127.0.0.1:0' });
    const a = await runPlugins([first], { node: 'agent-2', dataDir: own.path, store });
    await fetch(`http://127.0.0.1:${first.address()!.port}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'keeper', Port: 1 }) });
    await a.stop();
    const second = httpSink({ listen: '127.0.0.1:0' });
    const b = await runPlugins([second], { node: 'agent-2', dataDir: own.path });
    const services = (await (await fetch(`http://127.0.0.1:${second.address()!.port}/v1/agent/services`)).json()) as Record<string, unknown>;
    expect(Object.keys(services)).toContain('keeper');
    await b.stop();
    await own.dispose();
  });

  it('runs the TTLs of checks registered before a restart again', async () => {
    const own = await tempDir();
    const first = httpSink({ listen: '127.0.0.1:0' });
    const a = await runPlugins([first], { node: 'agent-4', dataDir: own.path });
    await fetch(`http://127.0.0.1:${first.address()!.port}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'beater', Port: 1, Check: { TTL: '10s', Status: 'passing' } }) });
    await a.stop();
    // The restarted agent holds the registration with a shorter TTL, as if edited while it was down.
    const log = await RegistrationLog.open({ dir: join(own.path, 'http-registrations'), logger: memoryLogger() });
    const saved = log.tables.agent.get('beater')!;
    await log.write({ op: 'set', kind: 'agent', id: 'beater', reg: { ...saved, checks: saved.checks.map((c) => ({ ...c, definition: { ...c.definition, ttl: '200ms' } })) } });
    await log.close();
    const second = httpSink({ listen: '127.0.0.1:0' });
    const b = await runPlugins([second], { node: 'agent-4', dataDir: own.path });
    try {
      const check = () => b.store.instance({ node: 'agent-4', id: 'beater' })?.checks[0];
      expect(check()?.status).toBe('passing');
      await eventually(() => check()?.status === 'critical' && check()?.output === 'TTL expired', 2000, 'the TTL check restored at start to expire');
    } finally {
      await b.stop();
      await own.dispose();
    }
  });

  describe('persistence', () => {
    it('answers concurrent registrations after fewer fsyncs than writes (group commit)', async () => {
      const before = http.persistence()!;
      const results = await Promise.all(Array.from({ length: 64 }, (_, n) => put('/v1/agent/service/register', { Name: 'burst', ID: `burst-${n}`, Port: 1000 + n })));
      expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
      const after = http.persistence()!;
      expect(after.records - before.records).toBe(64);
      expect(after.fsyncs - before.fsyncs).toBe(after.writes - before.writes);
      expect(after.fsyncs - before.fsyncs).toBeLessThan(64);
      await Promise.all(results.map((_, n) => put(`/v1/agent/service/deregister/burst-${n}`)));
    });

    it('moves the registrations file of earlier versions into its log at start', async () => {
      const own = await tempDir();
      const legacy = join(own.path, 'http-registrations.json');
      const registration = { instance: { service: 'old', id: 'old-1', node: 'agent-5', port: 7 }, checks: [{ id: 'old-ttl', name: 'old', type: 'ttl', definition: { ttl: '30s' } }] };
      await writeFile(legacy, JSON.stringify({ agent: [['old-1', registration]], catalog: [] }));
      const sink = httpSink({ listen: '127.0.0.1:0' });
      const a = await runPlugins([sink], { node: 'agent-5', dataDir: own.path });
      try {
        expect(a.store.instance({ node: 'agent-5', id: 'old-1' })).toMatchObject({ service: 'old', port: 7, checks: [{ id: 'old-ttl' }] });
        expect(existsSync(legacy)).toBe(false);
        expect(a.logger.lines).toContainEqual(expect.objectContaining({ level: 'info', fields: expect.objectContaining({ from: legacy, registrations: 1 }) }));
      } finally {
        await a.stop();
      }
      const b = await runPlugins([httpSink({ listen: '127.0.0.1:0' })], { node: 'agent-5', dataDir: own.path });
      expect(b.store.instance({ node: 'agent-5', id: 'old-1' })?.port).toBe(7);
      await b.stop();
      await own.dispose();
    });

    it('with fsync: never, answers without an fsync; and refuses other values by name', async () => {
      const own = await tempDir();
      const sink = httpSink({ listen: '127.0.0.1:0', fsync: 'never' });
      const a = await runPlugins([sink], { node: 'agent-6', dataDir: own.path });
      const res = await fetch(`http://127.0.0.1:${sink.address()!.port}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'quick', Port: 1 }) });
      expect(res.status).toBe(200);
      expect(sink.persistence()).toMatchObject({ records: 1, writes: 1, fsyncs: 0 });
      await a.stop();
      const b = await runPlugins([httpSink({ listen: '127.0.0.1:0' })], { node: 'agent-6', dataDir: own.path });
      expect(b.store.instance({ node: 'agent-6', id: 'quick' })).toBeDefined();
      await b.stop();
      await own.dispose();
      expect(() => httpSink({ fsync: 'sometimes' as 'never' })).toThrow(/fsync/);
    });
  });


  describe('ACL', () => {
    it('lets reads through anonymously, and needs a write token for writes', async () => {
      const secured = httpSink({ listen: '127.0.0.1:0', acl: { anonymous: 'read', tokens: [{ token: 'w'.repeat(20), rights: 'write' }, { token: 'r'.repeat(20), rights: 'read' }] } });
      const r = await runPlugins([secured], { node: 'agent-3' });
      const url = `http://127.0.0.1:${secured.address()!.port}`;
      const register = (headers: Record<string, string>): Promise<Response> =>
        fetch(`${url}/v1/agent/service/register`, { method: 'PUT', headers, body: JSON.stringify({ Name: 'guarded', Port: 1 }) });
      try {
        expect((await fetch(`${url}/v1/catalog/services`)).status).toBe(200);
        const anonymous = await register({});
        expect([anonymous.status, await anonymous.text()]).toEqual([403, 'Permission denied']);
        expect((await register({ 'X-Consul-Token': 'r'.repeat(20) })).status).toBe(403);
        const unknown = await register({ 'X-Consul-Token': 'x'.repeat(20) });
        expect([unknown.status, await unknown.text()]).toEqual([403, 'ACL not found']);
        expect((await register({ 'X-Consul-Token': 'w'.repeat(20) })).status).toBe(200);
        expect((await register({ Authorization: `Bearer ${'w'.repeat(20)}` })).status).toBe(200);
        expect(r.store.instances('guarded')).toHaveLength(1);
      } finally {
        await r.stop();
      }
    });

    it('can close reads too, and validates its options', async () => {
      const closed = httpSink({ listen: '127.0.0.1:0', acl: { anonymous: 'none', tokens: [{ token: 'r'.repeat(20), rights: 'read' }] } });
      const r = await runPlugins([closed], { node: 'agent-4' });
      const url = `http://127.0.0.1:${closed.address()!.port}`;
      try {
        expect((await fetch(`${url}/v1/catalog/services`)).status).toBe(403);
        expect((await fetch(`${url}/v1/catalog/services?token=${'r'.repeat(20)}`)).status).toBe(200);
      } finally {
        await r.stop();
      }
      expect(() => httpSink({ acl: { tokens: [{ token: 'short', rights: 'write' }] } })).toThrow(/acl\.tokens\[0\]\.token: must NOT have fewer than 16 characters/);
      expect(() => httpSink({ acl: { tokens: [{ token: 'x'.repeat(16), rights: 'admin' }] } as never })).toThrow(/acl\.tokens\[0\]\.rights: must be one of "read", "write"/);
    });
  });

  describe('connections', () => {
    it('caps open connections per client address: one client trickling cannot starve the others', async () => {
      const capped = httpSink({ listen: '127.0.0.1:0', maxConnsPerClient: 4 });
      const r = await runPlugins([capped], { node: 'agent-5' });
      const port = capped.address()!.port;
      const sockets: Socket[] = [];
      const open = (from: string): Promise<{ socket: Socket; closed: Promise<void> }> =>
        new Promise((resolve) => {
          const socket = connect({ port, host: '127.0.0.1', localAddress: from });
          sockets.push(socket);
          socket.on('error', () => undefined);
          const closed = new Promise<void>((c) => socket.once('close', () => c()));
          // Half a request line, as a slow client sends it.
          socket.once('connect', () => (socket.write('GET /v1/catalog/services HTTP/1.1\r\n'), resolve({ socket, closed })));
        });
      try {
        for (let n = 0; n < 4; n++) await open('127.0.0.1');
        await eventually(() => capped.connections().open === 4, 2000, 'four connections held');
        await (await open('127.0.0.1')).closed;
        expect(capped.connections().refused).toBe(1);
        // Another client is served while 127.0.0.1 holds its four.
        const other = await open('127.0.0.2');
        const reply = new Promise<string>((resolve) => other.socket.once('data', (d: Buffer) => resolve(d.toString())));
        other.socket.write('Host: x\r\n\r\n');
        expect(await reply).toMatch(/^HTTP\/1.1 200/);
        expect(r.logger.lines.filter((l) => l.level === 'warn' && l.msg.includes('maxConnsPerClient')).map((l) => l.fields['client'])).toEqual(['127.0.0.1']);
      } finally {
        for (const s of sockets) s.destroy();
        await r.stop();
      }
    });
  });
});
