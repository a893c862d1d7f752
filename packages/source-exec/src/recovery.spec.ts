import { createRequire } from 'node:module';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, runPlugins, tempDir, type Running } from '@signpost/testing';
import { execSource, type ExecSource } from './index.js';

/*
 * What survives a kill -9 of the agent, with real processes: an agent (the exec
 * source under a registry) in a process of its own, killed with SIGKILL, then the
 * source started again on the same dataDir. /proc is read here on its own terms,
 * not through the code under test.
 */

const fixture = (name: string): string => fileURLToPath(new URL(`./__fixtures__/${name}`, import.meta.url));
const web = fixture('web.mjs');

/** State and start time (field 22) of a process, or undefined once it is gone. */
function statOf(pid: number): { state: string; startTime: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, startTime: Number(fields[19]) };
}

/** Running: a zombie left for init to reap counts as gone. */
const running = (pid: number): boolean => ![undefined, 'Z'].includes(statOf(pid)?.state);

const argvOf = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);

/** The running processes with `marker` among their arguments. */
function marked(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (argvOf(Number(name)).includes(marker) && running(Number(name))) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out.sort((a, b) => a - b);
}

function allocIdOf(pid: number): string | undefined {
  const entry = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('NOMAD_ALLOC_ID='));
  return entry?.slice('NOMAD_ALLOC_ID='.length);
}

const jobsYaml = (marker: string, count: number): string =>
  `jobs:\n  - name: web\n    command: ${process.execPath}\n    args: [${web}, ${marker}]\n    count: ${count}\n    restart: { delay: 50ms, maxDelay: 200ms }\n    killTimeout: 2s\n    service: { name: web }\n`;

/**
 * A process of its own group, started here (not by the source), with `marker`
 * among its arguments. With `notes`, it ignores SIGTERM, writes `notes` when it
 * gets one, and writes `<notes>.ready` once it is listening for it.
 */
function aside(marker: string, o: { env?: Record<string, string>; notes?: string } = {}): ChildProcess {
  const code = o.notes
    ? `const fs = require('fs'); process.on('SIGTERM', () => fs.writeFileSync(${JSON.stringify(o.notes)}, 'TERM')); fs.writeFileSync(${JSON.stringify(`${o.notes}.ready`)}, ''); setInterval(() => {}, 1000);`
    : 'setInterval(() => {}, 1000);';
  return spawn(process.execPath, ['-e', code, marker], { detached: true, stdio: 'ignore', env: { ...process.env, ...o.env } });
}

