import { describe, expect, it } from 'vitest';
import { formatListen, parseListen } from './listen.js';

describe('listen addresses', () => {
  it.each([
    ['127.0.0.1:8500', { host: '127.0.0.1', port: 8500 }],
    ['[::1]:8600', { host: '::1', port: 8600 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
  ])('%s', (text, address) => {
    expect(parseListen(text)).toEqual(address);
    expect(formatListen(address)).toBe(text);
  });

  it.each(['8500', '::1:8600', '127.0.0.1:99999', 'host:'])('rejects %s', (text) => {
    expect(() => parseListen(text)).toThrow(/invalid listen address .* expected host:port/);
  });
});
