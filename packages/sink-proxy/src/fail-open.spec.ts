import { describe, expect, it } from 'vitest';
import { normalizeInstance, type ServiceInstance } from '@signpost/core';
import { serviceRoutes, type RouteOptions } from './routes.js';

/*
 * Fail-open cases an outside attack found, each through the real route builder: a tag
 * the proxy cannot honour drops what it configures, with the reason, never ignored.
 */

const options: RouteOptions = { prefix: 'traefik', exposedByDefault: false, defaultRule: 'Host(`{{ name }}.{{ domain }}`)', domain: 'example.internal', entrypoints: ['web'] };
const instance = (tags: string[], id = 'app-1'): ServiceInstance => ({
  ...normalizeInstance({ service: 'app', id, port: 8080, tags }, 'src', { node: 'n1', nodeAddress: '10.0.0.1', datacenter: 'dc1' }),
  createIndex: 1,
  modifyIndex: 1,
});
const build = (...instances: string[][]) => serviceRoutes('app', instances.map((tags, n) => instance(tags, `app-${n + 1}`)), options);

describe('v1 frontend keys without frontend.rule apply to the default router', () => {
  it.each([
    ['frontend.auth.basic.users=admin:x', 'traefik.frontend.auth.basic.users'],
    ['frontend.whiteList.sourceRange=10.0.0.0/8', 'traefik.frontend.whiteList.sourceRange'],
    ['frontend.headers.SSLRedirect=true', 'traefik.frontend.headers.SSLRedirect'],
    ['frontend.redirect.entryPoint=https', 'traefik.frontend.redirect.entryPoint'],
    ['frontend.passHostHeader=false', 'traefik.frontend.passHostHeader'],
  ])('%s drops the default router', (tag, key) => {
    const { routers, problems } = build(['traefik.enable=true', `traefik.${tag}`]);
    expect(routers).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ router: 'app@app', key, reason: expect.stringMatching(/the router is dropped$/) })]);
  });

  it.each([
    ['frontend.entryPoints=short', { entrypoints: ['short'] }],
    ['frontend.priority=7', { priority: 7 }],
    ['frontend.passHostHeader=true', { entrypoints: ['web'] }],
  ])('%s takes effect on the default router', (tag, expected) => {
    const { routers, problems } = build(['traefik.enable=true', `traefik.${tag}`]);
    expect(problems).toEqual([]);
    expect(routers).toEqual([expect.objectContaining({ name: 'app@app', rule: 'Host(`app.example.internal`)', ...expected })]);
  });

  it('says so when a frontend key has no router to apply to', () => {
    const { routers, problems } = build(['traefik.enable=true', 'traefik.http.routers.r.rule=Path(`/`)', 'traefik.frontend.entryPoints=short']);
    expect(routers.map((r) => r.name)).toEqual(['r@app']);
    expect(problems).toEqual([expect.objectContaining({ key: 'traefik.frontend.entryPoints' })]);
  });
});

