import { describe, expect, it } from 'vitest';
import { canonicalIp, ipBytes, parseName } from './names.js';

const domains = [['consul'], ['alt', 'example']];
const L = (name: string): string[] => name.split('.');

describe('parseName', () => {
  it.each([
    ['consul', { kind: 'apex', domain: 0 }],
    ['ns.consul', { kind: 'ns', domain: 0 }],
    ['web.service.consul', { kind: 'service', domain: 0, service: 'web', rfc2782: false }],
    ['v1.web.service.consul', { kind: 'service', domain: 0, service: 'web', tag: 'v1', rfc2782: false }],
    ['web.service.dc2.consul', { kind: 'service', domain: 0, service: 'web', dc: 'dc2', rfc2782: false }],
    ['web.service.dc2.dc.consul', { kind: 'service', domain: 0, service: 'web', dc: 'dc2', rfc2782: false }],
    ['_web._tcp.service.consul', { kind: 'service', domain: 0, service: 'web', rfc2782: true }],
    ['_web._v1.service.dc2.consul', { kind: 'service', domain: 0, service: 'web', tag: 'v1', dc: 'dc2', rfc2782: true }],
    ['_web._tcp.consul', { kind: 'service', domain: 0, service: 'web', rfc2782: true }],
    ['_web._tcp.dc2.consul', { kind: 'service', domain: 0, service: 'web', dc: 'dc2', rfc2782: true }],
    ['n1.node.consul', { kind: 'node', domain: 0, node: 'n1' }],
    ['n1.node.dc2.dc.consul', { kind: 'node', domain: 0, node: 'n1', dc: 'dc2' }],
    ['c000020a.addr.dc1.consul', { kind: 'addr', domain: 0, hex: 'c000020a', dc: 'dc1' }],
    ['web.service.alt.example', { kind: 'service', domain: 1, service: 'web', rfc2782: false }],
    ['service.consul', { kind: 'unknown', domain: 0 }],
    ['a.b.web.service.consul', { kind: 'unknown', domain: 0 }],
    ['what.consul', { kind: 'unknown', domain: 0 }],
    ['example.com', { kind: 'outside' }],
    ['consul.example.com', { kind: 'outside' }],
    ['4.3.2.1.in-addr.arpa', { kind: 'ptr', ip: '1.2.3.4' }],
    ['4.3.2.256.in-addr.arpa', { kind: 'outside' }],
    ['3.2.1.in-addr.arpa', { kind: 'outside' }],
  ])('%s', (name, lookup) => {
    expect(parseName(L(name), domains)).toEqual(lookup);
  });
});

describe('addresses', () => {
  it.each([
    ['10.0.0.1', '0a000001'],
    ['2001:db8:1:2:cafe::1337', '20010db800010002cafe000000001337'],
    ['::1', '00000000000000000000000000000001'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
  ])('%s → %s', (ip, hex) => {
    expect(ipBytes(ip)!.toString('hex')).toBe(hex);
  });

  it('has no bytes for a host name, and canonical text for reverse matching', () => {
    expect(ipBytes('db.example.com')).toBeUndefined();
    expect(canonicalIp('2001:db8::4')).toBe('2001:0db8:0000:0000:0000:0000:0000:0004');
  });
});
