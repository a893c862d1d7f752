import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckTls, resolveCheckTls } from './check-tls.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const crt = fixture('self-signed.crt');
const key = fixture('self-signed.key');

describe('loadCheckTls', () => {
  const dir = mkdtempSync(join(tmpdir(), 'check-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  // A throwaway Ed25519 key, not the certificate's.
  const otherKey = file('other.key', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n');

  it('reads what it is given', () => {
    expect(loadCheckTls({})).toEqual({});
    const loaded = loadCheckTls({ caFile: crt, certFile: crt, keyFile: key });
    expect(loaded.ca).toContain('BEGIN CERTIFICATE');
    expect(loaded.key).toContain('PRIVATE KEY');
  });

  it.each([
    [{ caFile: '/nonexistent/ca.pem' }, /^plugin health: tls\.caFile: cannot read \/nonexistent\/ca\.pem: ENOENT/],
    [{ caFile: 'NOT-A-CERT' }, /tls\.caFile: no PEM certificate \(-----BEGIN CERTIFICATE-----\) in .*not-a-cert\.pem$/],
    [{ caFile: 'BROKEN' }, /tls\.caFile: certificate 1 in .*broken\.pem does not parse/],
    [{ certFile: crt }, /tls\.keyFile: is needed with certFile/],
    [{ keyFile: key }, /tls\.certFile: is needed with keyFile/],
    [{ certFile: crt, keyFile: 'OTHER-KEY' }, /tls\.keyFile: .*other\.key is not the private key of .*self-signed\.crt$/],
    [{ certFile: crt, keyFile: crt }, /tls\.certFile: .*self-signed\.crt with .*self-signed\.crt: /],
  ])('%j: %s', (given, message) => {
    const files = Object.fromEntries(
      Object.entries(given).map(([k, v]) => [
        k,
        v === 'NOT-A-CERT' ? file('not-a-cert.pem', 'hello\n') : v === 'BROKEN' ? file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') : v === 'OTHER-KEY' ? otherKey : v,
      ]),
    );
    expect(() => loadCheckTls(files)).toThrow(message);
  });

  it('resolves relative paths against the config directory', () => {
    expect(resolveCheckTls({ caFile: 'tls/ca.pem', keyFile: '/etc/k.pem' }, '/srv/signpost')).toEqual({ caFile: '/srv/signpost/tls/ca.pem', keyFile: '/etc/k.pem' });
  });
});
