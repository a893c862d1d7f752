import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeInstance, type ServiceInstance } from '@signpost/core';
import { MIDDLEWARE_TYPES } from './tag-keys.js';
import { serviceRoutes, type RouteOptions } from './routes.js';

/*
 * Fail closed: every key Traefik documents for HTTP routers, services and middlewares
 * (v3's label reference, docs/content/reference/dynamic-configuration/docker.md) and
 * for Traefik 1.7's Consul Catalog tags is either implemented, and the router is built
 * (each such key's effect has its own test, named beside it), or the router it
 * configures is dropped with a problem naming the key. None is ignored.
 */

const options: RouteOptions = { prefix: 'traefik', exposedByDefault: false, defaultRule: 'Host(`{{ name }}.{{ domain }}`)', domain: 'example.internal', entrypoints: ['web'], transports: ['default', 'internal'] };
const instance = (tags: string[]): ServiceInstance => ({
  ...normalizeInstance({ service: 'app', id: 'app-1', port: 8080, tags }, 'src', { node: 'n1', nodeAddress: '10.0.0.1', datacenter: 'dc1' }),
  createIndex: 1,
  modifyIndex: 1,
});
const ROUTER = ['traefik.enable=true', 'traefik.http.routers.r.rule=PathPrefix(`/app`)', 'traefik.http.routers.r.middlewares=m', 'traefik.http.routers.r.service=s', 'traefik.http.services.s.loadbalancer.responseforwarding.flushinterval=100ms', 'traefik.http.middlewares.m.headers.customrequestheaders.X-Base=1'];