describe('exec source after a kill -9 of the agent', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let dataDir: string;
  let records: string;
  let marker: string;
  let run: Running | undefined;
  let exec: ExecSource;
  const spawned: ChildProcess[] = [];
  const instances = () => run!.store.instances('web');

  beforeEach(async () => {
    dir = await tempDir();
    dataDir = join(dir.path, 'data');
    records = join(dataDir, 'exec-allocs', 'exec');
    marker = `signpost-exec-spec-${randomUUID()}`;
  });
  afterEach(async () => {
    await run?.stop();
    run = undefined;
    for (const child of spawned.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const pid of marked(marker)) process.kill(pid, 'SIGKILL');
    await dir.dispose();
  });

  const startSource = async (count: number): Promise<void> => {
    await writeFile(join(dir.path, 'jobs.yaml'), jobsYaml(marker, count));
    exec = execSource({ jobs: 'jobs.yaml', debounce: '20ms', portRange: '21000-29000' });
    run = await runPlugins([exec], { baseDir: dir.path, dataDir });
  };

  it('stops what the killed agent left running before starting anything, then runs count copies and registers them', async () => {
    await writeFile(join(dir.path, 'jobs.yaml'), jobsYaml(marker, 2));
    const agent = spawn(process.execPath, ['--import', pathToFileURL(createRequire(import.meta.url).resolve('@signpost/testing/node/ts-register.mjs')).href, fixture('agent.mjs'), dir.path, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.push(agent);
    const said: string[] = [];
    agent.stdout!.on('data', (d: Buffer) => said.push(d.toString()));
    agent.stderr!.on('data', (d: Buffer) => said.push(d.toString()));
    const agentExited = new Promise((r) => agent.once('exit', r));
    await eventually(() => marked(marker).length === 2 || agent.exitCode !== null, 15_000, 'the first agent to run two instances');
    expect(agent.exitCode, said.join('')).toBeNull();

    // Whenever the agent dies, every process it started has its record: each is written before its spawn.
    const orphans = marked(marker);
    const firstAllocs = orphans.map(allocIdOf);
    for (const alloc of firstAllocs) expect(await readdir(records)).toContain(`${alloc}.json`);
    agent.kill('SIGKILL');
    await agentExited;
    // The defect's premise: its processes outlive it, each in its own process group.
    expect(marked(marker)).toEqual(orphans);

    await startSource(2);
    // Start-up has stopped them before it started anything.
    expect(orphans.filter(running)).toEqual([]);
    expect(exec.stats().recovery).toEqual({ records: 2, damaged: 0, stopped: 2, survived: 0, refused: 0 });
    expect(run!.logger.lines.filter((l) => l.msg === 'stopped a process left running by a previous run of the agent').map((l) => l.fields['pids'])).toHaveLength(2);

    await eventually(() => marked(marker).length === 2 && instances().length === 2, 10_000, 'two instances of the second life, registered');
    const live = marked(marker);
    expect(live.filter((pid) => orphans.includes(pid))).toEqual([]);
    expect([...exec.pids()].sort((a, b) => a - b)).toEqual(live);
    for (const i of instances()) {
      expect(firstAllocs).not.toContain(i.meta['exec-alloc-id']);
      await eventually(async () => (await fetch(`http://127.0.0.1:${i.port}/health`).catch(() => undefined))?.status === 200, 5000, 'the instance to serve');
      const { pid } = (await (await fetch(`http://127.0.0.1:${i.port}/`)).json()) as { pid: number };
      expect(live).toContain(pid);
      expect(allocIdOf(pid)).toBe(i.meta['exec-alloc-id']);
    }
    expect((await readdir(records)).sort()).toEqual(live.map((pid) => `${allocIdOf(pid)}.json`).sort());

    // A clean stop leaves neither processes nor records.
    await run!.stop();
    run = undefined;
    expect(marked(marker)).toEqual([]);
    expect(await readdir(records)).toEqual([]);
  });

  it('never signals a process that now has a recorded pid, and removes those records', async () => {
    const flag = join(dir.path, 'signalled');
    const other = aside(marker, { notes: flag });
    spawned.push(other);
    const pid = other.pid!;
    await eventually(() => existsSync(`${flag}.ready`), 5000, 'the bystander to run');
    const { startTime } = statOf(pid)!;
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const base = { version: 1, job: 'web', index: 0, bootId, killTimeoutMs: 1000 };
    // An allocation that had this pid before it was reused: same command line, another start time.
    const reused = randomUUID();
    // Its start time, but not the command line the record has, nor the allocation's environment.
    const otherCommand = randomUUID();
    await mkdir(records, { recursive: true });
    await writeFile(join(records, `${reused}.json`), JSON.stringify({ ...base, allocId: reused, process: { pid, pgid: pid, startTime: startTime - 1, cmdline: argvOf(pid) } }));
    await writeFile(join(records, `${otherCommand}.json`), JSON.stringify({ ...base, allocId: otherCommand, process: { pid, pgid: pid, startTime, cmdline: [process.execPath, web] } }));

    await startSource(1);
    expect(running(pid)).toBe(true);
    expect(statOf(pid)!.startTime).toBe(startTime);
    expect(existsSync(flag)).toBe(false);
    expect(exec.stats().recovery).toEqual({ records: 2, damaged: 0, stopped: 0, survived: 0, refused: 2 });
    const refusals = run!.logger.lines.filter((l) => l.msg === 'a recorded pid is not the allocation any more; not signalled');
    expect(refusals.map((l) => [l.fields['alloc'], l.fields['pid']]).sort()).toEqual([[reused, pid], [otherCommand, pid]].sort());
    expect(refusals.find((l) => l.fields['alloc'] === reused)!.fields['why']).toMatch(/pid was reused/);
    await eventually(() => instances().length === 1, 10_000, 'the job to start all the same');
    const left = await readdir(records);
    expect(left).not.toContain(`${reused}.json`);
    expect(left).not.toContain(`${otherCommand}.json`);
    expect(running(pid)).toBe(true);
  });

  it('reports a damaged record with its path and what it recovered, stops the allocation it names, and starts', async () => {
    const alloc = randomUUID();
    const orphan = aside(marker, { env: { NOMAD_ALLOC_ID: alloc } });
    spawned.push(orphan);
    await eventually(() => marked(marker).length === 1, 5000, 'the orphan to run');
    await mkdir(records, { recursive: true });
    const torn = join(records, `${alloc}.json`);
    const junk = join(records, 'junk.json');
    await writeFile(torn, `{"version":1,"allocId":"${alloc.slice(0, 8)}`);
    await writeFile(junk, 'garbage');

    await startSource(1);
    const reports = run!.logger.lines.filter((l) => l.level === 'error' && l.msg === 'damaged exec record; start-up goes on');
    expect(reports.map((l) => l.fields['path']).sort()).toEqual([junk, torn].sort());
    const about = (path: string) => reports.find((l) => l.fields['path'] === path)!.fields;
    expect(about(torn)['error']).toMatch(/^not JSON/);
    expect(about(torn)['recovered']).toMatch(new RegExp(`^allocation ${alloc} \\(from the file name\\)`));
    expect(about(junk)['recovered']).toMatch(/^nothing/);
    // The orphan carried the allocation's NOMAD_ALLOC_ID.
    expect(running(orphan.pid!)).toBe(false);
    expect(exec.stats().recovery).toEqual({ records: 0, damaged: 2, stopped: 1, survived: 0, refused: 0 });
    await eventually(() => instances().length === 1, 10_000, 'the job to start all the same');
    expect(await readdir(records)).toEqual(expect.arrayContaining([`${alloc}.json.damaged`, 'junk.json.damaged']));
  });

  it('finds a process whose record was written before its spawn, by its environment, and SIGKILLs it after its grace', async () => {
    const alloc = randomUUID();
    const notes = join(dir.path, 'orphan-signalled');
    const orphan = aside(marker, { env: { NOMAD_ALLOC_ID: alloc }, notes });
    spawned.push(orphan);
    await eventually(() => existsSync(`${notes}.ready`), 5000, 'the orphan to run');
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    await mkdir(records, { recursive: true });
    await writeFile(join(records, `${alloc}.json`), JSON.stringify({ version: 1, allocId: alloc, job: 'web', index: 0, bootId, killTimeoutMs: 100 }));

    await startSource(0);
    expect(running(orphan.pid!)).toBe(false);
    expect(readFileSync(notes, 'utf8')).toBe('TERM');
    expect(exec.stats().recovery).toMatchObject({ records: 1, stopped: 1 });
    const stopped = run!.logger.lines.find((l) => l.msg === 'stopped a process left running by a previous run of the agent')!;
    expect(stopped.fields).toMatchObject({ alloc, job: 'web', index: 0, pids: [orphan.pid], by: 'SIGKILL' });
    expect(await readdir(records)).toEqual([]);
  });

  it('warns at start that nothing can be found without a dataDir', async () => {
    await writeFile(join(dir.path, 'jobs.yaml'), jobsYaml(marker, 0));
    exec = execSource({ jobs: 'jobs.yaml' });
    run = await runPlugins([exec], { baseDir: dir.path });
    expect(run.logger.lines.some((l) => l.level === 'warn' && /^no dataDir: .*cannot be found/.test(l.msg))).toBe(true);
  });
});
