import { describe, expect, it } from 'vitest';
import { clientAddress, connectionTokens, entryHeaders, responseHeaders, upstreamHeaders, type ClientFacts } from './headers.js';

const client: ClientFacts = { clientIp: '192.0.2.7', trusted: false, tls: false, hostname: 'edge-1', websocket: false };

describe('entryHeaders (Traefik forwardedheaders, then the proxy hop)', () => {
  it.each([
    ['untrusted: forged headers replaced', { host: 'a.example', 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-forwarded-proto': 'https' }, client,
      { host: 'a.example', 'x-forwarded-for': '192.0.2.7', 'x-real-ip': '192.0.2.7', 'x-forwarded-proto': 'http', 'x-forwarded-port': '80', 'x-forwarded-host': 'a.example', 'x-forwarded-server': 'edge-1' }],
    ['trusted: kept, XFF appended', { host: 'a.example:8443', 'x-forwarded-for': '203.0.113.1, 10.0.0.2', 'x-forwarded-proto': 'https', forwarded: 'for=203.0.113.1' }, { ...client, trusted: true },
      { host: 'a.example:8443', forwarded: 'for=203.0.113.1', 'x-forwarded-for': '203.0.113.1, 10.0.0.2, 192.0.2.7', 'x-real-ip': '192.0.2.7', 'x-forwarded-proto': 'https', 'x-forwarded-port': '8443', 'x-forwarded-host': 'a.example:8443', 'x-forwarded-server': 'edge-1' }],
    ['underscore spellings dropped when untrusted', { host: 'h', x_forwarded_for: '6.6.6.6', 'x_real_ip': '1' }, client,
      { host: 'h', 'x-forwarded-for': '192.0.2.7', 'x-real-ip': '192.0.2.7', 'x-forwarded-proto': 'http', 'x-forwarded-port': '80', 'x-forwarded-host': 'h', 'x-forwarded-server': 'edge-1' }],
    ['Connection-named and hop-by-hop fields dropped, managed X- ones kept', { host: 'h', connection: 'keep-alive, X-Secret, X-Forwarded-Host', 'x-secret': 's', te: 'trailers', 'keep-alive': 'timeout=5', expect: '100-continue', 'x-forwarded-host': 'orig' }, { ...client, trusted: true },
      { host: 'h', 'x-forwarded-host': 'orig', 'x-forwarded-for': '192.0.2.7', 'x-real-ip': '192.0.2.7', 'x-forwarded-proto': 'http', 'x-forwarded-port': '80', 'x-forwarded-server': 'edge-1' }],
    ['WebSocket: ws proto, Upgrade kept', { host: 'h', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' }, { ...client, websocket: true },
      { host: 'h', 'sec-websocket-key': 'k', connection: 'Upgrade', upgrade: 'websocket', 'x-forwarded-for': '192.0.2.7', 'x-real-ip': '192.0.2.7', 'x-forwarded-proto': 'ws', 'x-forwarded-port': '80', 'x-forwarded-host': 'h', 'x-forwarded-server': 'edge-1' }],
    ['Connection cannot remove Host', { host: 'h', connection: 'X-Forwarded-For, host' }, client,
      { host: 'h', 'x-forwarded-for': '192.0.2.7', 'x-real-ip': '192.0.2.7', 'x-forwarded-proto': 'http', 'x-forwarded-port': '80', 'x-forwarded-host': 'h', 'x-forwarded-server': 'edge-1' }],
    ['WebSocket: Connection cannot remove Host', { host: 'h', connection: 'Upgrade, Host', upgrade: 'websocket' }, { ...client, websocket: true },
      { host: 'h', connection: 'Upgrade', upgrade: 'websocket', 'x-forwarded-for': '192.0.2.7', 'x-real-ip': '192.0.2.7', 'x-forwarded-proto': 'ws', 'x-forwarded-port': '80', 'x-forwarded-host': 'h', 'x-forwarded-server': 'edge-1' }],
  ])('%s', (_name, headers, facts, expected) => {
    expect(entryHeaders(headers, facts)).toEqual(expected);
  });
});

describe('hop-by-hop', () => {
  it.each([
    [{ 'content-type': 'text/plain', connection: 'X-Hop, close', 'x-hop': '1', 'transfer-encoding': 'chunked', 'keep-alive': 'timeout=5' }, { 'content-type': 'text/plain' }],
    [{ 'set-cookie': ['a=1', 'b=2'], 'proxy-authenticate': 'Basic' }, { 'set-cookie': ['a=1', 'b=2'] }],
  ])('responseHeaders(%j)', (headers, expected) => {
    expect(responseHeaders(headers)).toEqual(expected);
  });

  it('upstreamHeaders drops what a WebSocket kept', () => {
    expect(upstreamHeaders({ connection: 'Upgrade', upgrade: 'websocket', a: '1' })).toEqual({ a: '1' });
  });

  it.each([
    [undefined, []],
    ['keep-alive, X-A , x-b', ['keep-alive', 'x-a', 'x-b']],
    [['Upgrade', 'HTTP2-Settings'], ['upgrade', 'http2-settings']],
  ])('connectionTokens(%j)', (value, tokens) => {
    expect([...connectionTokens(value)]).toEqual(tokens);
  });

  it.each([
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::1', '::1'],
    ['fe80::1%eth0', 'fe80::1'],
  ])('clientAddress(%s)', (remote, ip) => {
    expect(clientAddress(remote)).toBe(ip);
  });
});
