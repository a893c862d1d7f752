import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, tempDir } from '@signpost/testing';
import { appMain, queryA, querySrvPorts, startApp, type AppProcess } from './processes.js';

/*
 * The README's walk-through of the article's story on one machine, against `npm start`'s
 * own configuration: two cerebro instances run by the embedded scheduler are answered by
 * DNS, listed by the catalog and reached through the proxy; kill one, and all three follow
 * it to its new port.
 */
describe('the npm start demo', () => {
  let agent: AppProcess;
  let dir: { path: string; dispose(): Promise<void> };
  let dns: number;
  let http: number;
  let proxy: number;

  const catalogPorts = async (): Promise<number[]> =>
    ((await (await fetch(`http://127.0.0.1:${http}/v1/catalog/service/cerebro`)).json()) as Array<{ ServicePort: number }>).map((e) => e.ServicePort).sort((a, b) => a - b);
  const passingPorts = async (): Promise<number[]> =>
    ((await (await fetch(`http://127.0.0.1:${http}/v1/health/service/cerebro?passing`)).json()) as Array<{ Service: { Port: number } }>).map((e) => e.Service.Port).sort((a, b) => a - b);
  const throughProxy = async (): Promise<string> => (await fetch(`http://127.0.0.1:${proxy}/cerebro/`)).text();

  beforeAll(async () => {
    dir = await tempDir();
    [dns, http, proxy] = await Promise.all([freePort(), freePort(), freePort()]);
    agent = startApp(appMain('agent'), [], {
      SIGNPOST_DATA_DIR: dir.path,
      SIGNPOST_DNS_LISTEN: `127.0.0.1:${dns}`,
      SIGNPOST_HTTP_LISTEN: `127.0.0.1:${http}`,
      SIGNPOST_PROXY_LISTEN: `127.0.0.1:${proxy}`,
    });
    await agent.waitFor('jobs file applied');
  }, 30_000);

  afterAll(async () => {
    if (agent.child.exitCode === null) {
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    }
    await dir.dispose();
  });

  it('DNS, the catalog and the proxy serve both instances, and follow a killed one to its new port', async () => {
    // Both pass their checks (the health checker runs them) before they get traffic.
    await eventually(async () => (await passingPorts()).length === 2, 15_000, 'both instances to pass');
    const before = await catalogPorts();
    expect(await querySrvPorts(dns, '_cerebro._tcp.service.consul')).toEqual(before);
    expect((await queryA(dns, 'cerebro.service.consul')).addresses).toEqual(['127.0.0.1', '127.0.0.1']);
    const seen = new Set<string>();
    for (let n = 0; n < 6; n++) seen.add(/cerebro instance (\d)/.exec(await throughProxy())?.[1] ?? '?');
    expect([...seen].sort()).toEqual(['0', '1']);

    // Kill one instance: it leaves, comes back on another port, and everything follows.
    const victim = before[0]!;
    const pid = Number(/pid (\d+)/.exec(await (await fetch(`http://127.0.0.1:${victim}/`)).text())![1]);
    process.kill(pid, 'SIGKILL');
    await eventually(async () => !(await catalogPorts()).includes(victim), 5000, 'the catalog to drop the dead instance');
    await eventually(async () => (await passingPorts()).length === 2 && !(await passingPorts()).includes(victim), 20_000, 'a replacement on a new port, passing');
    const after = await catalogPorts();
    expect(after).toContain(before[1]);
    expect(await querySrvPorts(dns, '_cerebro._tcp.service.consul')).toEqual(after);
    for (let n = 0; n < 6; n++) expect(await throughProxy()).toMatch(/^cerebro instance [01] on 127\.0\.0\.1:(\d+)/);
    const proxied = new Set<number>();
    for (let n = 0; n < 6; n++) proxied.add(Number(/127\.0\.0\.1:(\d+)/.exec(await throughProxy())![1]));
    expect([...proxied].sort((a, b) => a - b)).toEqual(after);
  }, 60_000);
});
