import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { fileURLToPath } from 'node:url';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { activeHandles, describeSinkContract, hasProgram, eventually, RecordingStore, remove, runPlugins, spec, upsert, type Running } from '@signpost/testing';
import type { CheckDefinition, HealthStatus } from '@signpost/core';
import { applyResult, healthChecker, parseOptions, type HealthChecker } from './index.js';
import type { Thresholds } from './thresholds.js';

describeSinkContract('health', async () => ({ sink: healthChecker() }));


describe('applyResult (Consul thresholds)', () => {
  const start = { status: 'critical' as HealthStatus, successes: 0, failures: 0 };
  const passing = { status: 'passing' as HealthStatus, successes: 0, failures: 0 };
  const run = (results: HealthStatus[], t: Thresholds, from = start): HealthStatus[] => {
    let s = from;
    return results.map((r) => (s = applyResult(s, r, t)).status);
  };

  it.each([
    [['passing', 'critical', 'warning'], {}, ['passing', 'critical', 'warning']],
    [['passing', 'passing', 'passing'], { successBeforePassing: 3 }, ['critical', 'critical', 'passing']],
    [['passing', 'critical', 'passing', 'passing'], { successBeforePassing: 2 }, ['critical', 'critical', 'critical', 'passing']],
    [['warning', 'warning'], { successBeforePassing: 2 }, ['critical', 'warning']],
  ] as const)('%j with %j → %j', (results, t, expected) => {
    expect(run([...results], t)).toEqual(expected);
  });

  it('holds a passing check through fewer failures than failuresBeforeCritical', () => {
    expect(run(['critical', 'critical', 'passing', 'critical', 'critical', 'critical'], { failuresBeforeCritical: 3 }, { status: 'passing', successes: 0, failures: 0 })).toEqual([
      'passing',
      'passing',
      'passing',
      'passing',
      'passing',
      'critical',
    ]);
  });

  it.each([
    // Warning from the second failure, critical from the fourth.
    [['critical', 'critical', 'critical', 'critical'], { failuresBeforeWarning: 2, failuresBeforeCritical: 4 }, ['passing', 'warning', 'warning', 'critical']],
    // Unset or 0, it is failuresBeforeCritical: no warning on the way.
    [['critical', 'critical', 'critical'], { failuresBeforeCritical: 3 }, ['passing', 'passing', 'critical']],
    [['critical', 'critical', 'critical'], { failuresBeforeWarning: 0, failuresBeforeCritical: 3 }, ['passing', 'passing', 'critical']],
    // At once, then critical.
    [['critical', 'critical'], { failuresBeforeWarning: 1, failuresBeforeCritical: 2 }, ['warning', 'critical']],
    // Above failuresBeforeCritical it never shows.
    [['critical', 'critical'], { failuresBeforeWarning: 5, failuresBeforeCritical: 2 }, ['passing', 'critical']],
    // A success between failures starts the count again; a warning held by failures needs successBeforePassing to pass.
    [['critical', 'critical', 'passing', 'critical', 'critical', 'passing', 'passing'], { failuresBeforeWarning: 2, failuresBeforeCritical: 3, successBeforePassing: 2 }, ['passing', 'warning', 'warning', 'warning', 'warning', 'warning', 'passing']],
  ] as const)('from passing, %j with %j → %j', (results, t, expected) => {
    expect(run([...results], t, passing)).toEqual(expected);
  });
});