describe('router, service and middleware names are one whatever their case, as Traefik merges them', () => {
  it.each([
    [['traefik.http.routers.Web.rule=Host(`a.example`)', 'traefik.http.routers.web.middlewares=auth', 'traefik.http.middlewares.auth.basicauth.users=u:x'], 'Web@app', 'traefik.http.middlewares.auth.basicauth.users'],
    [['traefik.http.routers.web.rule=Host(`a.example`)', 'traefik.http.routers.web.middlewares=Auth', 'traefik.http.middlewares.auth.basicauth.users=u:x'], 'web@app', 'traefik.http.middlewares.auth.basicauth.users'],
    [['traefik.http.routers.web.rule=Host(`a.example`)', 'traefik.http.routers.web.middlewares=auth', 'traefik.http.middlewares.AUTH.basicauth.users=u:x'], 'web@app', 'traefik.http.middlewares.AUTH.basicauth.users'],
    [['traefik.http.routers.web.rule=Host(`a.example`)', 'traefik.http.routers.WEB.tls=true'], 'web@app', 'traefik.http.routers.WEB.tls'],
    [['traefik.http.routers.web.rule=Host(`a.example`)', 'traefik.http.routers.web.service=Svc', 'traefik.http.services.svc.loadbalancer.server.port=9000', 'traefik.http.services.SVC.loadbalancer.healthcheck.path=/h'], 'web@app', 'traefik.http.services.SVC.loadbalancer.healthcheck.path'],
  ])('%j drops %s', (tags, router, key) => {
    const { routers, problems } = build(['traefik.enable=true', ...tags]);
    expect(routers).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ router, key, reason: expect.stringMatching(/the router is dropped$/) })]);
  });

  it('combines the keys of one name in any case, showing the first spelling', () => {
    const { routers, problems } = build(['traefik.enable=true', 'traefik.http.routers.Web.rule=Path(`/x`)', 'traefik.http.routers.web.middlewares=Strip', 'traefik.http.middlewares.strip.stripprefix.prefixes=/x', 'traefik.http.routers.WEB.service=S', 'traefik.http.services.s.loadbalancer.server.port=9000']);
    expect(problems).toEqual([]);
    expect(routers).toEqual([expect.objectContaining({ name: 'Web@app', rule: 'Path(`/x`)', middlewares: [{ stripPrefixes: ['/x'] }] })]);
    expect(routers[0]!.backends[0]!.port).toBe(9000);
  });
});

describe('a tag prefix in another case is refused', () => {
  it.each([
    [['traefik.http.routers.r.rule=Path(`/`)', 'Traefik.http.routers.r.middlewares=auth'], ['r@app'], 'Traefik.http.routers.r.middlewares'],
    [['traefik.http.routers.r.rule=Path(`/`)', 'TRAEFIK.http.routers.r.tls=true'], ['r@app'], 'TRAEFIK.http.routers.r.tls'],
    [['traefik.frontend.rule=Path:/', 'traefiK.frontend.auth.basic.users=u:x'], ['frontend@app'], 'traefiK.frontend.auth.basic.users'],
    [['TRAEFIK.frontend.auth.basic.users=u:x'], ['app@app'], 'TRAEFIK.frontend.auth.basic.users'],
    [['traefik.http.routers.a.rule=Path(`/a`)', 'traefik.http.routers.b.rule=Path(`/b`)', 'Traefik.http.routers.b.middlewares=auth'], ['a@app', 'b@app'], 'Traefik.http.routers.b.middlewares'],
  ])('%j drops %j', (tags, dropped, key) => {
    const { routers, problems } = build(['traefik.enable=true', ...tags]);
    expect(routers).toEqual([]);
    expect(problems.map((p) => p.router).sort()).toEqual(dropped);
    for (const p of problems) expect(p).toMatchObject({ key, reason: expect.stringContaining('tag prefix must be spelled `traefik`') });
  });
});

describe("a router's service must be one these tags define", () => {
  it.each([
    ['noauth@file', 'provider "file"'],
    ['api@internal', 'provider "internal"'],
    ['s@docker', 'provider "docker"'],
    ['other', 'not defined by any tag'],
    ['other@consulcatalog', 'not defined by any tag'],
  ])('service=%s drops the router', (ref, reason) => {
    const { routers, problems } = build(['traefik.enable=true', 'traefik.http.routers.r.rule=Path(`/`)', `traefik.http.routers.r.service=${ref}`, 'traefik.http.services.s.loadbalancer.server.port=9000']);
    expect(routers).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ router: 'r@app', key: 'traefik.http.routers.r.service', reason: expect.stringContaining(reason) })]);
  });

  it.each([
    ['s', ['traefik.http.services.s.loadbalancer.server.port=9000'], 9000],
    ['S@consulcatalog', ['traefik.http.services.s.loadbalancer.server.port=9000'], 9000],
    ['app', [], 8080],
  ])('service=%s is served', (ref, more, port) => {
    const { routers, problems } = build(['traefik.enable=true', 'traefik.http.routers.r.rule=Path(`/`)', `traefik.http.routers.r.service=${ref}`, ...more]);
    expect(problems).toEqual([]);
    expect(routers.map((r) => [r.name, r.backends[0]!.port])).toEqual([['r@app', port]]);
  });
});

