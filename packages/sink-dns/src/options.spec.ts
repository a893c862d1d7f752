import { describe, expect, it } from 'vitest';
import { parseHostPort, parseOptions, resolveOptions, ttlRules } from './options.js';

describe('dns options', () => {
  it('has Consul-like defaults', () => {
    expect(resolveOptions(parseOptions({}))).toMatchObject({
      name: 'dns',
      listen: '127.0.0.1:8600',
      domains: [['consul']],
      onlyPassing: false,
      nodeTtl: 0,
      aRecordLimit: 0,
      recursors: [],
      soa: { minTtl: 0, refresh: 3600, retry: 600, expire: 86400 },
    });
  });

  it.each([
    [{ listen: '8600' }, 'plugin dns: listen: must be host:port (port 0 picks a free port), e.g. 127.0.0.1:8500'],
    [{ nodeTtl: 10 }, 'plugin dns: nodeTtl: must be a Go duration such as 10s, 1m30s or 500ms'],
    [{ serviceTtl: { web: 'soon' } }, 'plugin dns: serviceTtl.web: must be a Go duration such as 10s, 1m30s or 500ms'],
    [{ recursors: ['8.8.8.8', 'dns.google'] }, 'plugin dns: recursors[1]: must be an IP address, optionally with :port'],
    [{ domain: 'bad domain' }, 'plugin dns: domain: must match'],
    [{ aRecordLimit: -1 }, 'plugin dns: aRecordLimit: must be >= 0'],
    [{ soa: { min: '1s' } }, 'plugin dns: soa.min: unknown key'],
  ])('rejects %j', (input, message) => {
    expect(() => parseOptions(input)).toThrow(message);
  });

  it.each([
    ['8.8.8.8', { host: '8.8.8.8', port: 53 }],
    ['127.0.0.1:5353', { host: '127.0.0.1', port: 5353 }],
    ['[::1]:53', { host: '::1', port: 53 }],
    ['::1', { host: '::1', port: 53 }],
  ])('reads recursor %s', (text, hp) => {
    expect(parseHostPort(text, 53)).toEqual(hp);
  });

  it('picks TTLs: exact, then the longest prefix, then *, else 0', () => {
    const ttl = ttlRules({ '*': '5s', 'web*': '10s', 'web-a*': '20s', 'web-api': '30s' });
    expect([ttl('web-api'), ttl('web-abc'), ttl('web-x'), ttl('db')]).toEqual([30, 20, 10, 5]);
    expect(ttlRules({})('db')).toBe(0);
  });
});
