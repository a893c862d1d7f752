import { describe, expect, it } from 'vitest';
import { entryPointConfigs, parseOptions } from './options.js';

describe('parseOptions', () => {
  it.each([
    [{ entrypoints: { web: { address: '127.0.0.1:80', forwardedHeaders: { trustedIPs: ['10.0.0.0/33', 'nope'] } } } }, /entrypoints\.web\.forwardedHeaders\.trustedIPs\[0\]: must be an IP address or a CIDR range.*trustedIPs\[1\]/],
    [{ entrypoints: { web: { address: '127.0.0.1:80', transport: { respondingTimeouts: { readTimeout: 'soon' } } } } }, /entrypoints\.web\.transport\.respondingTimeouts\.readTimeout: must be a Go duration/],
    [{ serversTransports: { x: { insecureSkipVerify: 'yes' } } }, /serversTransports\.x\.insecureSkipVerify/],
    [{ serversTransports: { x: { rootCA: ['a'] } } }, /serversTransports\.x\.rootCA: unknown key/],
    [{ connectionsPerBackend: 4, streamingBodiesPerBackend: 5 }, /streamingBodiesPerBackend: must not exceed connectionsPerBackend \(4\)/],
  ])('rejects %j', (input, message) => {
    expect(() => parseOptions(input)).toThrow(message);
  });

  it("fills in Traefik's entry point defaults", () => {
    expect(entryPointConfigs(parseOptions({ entrypoints: { web: '127.0.0.1:80', internal: { address: '127.0.0.1:81', forwardedHeaders: { insecure: true }, transport: { respondingTimeouts: { writeTimeout: '5s' } }, maxConnsPerClient: 0 } } }))).toEqual([
      { name: 'web', address: '127.0.0.1:80', trustedIPs: [], insecure: false, readTimeoutMs: 60_000, writeTimeoutMs: 0, idleTimeoutMs: 180_000, connectionLimits: { perClient: 200, total: 4096 } },
      { name: 'internal', address: '127.0.0.1:81', trustedIPs: [], insecure: true, readTimeoutMs: 60_000, writeTimeoutMs: 5_000, idleTimeoutMs: 180_000, connectionLimits: { perClient: 0, total: 4096 } },
    ]);
  });
});