describe('what two instances define differently is dropped, not served from the first', () => {
  it.each([
    [['traefik.frontend.rule=Path:/a'], ['traefik.frontend.rule=Path:/b'], 'traefik.frontend'],
    [['traefik.frontends.x.rule=Path:/a'], ['traefik.frontends.x.rule=Path:/b'], 'traefik.frontends.x'],
    [['traefik.frontend.rule=Path:/a', 'traefik.port=1000'], ['traefik.frontend.rule=Path:/a', 'traefik.port=2000'], 'traefik.port'],
    [['traefik.frontend.entryPoints=a'], ['traefik.frontend.entryPoints=b'], 'traefik.frontend'],
    [['traefik.http.routers.r.rule=Path(`/`)', 'traefik.http.services.s.loadbalancer.server.port=1'], ['traefik.http.routers.r.rule=Path(`/`)', 'traefik.http.services.s.loadbalancer.server.port=2'], 'traefik.http.services.s'],
    [
      ['traefik.http.routers.r.rule=Path(`/`)', 'traefik.http.routers.r.middlewares=m', 'traefik.http.middlewares.m.addprefix.prefix=/a'],
      ['traefik.http.routers.r.rule=Path(`/`)', 'traefik.http.routers.r.middlewares=m', 'traefik.http.middlewares.m.addprefix.prefix=/b'],
      'traefik.http.middlewares.m',
    ],
  ])('%j and %j', (a, b, top) => {
    const { routers, problems } = build(['traefik.enable=true', ...a], ['traefik.enable=true', ...b]);
    expect(routers).toEqual([]);
    expect(problems).toEqual([{ service: 'app', instances: ['app-1', 'app-2'], reason: `the instances define ${top} differently; the router is dropped` }]);
  });

  it('keeps the routers the difference does not configure', () => {
    const same = ['traefik.enable=true', 'traefik.http.routers.r.rule=Path(`/r`)', 'traefik.http.routers.rr.rule=Path(`/rr`)'];
    const { routers } = build([...same, 'traefik.http.routers.r.priority=1'], [...same, 'traefik.http.routers.r.priority=2']);
    expect(routers.map((r) => r.name)).toEqual(['rr@app']);
  });
});

describe('a priority that is not an integer is refused', () => {
  it.each([
    ['http.routers.r.priority=1O0', 'r@app', 'traefik.http.routers.r.priority'],
    ['http.routers.r.priority=1.5', 'r@app', 'traefik.http.routers.r.priority'],
    ['http.routers.r.priority=', 'r@app', 'traefik.http.routers.r.priority'],
    ['http.routers.r.priority=1e3', 'r@app', 'traefik.http.routers.r.priority'],
    ['frontend.priority=1O0', 'frontend@app', 'traefik.frontend.priority'],
  ])('%s drops %s', (tag, router, key) => {
    const rule = tag.startsWith('frontend') ? 'traefik.frontend.rule=Path:/' : 'traefik.http.routers.r.rule=Path(`/`)';
    const { routers, problems } = build(['traefik.enable=true', rule, `traefik.${tag}`]);
    expect(routers).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ router, key, reason: expect.stringContaining('not an integer priority') })]);
  });

  it.each([
    ['100', 100],
    ['-5', -5],
    ['0', 'Path(`/`)'.length],
  ])('priority=%s is %s', (value, expected) => {
    const { routers, problems } = build(['traefik.enable=true', 'traefik.http.routers.r.rule=Path(`/`)', `traefik.http.routers.r.priority=${value}`]);
    expect(problems).toEqual([]);
    expect(routers.map((r) => r.priority)).toEqual([expected]);
  });
});