/** Traefik v3's HTTP label keys (router `r`, service `s`, middleware `m`) with a sample value. */
const V3: Array<[string, string]> = [
  ['http.middlewares.m.addprefix.prefix', '/foo'],
  ...['headerfield', 'realm', 'removeheader', 'users', 'usersfile'].map((o): [string, string] => [`http.middlewares.m.basicauth.${o}`, 'x']),
  ...['maxrequestbodybytes', 'maxresponsebodybytes', 'memrequestbodybytes', 'memresponsebodybytes', 'retryexpression'].map((o): [string, string] => [`http.middlewares.m.buffering.${o}`, '42']),
  ['http.middlewares.m.chain.middlewares', 'a,b'],
  ...['checkperiod', 'expression', 'fallbackduration', 'recoveryduration', 'responsecode'].map((o): [string, string] => [`http.middlewares.m.circuitbreaker.${o}`, '42']),
  ['http.middlewares.m.compress', 'true'],
  ...['defaultencoding', 'encodings', 'excludedcontenttypes', 'includedcontenttypes', 'minresponsebodybytes'].map((o): [string, string] => [`http.middlewares.m.compress.${o}`, 'x']),
  ['http.middlewares.m.contenttype', 'true'],
  ['http.middlewares.m.contenttype.autodetect', 'true'],
  ...['headerfield', 'realm', 'removeheader', 'users', 'usersfile'].map((o): [string, string] => [`http.middlewares.m.digestauth.${o}`, 'x']),
  ...['query', 'service', 'status'].map((o): [string, string] => [`http.middlewares.m.errors.${o}`, 'x']),
  ...['addauthcookiestoresponse', 'address', 'authrequestheaders', 'authresponseheaders', 'authresponseheadersregex', 'forwardbody', 'headerfield', 'maxbodysize', 'preservelocationheader', 'tls.ca', 'tls.caoptional', 'tls.cert', 'tls.insecureskipverify', 'tls.key', 'trustforwardheader'].map((o): [string, string] => [
    `http.middlewares.m.forwardauth.${o}`,
    'x',
  ]),
  ['http.middlewares.m.grpcweb.alloworigins', '*'],
  ...[
    'accesscontrolallowcredentials',
    'accesscontrolallowheaders',
    'accesscontrolallowmethods',
    'accesscontrolalloworiginlist',
    'accesscontrolalloworiginlistregex',
    'accesscontrolexposeheaders',
    'accesscontrolmaxage',
    'addvaryheader',
    'allowedhosts',
    'browserxssfilter',
    'contentsecuritypolicy',
    'contentsecuritypolicyreportonly',
    'contenttypenosniff',
    'custombrowserxssvalue',
    'customframeoptionsvalue',
    'customresponseheaders.X-Name',
    'featurepolicy',
    'forcestsheader',
    'framedeny',
    'hostsproxyheaders',
    'isdevelopment',
    'permissionspolicy',
    'publickey',
    'referrerpolicy',
    'sslforcehost',
    'sslhost',
    'sslproxyheaders.X-Name',
    'sslredirect',
    'ssltemporaryredirect',
    'stsincludesubdomains',
    'stspreload',
    'stsseconds',
  ].map((o): [string, string] => [`http.middlewares.m.headers.${o}`, 'x']),
  ...['ipallowlist', 'ipwhitelist'].flatMap((t) => ['ipstrategy', 'ipstrategy.depth', 'ipstrategy.excludedips', 'ipstrategy.ipv6subnet', 'rejectstatuscode', 'sourcerange'].map((o): [string, string] => [`http.middlewares.m.${t}.${o}`, '10.0.0.0/8'])),
  ...['amount', 'sourcecriterion.ipstrategy.depth', 'sourcecriterion.ipstrategy.excludedips', 'sourcecriterion.ipstrategy.ipv6subnet', 'sourcecriterion.requestheadername', 'sourcecriterion.requesthost'].map((o): [string, string] => [`http.middlewares.m.inflightreq.${o}`, '42']),
  ...['info.issuer.commonname', 'info.notafter', 'info.sans', 'info.subject.organizationalunit', 'pem'].map((o): [string, string] => [`http.middlewares.m.passtlsclientcert.${o}`, 'true']),
  ['http.middlewares.m.plugin.pluginconf0.name0', 'x'],
  ...['average', 'burst', 'period', 'sourcecriterion.ipstrategy.depth', 'sourcecriterion.requestheadername', 'sourcecriterion.requesthost'].map((o): [string, string] => [`http.middlewares.m.ratelimit.${o}`, '42']),
  ...['permanent', 'regex', 'replacement'].map((o): [string, string] => [`http.middlewares.m.redirectregex.${o}`, 'x']),
  ...['permanent', 'port', 'scheme'].map((o): [string, string] => [`http.middlewares.m.redirectscheme.${o}`, 'https']),
  ['http.middlewares.m.replacepath.path', '/x'],
  ...['regex', 'replacement'].map((o): [string, string] => [`http.middlewares.m.replacepathregex.${o}`, 'x']),
  ...['attempts', 'initialinterval'].map((o): [string, string] => [`http.middlewares.m.retry.${o}`, '2']),
  ['http.middlewares.m.stripprefix.forceslash', 'true'],
  ['http.middlewares.m.stripprefix.forceslash', 'false'],
  ['http.middlewares.m.stripprefix.prefixes', '/app'],
  ['http.middlewares.m.stripprefixregex.regex', '/a'],
  ['http.middlewares.m.headers.customrequestheaders.X-Tenant', 'blue'],
  ['http.routers.r.entrypoints', 'web'],
  ['http.routers.r.observability.accesslogs', 'true'],
  ['http.routers.r.observability.metrics', 'true'],
  ['http.routers.r.observability.tracing', 'true'],
  ['http.routers.r.priority', '42'],
  ['http.routers.r.rulesyntax', 'v3'],
  ['http.routers.r.rulesyntax', 'v2'],
  ['http.routers.r.tls', 'true'],
  ['http.routers.r.tls', 'false'],
  ['http.routers.r.tls.certresolver', 'le'],
  ['http.routers.r.tls.domains[0].main', 'a.example'],
  ['http.routers.r.tls.domains[0].sans', 'b.example'],
  ['http.routers.r.tls.options', 'x'],
  ...['followredirects', 'headers.name0', 'hostname', 'interval', 'method', 'mode', 'path', 'port', 'scheme', 'status', 'timeout'].map((o): [string, string] => [`http.services.s.loadbalancer.healthcheck.${o}`, '42']),
  ['http.services.s.loadbalancer.passhostheader', 'true'],
  ['http.services.s.loadbalancer.passhostheader', 'false'],
  ['http.services.s.loadbalancer.responseforwarding.flushinterval', '100ms'],
  ['http.services.s.loadbalancer.serverstransport', 'internal'],
  ['http.services.s.loadbalancer.serverstransport', 'missing'],
  ['http.services.s.loadbalancer.sticky', 'true'],
  ['http.services.s.loadbalancer.sticky.cookie', 'true'],
  ['http.services.s.loadbalancer.sticky.cookie.httponly', 'true'],
  ['http.services.s.loadbalancer.sticky.cookie.maxage', '42'],
  ['http.services.s.loadbalancer.sticky.cookie.name', 'lb'],
  ['http.services.s.loadbalancer.sticky.cookie.path', '/'],
  ['http.services.s.loadbalancer.sticky.cookie.samesite', 'lax'],
  ['http.services.s.loadbalancer.sticky.cookie.secure', 'true'],
  ['http.services.s.loadbalancer.server.port', '9000'],
  ['http.services.s.loadbalancer.server.scheme', 'https'],
  ['http.services.s.loadbalancer.server.scheme', 'h2c'],
  ['http.services.s.loadbalancer.server.weight', '3'],
];

