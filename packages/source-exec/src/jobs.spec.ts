import { describe, expect, it } from 'vitest';
import { ConfigError } from '@signpost/core';
import { environment, parseJobsFile, registration, sameProcess, type Placement } from './jobs.js';
import { bindable, parsePortRange, PortAllocator } from './ports.js';
import { createServer } from 'node:net';

const parse = (text: string) => parseJobsFile(text, '/etc/jobs.yaml', '/srv');

describe('jobs file', () => {
  it('fills Nomad-like defaults', () => {
    const [job] = parse('jobs:\n  - name: web\n    command: node\n    service: {}\n');
    expect(job).toEqual({
      name: 'web',
      command: 'node',
      args: [],
      cwd: '/srv',
      env: {},
      count: 1,
      ports: ['http'],
      service: { name: 'web', port: 'http', tags: [], meta: {} },
      restart: { delayMs: 1000, maxDelayMs: 30000, attempts: 0 },
      killTimeoutMs: 5000,
    });
  });

  it.each([
    ['jobs:\n  - name: web\n    command: node\n    cout: 2\n', '/etc/jobs.yaml:4:5: jobs[0].cout: unknown key'],
    ['jobs:\n  - name: web\n    command: node\n    count: -1\n', '/etc/jobs.yaml:4:5: jobs[0].count: must be >= 0'],
    ['jobs:\n  - { name: web, command: a }\n  - { name: web, command: b }\n', '/etc/jobs.yaml:3:7: jobs[1].name: duplicate job "web" (jobs[0] has it)'],
    ['jobs:\n  - name: web\n    command: a\n    ports: [http]\n    service: { port: admin }\n', '/etc/jobs.yaml:5:16: jobs[0].service.port: port label "admin" is not among the job\'s ports (http)'],
    ['jobs:\n  - name: web\n    command: a\n    service: { check: { type: tcp, path: /x } }\n', "/etc/jobs.yaml:4:36: jobs[0].service.check.path: a tcp check has no path"],
    ['jobs:\n  - name: web\n    command: a\n    restart: { delay: 10s, maxDelay: 1s }\n', '/etc/jobs.yaml:4:28: jobs[0].restart.maxDelay: must not be shorter than delay (10s)'],
    ['jobs:\n  - name: web server\n    command: a\n', '/etc/jobs.yaml:2:5: jobs[0].name: must match ^[A-Za-z0-9_-]+$'],
  ])('refuses %j with file, line and key', (text, message) => {
    const err = (() => {
      try {
        parse(text);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    if (typeof message === 'string') expect((err as Error).message).toBe(message);
    else expect((err as Error).message).toMatch(message);
  });

  it('tells a change of count alone from a change of what runs', () => {
    const [a] = parse('jobs:\n  - { name: web, command: node, count: 2 }\n');
    const [b] = parse('jobs:\n  - { name: web, command: node, count: 5 }\n');
    const [c] = parse('jobs:\n  - { name: web, command: node, count: 2, env: { A: "1" } }\n');
    expect(sameProcess(a!, b!)).toBe(true);
    expect(sameProcess(a!, c!)).toBe(false);
  });
});

describe('placement', () => {
  const [job] = parseJobsFile(
    'jobs:\n  - name: cerebro\n    command: node\n    env: { GREETING: hi }\n    ports: [http, admin]\n    service:\n      tags: [traefik.enable=true]\n      meta: { team: a }\n      check: { type: http, path: /health, interval: 5s, timeout: 1s }\n',
    '/j.yaml',
    '/',
  );
  const p: Placement = { job: job!, index: 1, allocId: 'a1', ports: { http: 21000, admin: 21001 }, address: '127.0.0.1' };

  it("passes the ports as Nomad does, and PORT for the service's", () => {
    expect(environment(p)).toEqual({
      GREETING: 'hi',
      NOMAD_PORT_http: '21000',
      NOMAD_HOST_PORT_http: '21000',
      NOMAD_IP_http: '127.0.0.1',
      NOMAD_ADDR_http: '127.0.0.1:21000',
      NOMAD_PORT_admin: '21001',
      NOMAD_HOST_PORT_admin: '21001',
      NOMAD_IP_admin: '127.0.0.1',
      NOMAD_ADDR_admin: '127.0.0.1:21001',
      PORT: '21000',
      NOMAD_ALLOC_ID: 'a1',
      NOMAD_ALLOC_INDEX: '1',
      NOMAD_JOB_NAME: 'cerebro',
      NOMAD_TASK_NAME: 'cerebro',
    });
  });

  it('registers the service with its check aimed at the dynamic port, and the ids in meta', () => {
    expect(registration(p)).toEqual({
      id: '_exec-a1-cerebro-cerebro-http',
      service: 'cerebro',
      address: '127.0.0.1',
      port: 21000,
      tags: ['traefik.enable=true'],
      meta: { team: 'a', 'external-source': 'exec', 'exec-job': 'cerebro', 'exec-alloc-id': 'a1', 'exec-alloc-index': '1' },
      checks: [{ name: 'service: "cerebro" check', type: 'http', definition: { http: 'http://127.0.0.1:21000/health', interval: '5s', timeout: '1s' } }],
    });
    const tcp = { ...p, job: { ...p.job, service: { ...p.job.service!, check: { type: 'tcp' as const } } } };
    expect(registration(tcp)!.checks).toEqual([{ name: 'service: "cerebro" check', type: 'tcp', definition: { tcp: '127.0.0.1:21000', interval: '10s' } }]);
    expect(registration({ ...p, job: { ...p.job, service: undefined } as never })).toBeUndefined();
  });
});

describe('ports', () => {
  it.each([
    ['20000-32000', [20000, 32000]],
    ['5-5', [5, 5]],
  ])('parses %s', (text, range) => expect(parsePortRange(text)).toEqual(range));
  it.each(['32000-20000', '0-10', '1-70000', 'x'])('refuses %s', (text) => expect(() => parsePortRange(text)).toThrow(/portRange/));

  it('never hands out a port in use or one it already gave', async () => {
    const busy = new Set([40001]);
    const alloc = new PortAllocator(40000, 40003, () => 0, async (port) => !busy.has(port));
    const got = [await alloc.allocate(), await alloc.allocate(), await alloc.allocate()];
    expect(got).toEqual([40000, 40002, 40003]);
    await expect(alloc.allocate()).rejects.toThrow('no free port left in 40000-40003');
    alloc.release(40002);
    expect(await alloc.allocate()).toBe(40002);
  });

  it('probes by binding: a port something listens on is not free', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const port = (server.address() as { port: number }).port;
    try {
      expect(await bindable(port)).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await bindable(port)).toBe(true);
  });
});
