import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasProgram, runPlugins, spec, tempDir, upsert, type Running } from '@signpost/testing';
import { proxySink, type ProxySink } from './index.js';

/*
 * Backend TLS is verified: by default against the system's CAs, or a transport's
 * rootCAs and serverName; insecureSkipVerify only where a transport says so. The
 * backend's certificate is self-signed, made here by openssl, and names backend.test
 * only (not 127.0.0.1), so it verifies only with serverName: backend.test.
 */
describe.skipIf(!hasProgram('openssl', 'openssl'))('backend TLS', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let cert: string;
  let server: Server;
  let port: number;
  let run: Running;
  let proxy: ProxySink;
  let base: string;

  beforeAll(async () => {
    dir = await tempDir();
    const key = join(dir.path, 'key.pem');
    cert = join(dir.path, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=backend.test', '-addext', 'subjectAltName=DNS:backend.test'], { stdio: 'ignore' });
    server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end('secret'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
    proxy = proxySink({
      entrypoints: { web: '127.0.0.1:0' },
      serversTransports: {
        internal: { rootCAs: [cert], serverName: 'backend.test' },
        nosni: { rootCAs: [cert] },
        skip: { insecureSkipVerify: true },
      },
    });
    run = await runPlugins([proxy], { node: 'n1' });
    base = `http://127.0.0.1:${proxy.addresses()['web']!.port}`;
    const svc = (name: string, transport?: string) =>
      upsert(
        spec(name, {
          id: name,
          nodeAddress: '127.0.0.1',
          port,
          tags: ['traefik.enable=true', `traefik.http.routers.r.rule=PathPrefix(\`/${name}\`)`, 'traefik.http.services.s.loadbalancer.server.scheme=https', ...(transport ? [`traefik.http.services.s.loadbalancer.serverstransport=${transport}`] : [])],
        }),
      );
    await run.store.apply([svc('default'), svc('internal', 'internal'), svc('nosni', 'nosni'), svc('skip', 'skip'), svc('file', 'internal@file'), svc('unknown', 'nope')]);
  });

  afterAll(async () => {
    await run?.stop();
    await new Promise<void>((r) => server?.close(() => r()));
    await dir?.dispose();
  });

  const get = async (path: string): Promise<[number, string]> => {
    const res = await fetch(`${base}${path}`);
    return [res.status, await res.text()];
  };

  it('refuses a backend whose certificate no CA it trusts signed, without ejecting it', async () => {
    expect(await get('/default')).toEqual([502, 'Bad Gateway\n']);
    expect(run.logger.lines.some((l) => l.msg === 'upstream failure' && /SELF_SIGNED|UNABLE_TO_VERIFY/.test(String(l.fields['err'])))).toBe(true);
  });

  it("verifies against a transport's rootCAs and serverName, referenced by name or as <name>@file", async () => {
    expect(await get('/internal')).toEqual([200, 'secret']);
    expect(await get('/file')).toEqual([200, 'secret']);
  });

  it('checks the certificate names the backend: without serverName, 127.0.0.1 is not backend.test', async () => {
    expect(await get('/nosni')).toEqual([502, 'Bad Gateway\n']);
  });

  it('skips verification only for a transport that says insecureSkipVerify', async () => {
    expect(await get('/skip')).toEqual([200, 'secret']);
  });

  it('drops a router whose service names an unknown transport, saying which key and why', async () => {
    expect((await get('/unknown'))[0]).toBe(404);
    expect(proxy.problems()).toContainEqual(expect.objectContaining({ service: 'unknown', router: 'r@unknown', key: 'traefik.http.services.s.loadbalancer.serverstransport' }));
    expect(proxy.problems().find((p) => p.service === 'unknown')!.reason).toMatch(/no serversTransport named "nope" is configured/);
  });

  it('takes the default transport from serversTransport, with a CA given as PEM text', async () => {
    const other = proxySink({ entrypoints: { web: '127.0.0.1:0' }, serversTransport: { rootCAs: [readFileSync(cert, 'utf8')], serverName: 'backend.test' } });
    const r = await runPlugins([other], { node: 'n1' });
    try {
      await r.store.apply([upsert(spec('pem', { id: 'pem', nodeAddress: '127.0.0.1', port, tags: ['traefik.enable=true', 'traefik.http.routers.r.rule=PathPrefix(`/pem`)', 'traefik.http.services.s.loadbalancer.server.scheme=https'] }))]);
      const res = await fetch(`http://127.0.0.1:${other.addresses()['web']!.port}/pem`);
      expect([res.status, await res.text()]).toEqual([200, 'secret']);
    } finally {
      await r.stop();
    }
  });

  it('refuses to start when a CA file cannot be read, naming the option', async () => {
    const broken = proxySink({ entrypoints: { web: '127.0.0.1:0' }, serversTransports: { x: { rootCAs: ['/nonexistent/ca.pem'] } } });
    await expect(runPlugins([broken], { node: 'n1' })).rejects.toThrow(/serversTransports\.x\.rootCAs\[0\]: cannot read \/nonexistent\/ca\.pem: ENOENT/);
  });
});
