import { describe, expect, it } from 'vitest';
import { normalizeInstance, type InstanceInput, type ServiceInstance } from '@signpost/core';
import { byPriority, mergeRouters, serviceRoutes, type RouteOptions } from './routes.js';
import type { RequestFacts } from './rules.js';

const options: RouteOptions = { prefix: 'traefik', exposedByDefault: false, defaultRule: 'Host(`{{ name }}.{{ domain }}`)', domain: 'example.internal', entrypoints: ['web'] };
const instance = (service: string, input: Partial<InstanceInput>): ServiceInstance => ({
  ...normalizeInstance({ service, ...input }, 'src', { node: 'n1', nodeAddress: '10.0.0.1', datacenter: 'dc1' }),
  createIndex: 1,
  modifyIndex: 1,
});
const req = (url: string, host = 'x'): RequestFacts => {
  const u = new URL(url, 'http://x');
  return { host, path: u.pathname, method: 'GET', headers: {}, query: u.searchParams, clientIp: '127.0.0.1' };
};

const SEED = ['traefik.enable=true', 'traefik.tags=service', 'traefik.frontend.rule=PathPrefixStrip:/cerebro/'];

describe('serviceRoutes', () => {
  it("routes the seed's cerebro tags: PathPrefixStrip over both instances", () => {
    const { routers, problems } = serviceRoutes(
      'cerebro',
      [instance('cerebro', { id: 'c1', node: 'n1', address: '192.168.10.107', port: 24623, tags: SEED }), instance('cerebro', { id: 'c2', node: 'n2', address: '192.168.10.108', port: 31601, tags: SEED })],
      options,
    );
    expect(problems).toEqual([]);
    expect(routers).toHaveLength(1);
    const [r] = routers;
    expect(r).toMatchObject({ name: 'frontend@cerebro', rule: 'PathPrefixStrip:/cerebro/', priority: 'PathPrefixStrip:/cerebro/'.length, entrypoints: ['web'], middlewares: [{ stripPrefixes: ['/cerebro/'] }] });
    expect(r!.backends.map((b) => `${b.host}:${b.port}`)).toEqual(['192.168.10.107:24623', '192.168.10.108:31601']);
    expect(r!.matches(req('/cerebro/api'))).toBe(true);
    expect(r!.matches(req('/other'))).toBe(false);
  });

  it('skips services without traefik.enable=true unless exposedByDefault, with a default Host rule', () => {
    const plain = [instance('api', { port: 8080 })];
    expect(serviceRoutes('api', plain, options).routers).toEqual([]);
    const { routers } = serviceRoutes('api', plain, { ...options, exposedByDefault: true });
    expect(routers.map((r) => [r.name, r.rule])).toEqual([['api@api', 'Host(`api.example.internal`)']]);
    expect(routers[0]!.matches(req('/', 'api.example.internal'))).toBe(true);
    expect(serviceRoutes('api', [instance('api', { tags: ['traefik.enable=false'] })], { ...options, exposedByDefault: true }).routers).toEqual([]);
  });

  it('reads v2 routers, services and middlewares', () => {
    const tags = [
      'traefik.enable=true',
      'traefik.http.routers.api.rule=Host(`a.example`) && PathPrefix(`/api`)',
      'traefik.http.routers.api.priority=100',
      'traefik.http.routers.api.entrypoints=web,websecure',
      'traefik.http.routers.api.middlewares=strip,hdr',
      'traefik.http.middlewares.strip.stripprefix.prefixes=/api',
      'traefik.http.middlewares.hdr.headers.customrequestheaders.X-From=signpost',
      'traefik.http.services.apisvc.loadbalancer.server.port=9000',
      'traefik.http.services.apisvc.loadbalancer.sticky.cookie.name=lb',
    ];
    const { routers, problems } = serviceRoutes('api', [instance('api', { port: 8080, address: '10.1.0.1', tags })], options);
    expect(problems).toEqual([]);
    expect(routers).toHaveLength(1);
    expect(routers[0]).toMatchObject({
      name: 'api@api',
      priority: 100,
      entrypoints: ['web', 'websecure'],
      middlewares: [{ stripPrefixes: ['/api'] }, { requestHeaders: { 'X-From': 'signpost' } }],
      backends: [{ host: '10.1.0.1', port: 9000, scheme: 'http' }],
      stickyCookie: 'lb',
    });
    expect(routers[0]!.matches(req('/api/x', 'a.example'))).toBe(true);
  });

  it('drops a router that two instances define differently, naming them, and keeps the rest', () => {
    const a = instance('api', { id: 'a1', tags: ['traefik.enable=true', 'traefik.http.routers.r1.rule=Path(`/one`)', 'traefik.http.routers.r2.rule=Path(`/two`)'] });
    const b = instance('api', { id: 'a2', node: 'n2', tags: ['traefik.enable=true', 'traefik.http.routers.r1.rule=Path(`/uno`)', 'traefik.http.routers.r2.rule=Path(`/two`)'] });
    const { routers, problems } = serviceRoutes('api', [a, b], options);
    expect(routers.map((r) => r.name)).toEqual(['r2@api']);
    expect(problems).toEqual([{ service: 'api', instances: ['a1', 'a2'], reason: 'the instances define traefik.http.routers.r1 differently; the router is dropped' }]);
  });

  it('reports a rule that does not parse and keeps the others', () => {
    const { routers, problems } = serviceRoutes('api', [instance('api', { tags: ['traefik.enable=true', 'traefik.http.routers.bad.rule=Host(oops)', 'traefik.http.routers.good.rule=Path(`/`)'] })], options);
    expect(routers.map((r) => r.name)).toEqual(['good@api']);
    expect(problems[0]!.reason).toMatch(/^router bad@api: expected a value in backticks for Host, not "oops"/);
  });

  it('reads v1 frontends, priority, weight and load-balancer method', () => {
    const tags = ['traefik.enable=true', 'traefik.frontend.rule=Host:a.example', 'traefik.frontend.priority=5', 'traefik.frontends.admin.rule=PathPrefix:/admin', 'traefik.weight=3', 'traefik.backend.loadbalancer.method=drr', 'traefik.backend.loadbalancer.stickiness=true'];
    const { routers } = serviceRoutes('web', [instance('web', { port: 80, tags })], options);
    expect(routers.map((r) => [r.name, r.priority, r.loadBalancer, r.backends[0]!.weight, r.stickyCookie])).toEqual([
      ['frontend@web', 5, 'leastconn', 3, '_signpost_web'],
      ['frontends.admin@web', 'PathPrefix:/admin'.length, 'leastconn', 3, '_signpost_web'],
    ]);
  });

  it('reads Fabio urlprefix- tags, merging instances of one route', () => {
    const tags = ['urlprefix-shop.example/cart strip=/cart weight=0.5'];
    const { routers } = serviceRoutes('cart', [instance('cart', { id: 'k1', port: 1, tags }), instance('cart', { id: 'k2', node: 'n2', port: 2, tags })], options);
    const merged = mergeRouters(routers);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ rule: 'Host(`shop.example`) && PathPrefix(`/cart`)', middlewares: [{ stripPrefixes: ['/cart'] }] });
    expect(merged[0]!.backends.map((b) => [b.port, b.weight])).toEqual([
      [1, 50],
      [2, 50],
    ]);
  });

  it('orders routers by priority, the longer rule first by default', () => {
    const a = serviceRoutes('a', [instance('a', { tags: ['traefik.enable=true', 'traefik.http.routers.a.rule=PathPrefix(`/`)'] })], options).routers;
    const b = serviceRoutes('b', [instance('b', { tags: ['traefik.enable=true', 'traefik.http.routers.b.rule=PathPrefix(`/api`)'] })], options).routers;
    expect([...a, ...b].sort(byPriority).map((r) => r.name)).toEqual(['b@b', 'a@a']);
  });
});
