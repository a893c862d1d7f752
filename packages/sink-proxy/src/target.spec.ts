import { describe, expect, it } from 'vitest';
import { cleanPath, normalizeHost, parseTarget, TargetError } from './target.js';

describe('parseTarget', () => {
  it.each([
    // target, authority, matched path, forwarded path, search
    ['/', undefined, '/', '/', ''],
    ['/admin', undefined, '/admin', '/admin', ''],
    ['/%61dmin', undefined, '/admin', '/%61dmin', ''],
    ['//admin', undefined, '/admin', '/admin', ''],
    ['/./admin', undefined, '/admin', '/admin', ''],
    ['/x/../admin', undefined, '/admin', '/admin', ''],
    ['/../../admin', undefined, '/admin', '/admin', ''],
    ['/%2e%2e/admin', undefined, '/admin', '/admin', ''],
    ['/x/%2E/../admin', undefined, '/admin', '/admin', ''],
    ['/a/b/..', undefined, '/a', '/a', ''],
    ['/a/b/../', undefined, '/a/', '/a/', ''],
    ['/a//b/', undefined, '/a/b/', '/a/b/', ''],
    ['/./', undefined, '/', '/', ''],
    ['/x/../ok?a=%2F/../b', undefined, '/ok', '/ok', '?a=%2F/../b'],
    ['/caf%C3%A9', undefined, '/café', '/caf%C3%A9', ''],
    ['http://w.example/admin', 'w.example', '/admin', '/admin', ''],
    ['http://W.example:8080/a//b?x=1', 'W.example:8080', '/a/b', '/a/b', '?x=1'],
    ['http://w.example', 'w.example', '/', '/', ''],
    ['http://w.example?q', 'w.example', '/', '/', '?q'],
    ['https://[::1]:8443/x', '[::1]:8443', '/x', '/x', ''],
  ])('%s', (url, authority, path, rawPath, search) => {
    expect(parseTarget(url)).toEqual({ authority, path, rawPath, search });
  });

  it.each([
    ['/a%2Fb'],
    ['/a%2fb'],
    ['/a%5Cb'],
    ['/a%5cb'],
    ['/a\\b'],
    ['/a%zz'],
    ['/a%4'],
    ['/a%'],
    ['/%ff'],
    ['/caf\u00e9'],
    ['*'],
    ['admin'],
    ['http://user@w.example/admin'],
    ['http:///admin'],
    ['http://w.example:80:80/'],
  ])('refuses %s', (url) => {
    expect(() => parseTarget(url)).toThrow(TargetError);
  });
});

describe('cleanPath', () => {
  it('never climbs above the root and keeps a trailing slash', () => {
    expect(cleanPath('/..')).toEqual({ path: '/', rawPath: '/' });
    expect(cleanPath('/../')).toEqual({ path: '/', rawPath: '/' });
    expect(cleanPath('/a/./b/./')).toEqual({ path: '/a/b/', rawPath: '/a/b/' });
  });
});

describe('normalizeHost', () => {
  it.each([
    ['W.Example', 'w.example'],
    ['w.example:80', 'w.example'],
    ['w.example.', 'w.example'],
    ['admin.example.:8080', 'admin.example'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['', ''],
  ])('%s -> %s', (host, expected) => {
    expect(normalizeHost(host)).toBe(expected);
  });
});