/**
 * The keys (with the sample value above) that are implemented, and where each is tested:
 * proxy-sink.spec.ts (P), routes.spec.ts (R), tls.spec.ts (T), and below (B).
 */
const IMPLEMENTED = new Set([
  'http.middlewares.m.addprefix.prefix=/foo', // P: applies addprefix
  'http.middlewares.m.stripprefix.forceslash=true', // B: the stripped path keeps its "/", as always
  'http.middlewares.m.stripprefix.prefixes=/app', // R: reads v2 routers
  'http.middlewares.m.headers.customrequestheaders.X-Tenant=blue', // P: custom request headers
  'http.routers.r.entrypoints=web', // P: entry points
  'http.routers.r.observability.accesslogs=true', // no access log exists here to switch
  'http.routers.r.observability.metrics=true',
  'http.routers.r.observability.tracing=true',
  'http.routers.r.priority=42', // R: priority
  'http.routers.r.rulesyntax=v3', // the only syntax parsed
  'http.routers.r.tls=false', // plain HTTP, as served
  'http.services.s.loadbalancer.passhostheader=true', // P: the Host is passed
  'http.services.s.loadbalancer.responseforwarding.flushinterval=100ms', // responses stream unbuffered
  'http.services.s.loadbalancer.serverstransport=internal', // T
  'http.services.s.loadbalancer.sticky=true', // B: sticky attributes
  'http.services.s.loadbalancer.sticky.cookie=true',
  'http.services.s.loadbalancer.sticky.cookie.httponly=true',
  'http.services.s.loadbalancer.sticky.cookie.maxage=42',
  'http.services.s.loadbalancer.sticky.cookie.name=lb', // P: sticky cookie
  'http.services.s.loadbalancer.sticky.cookie.path=/',
  'http.services.s.loadbalancer.sticky.cookie.samesite=lax',
  'http.services.s.loadbalancer.sticky.cookie.secure=true',
  'http.services.s.loadbalancer.server.port=9000', // R
  'http.services.s.loadbalancer.server.scheme=https', // T
  'http.services.s.loadbalancer.server.weight=3', // B
]);

