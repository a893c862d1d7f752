import { describe, expect, it } from 'vitest';
import { ConfigError } from '@signpost/core';
import { parseServicesFile } from './parse.js';

const SEED = `
nodes:
  - name: nomad-client01-dev
    address: 192.168.10.107
    meta: { consul-network-segment: "" }
  - name: nomad-client02-dev
    address: 192.168.10.108
services:
  - name: cerebro
    id: cerebro-1
    node: nomad-client01-dev
    address: 192.168.10.107
    port: 24623
    tags: [traefik.enable=true, traefik.tags=service, "traefik.frontend.rule=PathPrefixStrip:/cerebro/"]
    meta: { external-source: nomad }
    check: { http: "http://192.168.10.107:24623/", interval: 10s, timeout: 2s }
  - name: cerebro
    id: cerebro-2
    node: nomad-client02-dev
    address: 192.168.10.108
    port: 31601
    tags: [traefik.enable=true, traefik.tags=service, "traefik.frontend.rule=PathPrefixStrip:/cerebro/"]
`;

const errorOf = (text: string, file = '/srv/services.yaml'): string => {
  try {
    parseServicesFile(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
};

describe('parseServicesFile', () => {
  it("maps the seed's two cerebro instances on two nodes", () => {
    const [a, b] = parseServicesFile(SEED, '/srv/services.yaml');
    expect(a).toEqual({
      id: 'cerebro-1',
      service: 'cerebro',
      node: 'nomad-client01-dev',
      nodeAddress: '192.168.10.107',
      nodeMeta: { 'consul-network-segment': '' },
      address: '192.168.10.107',
      port: 24623,
      tags: ['traefik.enable=true', 'traefik.tags=service', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/'],
      meta: { 'external-source': 'nomad' },
      checks: [{ type: 'http', definition: { http: 'http://192.168.10.107:24623/', interval: '10s', timeout: '2s' } }],
    });
    expect(b).toMatchObject({ id: 'cerebro-2', node: 'nomad-client02-dev', nodeAddress: '192.168.10.108', nodeMeta: {}, port: 31601 });
  });

  it('reads JSON, and a single `service` as Consul does', () => {
    const one = parseServicesFile('{"service": {"name": "redis", "port": 6379, "tags": ["primary"], "weights": {"passing": 10, "warning": 1}}}', '/x.json');
    expect(one).toEqual([{ service: 'redis', port: 6379, tags: ['primary'], weights: { passing: 10, warning: 1 } }]);
  });

  it('maps every Consul check key to the model', () => {
    const [i] = parseServicesFile(
      `services:
  - name: api
    checks:
      - { id: ttl, ttl: 30s, status: passing, notes: "set by app" }
      - { tcp: "127.0.0.1:9", tcp_use_tls: true, interval: 5s, timeout: 1s, failures_before_critical: 3, failures_before_warning: 1, success_before_passing: 2, deregister_critical_service_after: 1m }
      - { http: "https://x/health", method: POST, header: { X-A: [b] }, body: "{}", tls_skip_verify: true, tls_server_name: api.internal, disable_redirects: true, output_max_size: 512, interval: 10s }
`,
      '/s.yml',
    );
    expect(i!.checks).toEqual([
      { id: 'ttl', type: 'ttl', status: 'passing', notes: 'set by app', definition: { ttl: '30s' } },
      { type: 'tcp', definition: { tcp: '127.0.0.1:9', tcpUseTls: true, interval: '5s', timeout: '1s', failuresBeforeCritical: 3, failuresBeforeWarning: 1, successBeforePassing: 2, deregisterCriticalServiceAfter: '1m' } },
      { type: 'http', definition: { http: 'https://x/health', method: 'POST', header: { 'X-A': ['b'] }, body: '{}', tlsSkipVerify: true, tlsServerName: 'api.internal', disableRedirects: true, outputMaxSize: 512, interval: '10s' } },
    ]);
  });

  it('reads an empty file as no services', () => {
    expect(parseServicesFile('', '/e.yaml')).toEqual([]);
  });

  it.each([
    ['services:\n  - name: web\n    prot: 80\n', '/srv/services.yaml:3:5: services[0].prot: unknown key'],
    ['services:\n  - name: web\n    port: 80000\n', '/srv/services.yaml:3:5: services[0].port: must be <= 65535'],
    ['services:\n  - name: web\n    port: "80"\n', '/srv/services.yaml:3:5: services[0].port: must be integer'],
    ['services:\n  - name: web\n    address: "10.0.0.300"\n', '/srv/services.yaml:3:5: services[0].address: must be an IP address or a host name'],
    ['services:\n  - name: web\n  - name: web\n', '/srv/services.yaml:3:5: services[1].name: duplicate id "web" (services[0] has it)'],
    ['services:\n  - { name: a, id: x }\n  - { name: b, id: x }\n', '/srv/services.yaml:3:16: services[1].id: duplicate id "x" (services[0] has it)'],
    ['services:\n  - { name: web, node: n9 }\n', '/srv/services.yaml:2:18: services[0].node: unknown node "n9" (declare it under `nodes`)'],
    ['services:\n  - { name: web, check: { args: [x], interval: 1s } }\n', '/srv/services.yaml:2:27: services[0].check.args: unknown key'],
    ['services:\n  - { name: web, check: { http: "http://x/", tcp: "x:1", interval: 1s } }\n', '/srv/services.yaml:2:18: services[0].check: a check has one type; this one sets http and tcp'],
    ['services:\n  - { name: web, check: { http: "http://x/" } }\n', '/srv/services.yaml:2:18: services[0].check.interval: is required for http checks'],
    ['services:\n  - { name: web, check: { ttl: 30 } }\n', '/srv/services.yaml:2:27: services[0].check.ttl: must be a Go duration such as 10s, 1m30s or 500ms'],
    ['nodes:\n  - { name: a, address: 10.0.0.1 }\n  - { name: a, address: 10.0.0.2 }\n', '/srv/services.yaml:3:7: nodes[1].name: duplicate node "a" (nodes[0] has it)'],
    ['services: [\n', '/srv/services.yaml:2:1: '],
    ['services:\n  - port: 80\n', '/srv/services.yaml:2:5: services[0].name: is required'],
  ])('rejects %j', (text, message) => {
    expect(errorOf(text)).toContain(message);
  });

  it('points at the line in a JSON file too', () => {
    expect(errorOf('{\n  "services": [\n    {"name": "web", "port": -1}\n  ]\n}\n', '/s.json')).toBe('/s.json:3:21: services[0].port: must be >= 0');
    expect(errorOf('{\n  "services": [\n    {"name": "web",}\n  ]\n}\n', '/s.json')).toMatch(/^\/s\.json:3:20: invalid JSON/);
  });

  it('reports every problem in one go', () => {
    expect(errorOf('services:\n  - { name: a, node: x }\n  - { name: b, node: y }\n').split('\n')).toHaveLength(2);
  });
});