/** An HTTP server whose answer the test changes: a status code, a delay, or down. */
async function flakyServer(): Promise<{ url: string; set(status: number, delayMs?: number): void; concurrent(): number; close(): Promise<void>; server: Server }> {
  let status = 200;
  let delay = 0;
  let active = 0;
  let peak = 0;
  const server = createHttpServer((req, res) => {
    active++;
    peak = Math.max(peak, active);
    setTimeout(() => {
      active--;
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(`status ${status}`);
    }, delay);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    url: `http://127.0.0.1:${port}/health`,
    set(s, d = 0) {
      status = s;
      delay = d;
    },
    concurrent: () => peak,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('health checker', () => {
  let run: Running | undefined;
  let health: HealthChecker;
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    await run?.stop();
    run = undefined;
    for (const c of cleanups.splice(0)) await c();
  });

  // At the agent's own priority unless a test says otherwise: on a busy machine (CI) a
  // SCHED_IDLE probe process may get no CPU for seconds, which is what idle means.
  const start = async (options = {}): Promise<Running> => {
    // The tests' checks run every few ms: below Consul's 1s floor, which is tested in timing.spec.ts and below.
    health = healthChecker({ priority: 0, minInterval: '1ms', ...options });
    run = await runPlugins([health], { node: 'n1' });
    return run;
  };
  const withCheck = (id: string, type: 'http' | 'tcp', definition: CheckDefinition) => upsert(spec('web', { id, node: 'n1', nodeAddress: '127.0.0.1', checks: [{ type, definition }] }));
  const statusOf = (r: Running, id: string, node = 'n1'): { status: string; output: string } => {
    const c = r.store.instance({ node, id })!.checks[0]!;
    return { status: c.status, output: c.output };
  };

  it('follows an HTTP endpoint: 2xx passing, 429 warning, 500 critical, slow critical', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const r = await start();
    await r.store.apply([withCheck('w1', 'http', { http: srv.url, interval: '30ms', timeout: '150ms' })]);
    await eventually(() => statusOf(r, 'w1').status === 'passing');
    expect(statusOf(r, 'w1').output).toBe(`HTTP GET ${srv.url}: 200 OK Output: status 200`);
    srv.set(429);
    await eventually(() => statusOf(r, 'w1').status === 'warning');
    srv.set(500);
    await eventually(() => statusOf(r, 'w1').status === 'critical');
    srv.set(200);
    await eventually(() => statusOf(r, 'w1').status === 'passing');
    srv.set(200, 400);
    await eventually(() => statusOf(r, 'w1').status === 'critical');
    expect(statusOf(r, 'w1').output).toMatch(/timed out after 150 ms/);
  });

  it('raises an interval below 1s to 1s, with a warning naming the check, as Consul does', async () => {
    const { srv, requests } = await countedServer();
    health = healthChecker({ priority: 0 });
    run = await runPlugins([health], { node: 'n1' });
    await run.store.apply([withCheck('flood', 'http', { http: srv.url, interval: '1ns' })]);
    await eventually(() => statusOf(run!, 'flood').status === 'passing', 5000, 'the first run');
    const warning = run.logger.lines.find((l) => l.level === 'warn' && l.msg.includes('below the minimum'));
    expect(warning?.msg).toBe('check "service:flood": interval 1ns is below the minimum of 1s; the check runs every 1s (as Consul\'s agent raises it to 1s)');
    expect(requests()).toBeGreaterThan(0);
  });

  it('marks a dead HTTP endpoint critical', async () => {
    const srv = await flakyServer();
    const r = await start();
    await r.store.apply([withCheck('w1', 'http', { http: srv.url, interval: '30ms', timeout: '200ms' })]);
    await eventually(() => statusOf(r, 'w1').status === 'passing');
    await srv.close();
    // A run in flight when the server closes reads ECONNRESET; the runs after it are refused.
    await eventually(() => statusOf(r, 'w1').status === 'critical');
    await eventually(() => /ECONNREFUSED/.test(statusOf(r, 'w1').output));
    expect(statusOf(r, 'w1').status).toBe('critical');
  });

  it('follows a TCP endpoint up and down', async () => {
    const tcp: TcpServer = createTcpServer((s) => s.end());
    await new Promise<void>((res) => tcp.listen(0, '127.0.0.1', () => res()));
    const port = (tcp.address() as { port: number }).port;
    const r = await start();
    await r.store.apply([withCheck('t1', 'tcp', { tcp: `127.0.0.1:${port}`, interval: '30ms', timeout: '200ms' })]);
    await eventually(() => statusOf(r, 't1').status === 'passing');
    expect(statusOf(r, 't1').output).toBe(`TCP connect 127.0.0.1:${port}: Success`);
    await new Promise<void>((res) => tcp.close(() => res()));
    await eventually(() => statusOf(r, 't1').status === 'critical');
  });

  /** A flaky server closed after the test, and how many requests it has had. */
  const countedServer = async (): Promise<{ srv: Awaited<ReturnType<typeof flakyServer>>; requests: () => number }> => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    let requests = 0;
    srv.server.on('request', () => requests++);
    return { srv, requests: () => requests };
  };

  it('applies successBeforePassing from the check definition', async () => {
    const { srv, requests } = await countedServer();
    const r = await start();
    // The requests the server had seen when the check first turned passing.
    let atPassing = 0;
    const sub = r.store.watch().subscribe(() => {
      if (!atPassing && r.store.instance({ node: 'n1', id: 'w1' })?.checks[0]?.status === 'passing') atPassing = requests();
    });
    await r.store.apply([withCheck('w1', 'http', { http: srv.url, interval: '40ms', successBeforePassing: 3 })]);
    await eventually(() => statusOf(r, 'w1').status === 'passing');
    sub.unsubscribe();
    expect(atPassing).toBeGreaterThanOrEqual(3);
  });

  it('turns warning after failuresBeforeWarning failures and critical after failuresBeforeCritical', async () => {
    const { srv, requests } = await countedServer();
    const r = await start();
    await r.store.apply([withCheck('w1', 'http', { http: srv.url, interval: '40ms', failuresBeforeWarning: 1, failuresBeforeCritical: 4 })]);
    await eventually(() => statusOf(r, 'w1').status === 'passing');
    // The statuses the catalog went through after the server started failing, and the requests it had seen by each.
    const seen: Array<[string, number]> = [['passing', requests()]];
    const sub = r.store.watch().subscribe(() => {
      const now = r.store.instance({ node: 'n1', id: 'w1' })?.checks[0]?.status;
      if (now && now !== seen.at(-1)?.[0]) seen.push([now, requests()]);
    });
    const failingFrom = requests();
    srv.set(500);
    await eventually(() => statusOf(r, 'w1').status === 'critical');
    sub.unsubscribe();
    expect(seen.map(([status]) => status)).toEqual(['passing', 'warning', 'critical']);
    expect(statusOf(r, 'w1').output).toBe(`HTTP GET ${srv.url}: 500 Internal Server Error Output: status 500`);
    // Critical at the fourth failure: three requests at least after the change (the server answers a
    // request that came just before it after a tick, so that one may have failed too).
    expect(seen[2]![1] - failingFrom).toBeGreaterThanOrEqual(3);
  });

  it.each(['process', 'worker', 'main'] as const)('with runner %s, trusts the CA of tls.caFile for HTTPS checks', async (runner) => {
    const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
    const secure = createHttpsServer({ key: readFileSync(fixture('self-signed.key')), cert: readFileSync(fixture('self-signed.crt')) }, (_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((res) => secure.listen(0, '127.0.0.1', () => res()));
    cleanups.push(() => new Promise<void>((res) => secure.close(() => res())));
    const url = `https://127.0.0.1:${(secure.address() as { port: number }).port}/health`;
    const r = await start({ runner, tls: { caFile: fixture('self-signed.crt') } });
    await r.store.apply([withCheck('s1', 'http', { http: url, interval: '50ms', timeout: '1s' }), withCheck('s2', 'http', { http: url, interval: '50ms', timeout: '1s', tlsServerName: 'other.test' })]);
    await eventually(() => statusOf(r, 's1').status === 'passing' && /altnames/.test(statusOf(r, 's2').output));
    expect(statusOf(r, 's1').output).toBe(`HTTP GET ${url}: 200 OK Output: ok`);
    expect(statusOf(r, 's2').status).toBe('critical');
  });

  it('refuses to start with a tls file it cannot use, naming it', async () => {
    health = healthChecker({ tls: { caFile: '/nonexistent/ca.pem' } });
    await expect(runPlugins([health], { node: 'n1' })).rejects.toThrow(/plugin health: tls\.caFile: cannot read \/nonexistent\/ca\.pem: ENOENT/);
  });

  it('writes only when status or output changes: a stable fleet writes nothing', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const r = await start();
    // A generous timeout: on a loaded machine a 20 ms one (the interval's) would flap the checks.
    await r.store.apply([withCheck('w1', 'http', { http: srv.url, interval: '20ms', timeout: '2s' }), withCheck('w2', 'http', { http: srv.url, interval: '20ms', timeout: '2s' })]);
    await eventually(() => statusOf(r, 'w1').status === 'passing' && statusOf(r, 'w2').status === 'passing');
    const index = r.store.index;
    const runsBefore = health.stats().runs;
    await eventually(() => health.stats().runs >= runsBefore + 20);
    expect(r.store.index).toBe(index);
    expect(health.stats().writes).toBe(2);
  });

  it('spreads first runs over the interval and keeps to the concurrency limit', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    srv.set(200, 40);
    const firstRun = new Map<string, number>();
    srv.server.on('request', (req) => {
      if (!firstRun.has(req.headers['x-id'] as string)) firstRun.set(req.headers['x-id'] as string, Date.now());
    });
    const r = await start({ concurrency: 2 });
    const t0 = Date.now();
    await r.store.apply(Array.from({ length: 20 }, (_, n) => withCheck(`w${n}`, 'http', { http: srv.url, header: { 'X-Id': [`w${n}`] }, interval: '1s', timeout: '500ms' })));
    await eventually(() => firstRun.size === 20, 5000, 'every check to run once');
    const offsets = [...firstRun.values()].map((t) => t - t0).sort((a, b) => a - b);
    expect(offsets.at(-1)! - offsets[0]!).toBeGreaterThan(300);
    expect(srv.concurrent()).toBeLessThanOrEqual(2);
  });

  it('stops checking an instance that goes away, and releases every handle on stop', async () => {
    const before = activeHandles();
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const r = await start();
    await r.store.apply([withCheck('w1', 'http', { http: srv.url, interval: '20ms' })]);
    await eventually(() => health.stats().checks === 1 && health.stats().runs > 0);
    await r.store.apply([remove('src-a', 'n1', 'w1')]);
    expect(health.stats().checks).toBe(0);
    // Run counts come from the probe thread every 100 ms: let them settle, then see that they stay.
    await new Promise((res) => setTimeout(res, 250));
    const runs = health.stats().runs;
    await new Promise((res) => setTimeout(res, 300));
    expect(health.stats().runs).toBe(runs);
    await r.stop();
    run = undefined;
    await srv.close();
    cleanups.splice(0);
    await eventually(() => Object.entries(activeHandles()).every(([k, n]) => k === 'TTYWrap' || n <= (before[k] ?? 0)), 3000, 'handles released');
  });

  it('runs only its own node’s checks with scope: local', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const r = await start({ scope: 'local' });
    await r.store.apply([withCheck('mine', 'http', { http: srv.url, interval: '20ms' }), upsert(spec('web', { id: 'theirs', node: 'n2', nodeAddress: '10.0.0.2', checks: [{ type: 'http', definition: { http: srv.url, interval: '20ms' } }] }))]);
    await eventually(() => statusOf(r, 'mine').status === 'passing');
    expect(health.stats().checks).toBe(1);
  });

  it('runs every check only while it holds the election with scope: elected, and hands them over', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const store = new RecordingStore();
    store.leadership.next(false);
    health = healthChecker({ scope: 'elected', priority: 0, minInterval: '1ms' });
    run = await runPlugins([health], { node: 'n1', store });
    await store.apply([withCheck('mine', 'http', { http: srv.url, interval: '20ms' }), upsert(spec('web', { id: 'theirs', node: 'n2', nodeAddress: '10.0.0.2', checks: [{ type: 'http', definition: { http: srv.url, interval: '20ms' } }] }))]);
    await new Promise((res) => setTimeout(res, 100));
    expect(health.stats()).toMatchObject({ checks: 0, runs: 0 });
    store.leadership.next(true);
    await eventually(() => statusOf(run!, 'mine').status === 'passing' && statusOf(run!, 'theirs', 'n2').status === 'passing');
    expect(health.stats().checks).toBe(2);
    store.leadership.next(false);
    expect(health.stats().checks).toBe(0);
    // Run counts come from the probe thread every 100 ms: let them settle, then see that they stay.
    await new Promise((res) => setTimeout(res, 250));
    const runs = health.stats().runs;
    await new Promise((res) => setTimeout(res, 300));
    expect(health.stats().runs).toBe(runs);
  });

  it.each(['process', 'worker', 'main'] as const)('runs the probes with runner: %s', async (runner) => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const r = await start({ runner });
    await r.store.apply([withCheck('w1', 'http', { http: srv.url, interval: '20ms' })]);
    await eventually(() => statusOf(r, 'w1').status === 'passing');
    // The runner's script comes from the build; it was there, so nothing fell back to the main thread.
    expect(r.logger.lines.filter((l) => l.msg.includes('not built'))).toEqual([]);
    expect(health.stats().probePid !== undefined).toBe(runner === 'process');
    // start() gives priority 0: on the main thread it cannot apply, and the log says so.
    expect(r.logger.lines.filter((l) => l.msg.includes('does not apply')).length).toBe(runner === 'main' ? 1 : 0);
  });

  // /proc/<pid>/task/<tid>/stat: field 19 is the niceness, 41 the policy (5 = SCHED_IDLE).
  const threads = (p: number): string[][] => {
    try {
      return readdirSync(`/proc/${p}/task`).map((t) => readFileSync(`/proc/${p}/task/${t}/stat`, 'utf8').replace(/^.*\) /, '').split(' '));
    } catch {
      return []; // it has ended
    }
  };
  const niceAndPolicy = (p: number): string[][] => threads(p).map((f) => [f[19 - 3]!, f[41 - 3]!]);

  it.skipIf(process.platform !== 'linux')('starts the probe process and all its threads at SCHED_IDLE, or at the niceness given', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const r = await start({ priority: 'idle' });
    const first = health.stats().probePid!;
    // chrt sets the class (at the agent's priority, so at once) and then execs node,
    // whose threads are born with it; read them as they come.
    await eventually(() => niceAndPolicy(first)[0]?.[1] === '5', 10_000, 'chrt to set SCHED_IDLE');
    // Without V8's GC helper threads, which held the agent's core while DNS waited (see PROBE_NODE_FLAGS).
    const cmdline = (): string[] => readFileSync(`/proc/${first}/cmdline`, 'utf8').split('\0');
    await eventually(() => cmdline().some((a) => a.endsWith('probe-process.js')), 10_000, 'chrt to exec node');
    expect(cmdline()).toContain('--single-threaded-gc');
    const seen = new Set<string>();
    const sample = (): void => {
      for (const [, policy] of niceAndPolicy(first)) seen.add(policy!);
    };
    const sampler = setInterval(sample, 5);
    await r.store.apply([withCheck('p1', 'http', { http: srv.url, interval: '50ms' })]);
    // On a busy machine (CI) the idle process may get no CPU; the checker then moves the
    // probes to nice 0 (the test below makes it so), and the check passes either way.
    await eventually(() => statusOf(r, 'p1').status === 'passing', 30_000);
    clearInterval(sampler);
    sample();
    expect([...seen]).toEqual(['5']);
    if (health.stats().boosts === 0) {
      expect(health.stats().probePid).toBe(first);
      expect(niceAndPolicy(first).length).toBeGreaterThan(1);
      expect(niceAndPolicy(first).map(([, p]) => p)).toEqual(niceAndPolicy(first).map(() => '5'));
    } else {
      expect(niceAndPolicy(health.stats().probePid!)).toEqual(niceAndPolicy(health.stats().probePid!).map(() => ['0', '0']));
    }
    // The agent itself is untouched.
    expect(threads(process.pid).map((f) => f[41 - 3])).not.toContain('5');
    await r.stop();
    run = undefined;
    // A nice-7 process may be starved on a busy machine too; here it is the niceness that is tested.
    const r7 = await start({ priority: 7, starvedPriority: 'none' });
    await r7.store.apply([withCheck('p1', 'http', { http: srv.url, interval: '50ms' })]);
    await eventually(() => statusOf(r7, 'p1').status === 'passing', 30_000);
    const nice = health.stats().probePid!;
    expect(niceAndPolicy(nice)).toEqual(niceAndPolicy(nice).map(() => ['7', '0']));
  }, 90_000);

  it.skipIf(process.platform !== 'linux' || !hasProgram('taskset', 'util-linux'))('runs the probe process, every thread of it, on the CPUs given', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const cpu = String(availableParallelism() - 1);
    const cpusOf = (status: string): string => /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(status, 'utf8'))![1]!;
    const before = cpusOf('/proc/self/status');
    const r = await start({ cpus: cpu });
    await r.store.apply([withCheck('c1', 'http', { http: srv.url, interval: '50ms' })]);
    await eventually(() => statusOf(r, 'c1').status === 'passing');
    const pid = health.stats().probePid!;
    const tasks = readdirSync(`/proc/${pid}/task`);
    expect(tasks.length).toBeGreaterThan(1);
    expect(tasks.map((task) => cpusOf(`/proc/${pid}/task/${task}/status`))).toEqual(tasks.map(() => cpu));
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.endsWith('probe-process.js'))).toBe(true);
    // The agent itself is untouched.
    expect(cpusOf('/proc/self/status')).toBe(before);
    srv.set(500);
    await eventually(() => statusOf(r, 'c1').status === 'critical');
  });

  it.skipIf(process.platform !== 'linux' || !hasProgram('taskset', 'util-linux'))('warns when the agent is pinned and cpus leaves the probes on its CPUs, and runs them there', async () => {
    const cpusOf = (status: string): string => /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(status, 'utf8'))![1]!;
    const before = cpusOf('/proc/self/status');
    // This test process pinned to its last CPU, as systemd's CPUAffinity= pins an agent
    // (availableParallelism() follows the pinning: counted before).
    const cores = availableParallelism();
    const last = String(cores - 1);
    execFileSync('taskset', ['-p', '-c', last, String(process.pid)], { stdio: 'ignore' });
    try {
      const r = await start();
      const warned = r.logger.lines.filter((l) => l.level === 'warn' && l.msg.includes('inherits that'));
      if (cores > 1) expect(warned.map((l) => l.msg)).toEqual([expect.stringMatching(new RegExp(`^the agent runs on CPU ${last} only .* set cpus to CPUs the agent does not use`))]);
      else expect(warned).toEqual([]);
      await r.store.apply([withCheck('c1', 'tcp', { tcp: '127.0.0.1:9', interval: '50ms' })]);
      await eventually(() => health.stats().probePid !== undefined);
      expect(cpusOf(`/proc/${health.stats().probePid}/status`)).toBe(last);
    } finally {
      execFileSync('taskset', ['-p', '-c', before, String(process.pid)], { stdio: 'ignore' });
    }
    // With cpus given there is nothing to warn about.
    const quiet = await runPlugins([healthChecker({ cpus: '0', priority: 0 })], { node: 'n2' });
    expect(quiet.logger.lines.filter((l) => l.msg.includes('inherits that'))).toEqual([]);
    await quiet.stop();
  });

  it.skipIf(process.platform !== 'linux')('refuses to start on a CPU the machine does not have, naming it', async () => {
    health = healthChecker({ cpus: '0,4096' });
    await expect(runPlugins([health], { node: 'n1' })).rejects.toThrow(/plugin health: cpus: no CPU 4096 on this machine \(online: [\d,-]+; got "0,4096"\)$/);
  });

  it.skipIf(process.platform !== 'linux')('moves starved probes to starvedPriority, and back to idle after starvedHold', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    // Two busy loops a core, at the agent's priority and in its session: all an idle process gets is crumbs.
    const spinners = Array.from({ length: 2 * availableParallelism() }, () => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    const stopSpinners = async (): Promise<void> => {
      await Promise.all(spinners.filter((s) => s.exitCode === null && s.signalCode === null).map((s) => new Promise((res) => (s.once('exit', res), s.kill('SIGKILL')))));
    };
    cleanups.push(stopSpinners);
    const r = await start({ priority: 'idle', starvedAfter: '1s', starvedHold: '3s' });
    await r.store.apply([withCheck('s1', 'http', { http: srv.url, interval: '50ms' })]);
    await eventually(() => statusOf(r, 's1').status === 'passing', 30_000);
    expect(health.stats()).toMatchObject({ boosts: 1, probePriority: 0, restarts: 0 });
    const boosted = health.stats().probePid!;
    expect(niceAndPolicy(boosted)).toEqual(niceAndPolicy(boosted).map(() => ['0', '0']));
    expect(r.logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringMatching(/^the health probes got too little CPU at idle priority \(not a word from them for [\d.]+s\): running them at nice 0 for 3s once started$/),
    ]);
    await stopSpinners();
    // After the hold, back at idle: a new process, SCHED_IDLE, which follows the endpoint.
    await eventually(() => health.stats().probePriority === 'idle', 10_000);
    const again = health.stats().probePid!;
    expect(again).not.toBe(boosted);
    await eventually(() => niceAndPolicy(again)[0]?.[1] === '5', 10_000);
    srv.set(500);
    await eventually(() => statusOf(r, 's1').status === 'critical', 30_000);
    expect(r.logger.lines.some((l) => l.msg === 'the health probes go back to idle priority')).toBe(true);
  }, 90_000);

  it('starts a probe process that was killed again, with every check, and ends it on stop', async () => {
    const srv = await flakyServer();
    cleanups.push(srv.close);
    const r = await start();
    await r.store.apply([withCheck('k1', 'http', { http: srv.url, interval: '50ms' })]);
    await eventually(() => statusOf(r, 'k1').status === 'passing');
    const first = health.stats().probePid!;
    process.kill(first, 'SIGKILL');
    await eventually(() => health.stats().restarts === 1 && health.stats().probePid !== undefined && health.stats().probePid !== first);
    expect(r.logger.lines.filter((l) => l.msg.includes('ended unasked'))).toHaveLength(1);
    // The new process was handed the check: it follows the endpoint.
    srv.set(500);
    await eventually(() => statusOf(r, 'k1').status === 'critical');
    const second = health.stats().probePid!;
    await r.stop();
    run = undefined;
    expect(() => process.kill(second, 0)).toThrow(/ESRCH/);
  });

  it('validates its options', () => {
    expect(() => parseOptions({ runner: 'green' })).toThrow(/runner: must be one of "process", "worker", "main"/);
    expect(() => parseOptions({ priority: 'low' })).toThrow('plugin health: priority: must be "idle" or a niceness, an integer from 0 to 19 (got "low")');
    expect(() => parseOptions({ priority: 20 })).toThrow('plugin health: priority: must be "idle" or a niceness, an integer from 0 to 19 (got 20)');
    expect(() => parseOptions({ starvedPriority: 'idle' })).toThrow('plugin health: starvedPriority: must be "none" or a niceness, an integer from 0 to 19 (got "idle")');
    expect(() => parseOptions({ starvedAfter: '200ms', starvedHold: '5m' })).toThrow('plugin health: starvedAfter: must be at least 1s (got "200ms")');
    expect(() => parseOptions({ starvedHold: 'soon' })).toThrow(/^plugin health: starvedHold: /);
    expect(parseOptions({ starvedPriority: 'none', starvedAfter: '1s', starvedHold: '1h' })).toEqual({ starvedPriority: 'none', starvedAfter: '1s', starvedHold: '1h' });
    expect(parseOptions({ priority: 'idle', runner: 'worker' })).toEqual({ priority: 'idle', runner: 'worker' });
    expect(() => parseOptions({ concurrency: 0 })).toThrow('plugin health: concurrency: must be >= 1');
    expect(() => parseOptions({ scope: 'some' })).toThrow(/scope: must be one of "all", "local", "elected"/);
    expect(() => parseOptions({ cpus: '1-0' })).toThrow('plugin health: cpus: must be a list of CPU numbers and ranges, as taskset -c takes it: "0", "2-3", "0,2-3" (got "1-0")');
    expect(() => parseOptions({ cpus: 1 })).toThrow(/^plugin health: cpus: must be string/);
    expect(parseOptions({ cpus: '0,2-3' })).toEqual({ cpus: '0,2-3' });
  });

  it('points routing keys to the sinks that hand instances out', () => {
    for (const key of ['includeWarning', 'onlyPassing']) {
      expect(() => parseOptions({ [key]: false })).toThrow(`plugin health: ${key}: unknown key (what counts as routable is set where instances are handed out: the proxy sink's includeWarning`);
    }
    expect(() => parseOptions({ includeWarnings: true })).toThrow(/^plugin health: includeWarnings: unknown key$/);
  });
});