describe('every Traefik v3 HTTP label is implemented or drops its router', () => {
  it.each(V3)('%s=%s', (key, value) => {
    const { routers, problems } = serviceRoutes('app', [instance([...ROUTER, `traefik.${key}=${value}`])], options);
    if (IMPLEMENTED.has(`${key}=${value}`)) {
      expect(problems).toEqual([]);
      expect(routers.map((r) => r.name)).toEqual(['r@app']);
    } else {
      expect(routers).toEqual([]);
      expect(problems).toContainEqual(expect.objectContaining({ router: 'r@app', key: expect.stringMatching(/^traefik\./) }));
      expect(problems.find((p) => p.router === 'r@app')!.reason).toMatch(/the router is dropped$/);
    }
  });

  it('covers every middleware type Traefik documents', () => {
    const covered = new Set(V3.map(([k]) => k.split('.')[3]));
    expect(MIDDLEWARE_TYPES.filter((t) => !covered.has(t))).toEqual([]);
  });

  it('drops a router naming a middleware no tag defines, or one of another provider', () => {
    for (const ref of ['nowhere', 'auth@file', 'auth@docker']) {
      const { routers, problems } = serviceRoutes('app', [instance(['traefik.enable=true', 'traefik.http.routers.r.rule=Path(`/`)', `traefik.http.routers.r.middlewares=${ref}`])], options);
      expect(routers).toEqual([]);
      expect(problems[0]).toMatchObject({ router: 'r@app', key: 'traefik.http.routers.r.middlewares' });
    }
    expect(serviceRoutes('app', [instance([...ROUTER.filter((t) => !t.includes('middlewares=')), 'traefik.http.routers.r.middlewares=m@consulcatalog'])], options).routers).toHaveLength(1);
  });

  it('reports TCP and UDP routers without touching the HTTP ones', () => {
    const { routers, problems } = serviceRoutes('app', [instance([...ROUTER, 'traefik.tcp.routers.t.rule=HostSNI(`*`)', 'traefik.udp.routers.u.entrypoints=dns'])], options);
    expect(routers.map((r) => r.name)).toEqual(['r@app']);
    expect(problems.map((p) => p.key)).toEqual(['traefik.tcp.routers.t.rule', 'traefik.udp.routers.u.entrypoints']);
  });

  it('reads keys whatever their case, and refuses unknown keys in any case (property)', () => {
    const recase = (s: string, mask: boolean[]): string => [...s].map((c, n) => (mask[n % mask.length] ? c.toUpperCase() : c)).join('');
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.constantFrom(...MIDDLEWARE_TYPES.filter((t) => !['addprefix', 'stripprefix', 'headers'].includes(t))), fc.stringMatching(/^[a-z]{1,12}$/), (mask, type, option) => {
        const built = serviceRoutes('app', [instance(['traefik.enable=true', `traefik.http.routers.r.${recase('rule', mask)}=Path(\`/x\`)`, `traefik.http.routers.r.${recase('middlewares', mask)}=m`, `traefik.http.middlewares.m.${recase('addprefix.prefix', mask)}=/v1`])], options);
        expect(built.problems).toEqual([]);
        expect(built.routers[0]!.rule).toBe('Path(`/x`)');
        const refused = serviceRoutes('app', [instance([...ROUTER, `traefik.http.middlewares.m.${recase(`${type}.${option}`, mask)}=1`])], options);
        expect(refused.routers).toEqual([]);
      }),
    );
  });
});

/** Traefik 1.7's Consul Catalog tags (without the prefix) with a sample value. */
const V1: Array<[string, string, 'implemented' | 'refused']> = [
  ['tags', 'service', 'implemented'], // constraints only, none here
  ['port', '9000', 'implemented'], // B
  ['protocol', 'https', 'implemented'], // B
  ['protocol', 'h2c', 'refused'],
  ['weight', '10', 'implemented'], // R
  ['backend', 'foo', 'implemented'], // a name only
  ['domain', 'example.org', 'implemented'], // B
  ['frontend.priority', '10', 'implemented'], // R
  ['frontend.entryPoints', 'web', 'implemented'], // R
  ['frontend.passHostHeader', 'true', 'implemented'],
  ['frontend.passHostHeader', 'false', 'refused'],
  ['backend.loadbalancer.method', 'drr', 'implemented'], // R
  ['backend.loadbalancer.method', 'random', 'refused'],
  ['backend.loadbalancer.stickiness', 'true', 'implemented'], // R
  ['backend.loadbalancer.stickiness.cookieName', 'lb', 'implemented'],
  ['backend.loadbalancer.sticky', 'true', 'implemented'],
  ['backend.loadbalancer.swarm', 'true', 'refused'],
  ['backend.buffering.maxRequestBodyBytes', '0', 'refused'],
  ['backend.buffering.retryExpression', 'x', 'refused'],
  ['backend.circuitbreaker.expression', 'NetworkErrorRatio() > 0.5', 'refused'],
  ['backend.responseForwarding.flushInterval', '10ms', 'refused'],
  ['backend.healthcheck.path', '/health', 'refused'],
  ['backend.healthcheck.interval', '1s', 'refused'],
  ['backend.healthcheck.port', '8080', 'refused'],
  ['backend.maxconn.amount', '10', 'refused'],
  ['backend.maxconn.extractorfunc', 'client.ip', 'refused'],
  ['frontend.auth.basic', 'u:h', 'refused'],
  ['frontend.auth.basic.users', 'u:h', 'refused'],
  ['frontend.auth.basic.usersFile', '/x', 'refused'],
  ['frontend.auth.basic.removeHeader', 'true', 'refused'],
  ['frontend.auth.digest.users', 'u:r:h', 'refused'],
  ['frontend.auth.forward.address', 'https://auth', 'refused'],
  ['frontend.auth.forward.trustForwardHeader', 'true', 'refused'],
  ['frontend.auth.headerField', 'X-User', 'refused'],
  ['frontend.errors.e.backend', 'x', 'refused'],
  ['frontend.passTLSCert', 'true', 'refused'],
  ['frontend.passTLSClientCert.pem', 'true', 'refused'],
  ['frontend.rateLimit.extractorFunc', 'client.ip', 'refused'],
  ['frontend.rateLimit.rateSet.r.average', '6', 'refused'],
  ['frontend.redirect.entryPoint', 'https', 'refused'],
  ['frontend.redirect.regex', '^x', 'refused'],
  ['frontend.whiteList.sourceRange', '10.0.0.0/8', 'refused'],
  ['frontend.whiteList.useXForwardedFor', 'true', 'refused'],
  ['frontend.headers.customRequestHeaders', 'X:y', 'refused'],
  ['frontend.headers.customResponseHeaders', 'X:y', 'refused'],
  ['frontend.headers.SSLRedirect', 'true', 'refused'],
  ['frontend.headers.STSSeconds', '1', 'refused'],
  ['frontend.headers.frameDeny', 'true', 'refused'],
  ['frontend.headers.contentSecurityPolicy', 'x', 'refused'],
  ['frontend.whatever', 'x', 'refused'],
  ['unheardof', 'x', 'refused'],
];

