import { describe, expect, it } from 'vitest';
import { compileRule, hostTemplate, parseRule, parseV1Rule, RuleError, type RequestFacts } from './rules.js';

const req = (over: Partial<Omit<RequestFacts, 'query'>> & { url?: string } = {}): RequestFacts => {
  const url = new URL(over.url ?? '/', 'http://x');
  return {
    host: over.host ?? 'a.example.com',
    path: over.path ?? url.pathname,
    method: over.method ?? 'GET',
    headers: over.headers ?? {},
    query: url.searchParams,
    clientIp: over.clientIp ?? '10.0.0.5',
  };
};

describe('parseRule (Traefik v2/v3)', () => {
  it.each([
    ['Host(`a.example.com`)', req(), true],
    ['Host(`A.Example.com`)', req({ host: 'a.example.com:8080' }), true],
    ['Host(`b.example.com`)', req(), false],
    ['Host(`*.example.com`)', req(), true],
    ['Host(`*.example.com`)', req({ host: 'x.a.example.com' }), false],
    ['Host(`**.example.com`)', req({ host: 'x.a.example.com' }), true],
    ['Host(`a.example.com`, `b.example.com`)', req({ host: 'b.example.com' }), true],
    ['HostRegexp(`^[a-z]+\\.example\\.com$`)', req(), true],
    ['Path(`/api`)', req({ url: '/api' }), true],
    ['Path(`/api`)', req({ url: '/api/x' }), false],
    ['PathPrefix(`/api`)', req({ url: '/api/x' }), true],
    ['PathRegexp(`^/v[0-9]+/`)', req({ url: '/v2/users' }), true],
    ['Method(`POST`)', req({ method: 'post' }), true],
    ['Header(`X-Env`, `prod`)', req({ headers: { 'x-env': 'prod' } }), true],
    ['HeaderRegexp(`X-Env`, `^pr`)', req({ headers: { 'x-env': 'prod' } }), true],
    ['Query(`debug`)', req({ url: '/?debug' }), true],
    ['Query(`mobile`, `true`)', req({ url: '/?mobile=true' }), true],
    ['QueryRegexp(`id`, `^[0-9]+$`)', req({ url: '/?id=42' }), true],
    ['ClientIP(`10.0.0.0/8`)', req(), true],
    ['ClientIP(`192.168.0.0/16`, `::1`)', req(), false],
    ['Host(`a.example.com`) && PathPrefix(`/api`)', req({ url: '/api' }), true],
    ['Host(`a.example.com`) && PathPrefix(`/api`)', req({ url: '/web' }), false],
    ['Host(`b.example.com`) || PathPrefix(`/api`)', req({ url: '/api' }), true],
    ['Host(`a.example.com`) && !Method(`POST`)', req({ method: 'POST' }), false],
    ['(Host(`b.example.com`) || Host(`a.example.com`)) && Path(`/`)', req(), true],
    ['Host("a.example.com") && Path("/")', req(), true],
  ])('%s', (rule, request, expected) => {
    expect(compileRule(parseRule(rule))(request)).toBe(expected);
  });

  it('binds && tighter than ||', () => {
    const rule = parseRule('Path(`/a`) || Path(`/b`) && Method(`POST`)');
    expect(compileRule(rule)(req({ url: '/a', method: 'GET' }))).toBe(true);
    expect(compileRule(rule)(req({ url: '/b', method: 'GET' }))).toBe(false);
  });

  it.each([
    ['Host(a.example.com)', /expected a value in backticks for Host, not "a.example.com"/],
    ["Host('a.example.com')", /single quotes are not accepted/],
    ['Hots(`a`)', /unknown matcher "Hots"/],
    ['Host(`a`', /expected "," or "\)" in Host/],
    ['Host(`a`) &&', /expected a matcher such as Host/],
    ['Host(`a`) Path(`/`)', /unexpected "Path"/],
    ['Header(`X`)', /Header takes 2 values, not 1/],
    ['PathPrefix(`api`)', /a path starts with "\/"/],
    ['PathRegexp(`(`)', /invalid regular expression/],
    // RE2 (Go's regexp) has no backreferences or lookaround: refused, never run by a backtracking engine.
    ['PathRegexp(`^/(a)\\1$`)', /invalid regular expression .*\(RE2 syntax, as Go's regexp\): error parsing regexp: invalid escape sequence/],
    ['PathRegexp(`^/(?=admin)`)', /invalid or unsupported Perl syntax/],
    ['HeaderRegexp(`X`, `(?<!a)b`)', /invalid named capture/],
    ['QueryRegexp(`q`, `a{1001}`)', /invalid repeat count/],
    ['ClientIP(`nope`)', /ClientIP: expects IP addresses or CIDR ranges/],
    ['Host(`a) ', /unterminated value/],
  ])('rejects %s', (rule, message) => {
    expect(() => parseRule(rule)).toThrow(RuleError);
    expect(() => parseRule(rule)).toThrow(message);
  });
});

describe('regular expressions run in linear time (RE2)', () => {
  it.each([
    ['PathRegexp(`^/(a+)+$`)', req({ path: `/${'a'.repeat(5000)}!` }), false],
    ['PathRegexp(`^/(a+)+$`)', req({ path: `/${'a'.repeat(5000)}` }), true],
    ['HostRegexp(`^(x+x+)+y$`)', req({ host: 'x'.repeat(5000) }), false],
    ['HeaderRegexp(`X-A`, `^(a|aa)+$`)', req({ headers: { 'x-a': `${'a'.repeat(5000)}b` } }), false],
    ['QueryRegexp(`q`, `^(.*a){12}$`)', req({ url: `/?q=${'a'.repeat(5000)}b` }), false],
    ['PathRegexp(`^/v\\d+/(?P<id>[0-9]+)$`)', req({ path: '/v2/42' }), true],
    ['HostRegexp(`^API\\.example\\.com$`)', req({ host: 'api.example.com' }), true],
    // The host Host() sees: lowercased, without port and trailing dot.
    ['!HostRegexp(`^admin\\.example$`)', req({ host: 'admin.example:80' }), false],
    ['!HostRegexp(`^admin\\.example$`)', req({ host: 'admin.example.' }), false],
    ['!HostRegexp(`^admin\\.example$`)', req({ host: 'ADMIN.example.:8080' }), false],
    ['HostRegexp(`^\\[::1\\]$`)', req({ host: '[::1]:8080' }), true],
  ])('%s', (rule, request, expected) => {
    expect(compileRule(parseRule(rule))(request)).toBe(expected);
  });
});

describe('hostTemplate (v1 HostRegexp, gorilla/mux host templates)', () => {
  it.each([
    ['{sub:[a-z]+}.example.com', '^(?:[a-z]+)\\.example\\.com(?::[0-9]+)?$'],
    ['{sub}.example.com', '^[^.]+\\.example\\.com(?::[0-9]+)?$'],
    ['{n:[a-z]{2,3}}.x', '^(?:[a-z]{2,3})\\.x(?::[0-9]+)?$'],
  ])('%s', (template, pattern) => {
    expect(hostTemplate(template)).toBe(pattern);
  });

  it.each([['{sub:[a-z]+.example.com'], ['{bad name}.x']])('rejects %s', (template) => {
    expect(() => hostTemplate(template)).toThrow(RuleError);
  });
});

describe('parseV1Rule (Traefik 1.7 frontend rules)', () => {
  it.each([
    ['PathPrefixStrip:/cerebro/', req({ url: '/cerebro/index.html' }), true, ['/cerebro/']],
    ['PathPrefixStrip:/cerebro/', req({ url: '/other' }), false, ['/cerebro/']],
    ['Host:a.example.com,b.example.com', req({ host: 'b.example.com' }), true, []],
    ['Host:a.example.com;PathPrefix:/api', req({ url: '/api/v1' }), true, []],
    ['Host:a.example.com;PathPrefix:/api', req({ url: '/web' }), false, []],
    ['Path:/a,/b', req({ url: '/b' }), true, []],
    ['PathStrip:/health', req({ url: '/health' }), true, ['/health']],
    ['Method:GET,HEAD', req({ method: 'HEAD' }), true, []],
    ['Headers:X-Env,prod', req({ headers: { 'x-env': 'prod' } }), true, []],
    ['HeadersRegexp:X-Env,^pr', req({ headers: { 'x-env': 'prod' } }), true, []],
    ['Query:debug=1,mobile', req({ url: '/?mobile' }), true, []],
    ['HostRegexp:{sub:[a-z]+}.example.com', req({ host: 'api.example.com:8080' }), true, []],
    ['HostRegexp:{sub:[a-z]+}.example.com', req({ host: 'x.api.example.com' }), false, []],
    ['HostRegexp:{sub}.example.com', req({ host: 'a1.example.com' }), true, []],
    ['HostRegexp:{sub}.example.com', req({ host: 'a1.example.com.:80' }), true, []],
  ])('%s', (rule, request, expected, strip) => {
    const parsed = parseV1Rule(rule);
    expect(compileRule(parsed.rule)(request)).toBe(expected);
    expect(parsed.stripPrefixes).toEqual(strip);
  });

  it.each([
    ['', /an empty rule/],
    ['Host', /is not Matcher:value/],
    ['Hots:a', /unknown v1 matcher "Hots"/],
    ['Headers:X-Env', /takes a name and a value/],
    ['PathPrefix:api', /a path starts with "\/"/],
  ])('rejects %j', (rule, message) => {
    expect(() => parseV1Rule(rule)).toThrow(message);
  });
});

describe('rule size limits', () => {
  const path = 'Path(`/`)';
  it('refuses nesting deeper than 32 and more than 64 matchers, naming the limit', () => {
    expect(() => parseRule(`${'('.repeat(32)}${path}${')'.repeat(32)}`)).not.toThrow();
    expect(() => parseRule(`${'('.repeat(33)}${path}${')'.repeat(33)}`)).toThrow(/deeper than the 32 levels accepted/);
    expect(() => parseRule(`${'!'.repeat(33)}${path}`)).toThrow(/deeper than the 32 levels accepted/);
    expect(() => parseRule(Array.from({ length: 64 }, () => path).join(' && '))).not.toThrow();
    expect(() => parseRule(Array.from({ length: 65 }, () => path).join(' && '))).toThrow(/more than the 64 matchers accepted/);
    expect(() => parseV1Rule(Array.from({ length: 65 }, () => 'Method:GET').join(';'))).toThrow(/more than the 64 matchers accepted/);
    expect(() => parseRule(`Path(\`/${'a'.repeat(4096)}\`)`)).toThrow(RuleError);
    expect(() => parseV1Rule(`Path:/${'a'.repeat(4096)}`)).toThrow(/longer than the 4096 accepted/);
  });
});