describe('every Traefik 1.7 tag is implemented or drops its frontend', () => {
  it.each(V1)('%s=%s is %s', (key, value, verdict) => {
    const { routers, problems } = serviceRoutes('app', [instance(['traefik.enable=true', 'traefik.frontend.rule=PathPrefixStrip:/app/', `traefik.${key}=${value}`])], options);
    if (verdict === 'implemented') {
      expect(problems).toEqual([]);
      expect(routers.map((r) => r.name)).toEqual(['frontend@app']);
    } else {
      expect(routers).toEqual([]);
      expect(problems[0]).toMatchObject({ router: 'frontend@app', key: `traefik.${key}` });
    }
  });

  it('applies port, protocol and domain, and keeps other frontends when one is refused', () => {
    const { routers, problems } = serviceRoutes('app', [instance(['traefik.enable=true', 'traefik.port=9000', 'traefik.protocol=https', 'traefik.frontends.a.rule=Path:/a', 'traefik.frontends.b.rule=Path:/b', 'traefik.frontends.b.auth.basic.users=u:h'])], options);
    expect(routers.map((r) => [r.name, r.backends[0]!.port, r.backends[0]!.scheme])).toEqual([['frontends.a@app', 9000, 'https']]);
    expect(problems).toEqual([expect.objectContaining({ router: 'frontends.b@app', key: 'traefik.frontends.b.auth.basic.users' })]);
    const byDomain = serviceRoutes('app', [instance(['traefik.enable=true', 'traefik.domain=example.org'])], options).routers;
    expect(byDomain.map((r) => r.rule)).toEqual(['Host(`app.example.org`)']);
  });
});

describe('implemented service keys', () => {
  it('server.weight, sticky cookie attributes and stripprefix.forceslash=true', () => {
    const { routers, problems } = serviceRoutes(
      'app',
      [
        instance([
          ...ROUTER.filter((t) => !t.includes('middlewares')),
          'traefik.http.services.s.loadbalancer.server.weight=3',
          'traefik.http.services.s.loadbalancer.sticky.cookie.name=lb',
          'traefik.http.services.s.loadbalancer.sticky.cookie.secure=true',
          'traefik.http.services.s.loadbalancer.sticky.cookie.httponly=false',
          'traefik.http.services.s.loadbalancer.sticky.cookie.samesite=strict',
          'traefik.http.services.s.loadbalancer.sticky.cookie.maxage=60',
          'traefik.http.services.s.loadbalancer.sticky.cookie.path=/app',
        ]),
      ],
      options,
    );
    expect(problems).toEqual([]);
    expect(routers[0]).toMatchObject({ stickyCookie: 'lb', stickyCookieAttributes: { secure: true, httpOnly: false, sameSite: 'strict', maxAge: 60, path: '/app' } });
    expect(routers[0]!.backends[0]!.weight).toBe(3);
  });
});
