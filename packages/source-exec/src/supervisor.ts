import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { backoffDelay, type InstanceInput, type Logger, type SourceEvent } from '@signpost/core';
import { environment, registration, sameProcess, type Job, type Placement } from './jobs.js';
import type { PortAllocator } from './ports.js';
import { liveGroupMembers, readCmdline, readStat } from './proc.js';
import type { AllocRecord, RecordDir } from './records.js';

/** A process that ran at least this long before it exited starts its backoff over. */
const STABLE_MS = 10_000;

interface Alloc {
  readonly placement: Placement;
  readonly child: ChildProcess;
  readonly startedAt: number;
  readonly exited: Promise<void>;
  /** Settles once its record is removed (or kept, when its group outlived every bound). */
  forgotten: Promise<void>;
  instance: InstanceInput | undefined;
}

/** One of a job's `count` places: it keeps one process running, restarting it with backoff. */
interface Slot {
  job: Job;
  readonly index: number;
  alloc: Alloc | undefined;
  attempts: number;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

export interface SupervisorOptions {
  readonly ports: PortAllocator;
  /** The address instances are registered at (and their checks probe). */
  readonly address: string;
  readonly logDir: string;
  readonly logger: Logger;
  /** Registrations: an upsert when a process is up, a remove when it is gone. */
  readonly emit: (event: SourceEvent) => void;
  /**
   * Where each allocation is recorded, durably, before its process is spawned, so
   * that the next start finds what a crash of the agent left running. Without it
   * nothing is recorded.
   */
  readonly records?: { readonly dir: RecordDir; readonly bootId: string };
}

export interface SupervisorStats {
  readonly running: number;
  readonly starts: number;
  readonly restarts: number;
}

/**
 * Runs jobs as processes: `count` of each, each on fresh dynamic ports, restarted
 * with capped backoff (on new ports, as a new allocation) when they exit, stopped
 * with SIGTERM and then SIGKILL after the job's kill timeout. Each process leads its
 * own process group, so what it starts in turn is stopped with it.
 */
export class Supervisor {
  readonly #slots = new Map<string, Slot>();
  #starts = 0;
  #restarts = 0;
  #closed = false;

  constructor(private readonly o: SupervisorOptions) {
    mkdirSync(o.logDir, { recursive: true });
  }

  /** What is registered now: one instance per running process of a job with a service. */
  current(): InstanceInput[] {
    const out: InstanceInput[] = [];
    for (const slot of this.#slots.values()) if (slot.alloc?.instance) out.push(slot.alloc.instance);
    return out;
  }

  stats(): SupervisorStats {
    let running = 0;
    for (const slot of this.#slots.values()) if (slot.alloc) running++;
    return { running, starts: this.#starts, restarts: this.#restarts };
  }

  /** The process ids now running, by job (tests look for orphans with them). */
  pids(): number[] {
    return [...this.#slots.values()].flatMap((s) => (s.alloc?.child.pid ? [s.alloc.child.pid] : []));
  }

  /**
   * Brings what runs in line with `jobs`: new jobs start, removed jobs stop, a
   * changed job is replaced, and a job whose only change is `count` scales
   * without touching the instances it keeps.
   */
  async apply(jobs: readonly Job[]): Promise<void> {
    const wanted = new Map(jobs.map((j) => [j.name, j]));
    const stopping: Array<Promise<void>> = [];
    for (const [key, slot] of this.#slots) {
      const next = wanted.get(slot.job.name);
      if (!next || !sameProcess(next, slot.job) || slot.index >= next.count) {
        this.#slots.delete(key);
        stopping.push(this.#stop(slot));
      } else {
        slot.job = next;
      }
    }
    await Promise.all(stopping);
    for (const job of jobs) {
      for (let index = 0; index < job.count; index++) {
        const key = `${job.name}#${index}`;
        if (this.#slots.has(key)) continue;
        const slot: Slot = { job, index, alloc: undefined, attempts: 0, timer: undefined, stopped: false };
        this.#slots.set(key, slot);
        await this.#start(slot);
      }
    }
  }

  /** Stops every process (SIGTERM, then SIGKILL after each job's kill timeout) and waits for them. */
  async stopAll(): Promise<void> {
    this.#closed = true;
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    await Promise.all(slots.map((s) => this.#stop(s)));
  }

  async #start(slot: Slot): Promise<void> {
    if (slot.stopped || this.#closed) return;
    const { job } = slot;
    const ports: Record<string, number> = {};
    try {
      for (const label of job.ports) ports[label] = await this.o.ports.allocate();
    } catch (err) {
      for (const port of Object.values(ports)) this.o.ports.release(port);
      this.o.logger.error({ job: job.name, index: slot.index, err: (err as Error).message }, 'no port for an instance; retrying');
      this.#retry(slot);
      return;
    }
    if (slot.stopped || this.#closed) {
      for (const port of Object.values(ports)) this.o.ports.release(port);
      return;
    }
    const placement: Placement = { job, index: slot.index, allocId: randomUUID(), ports, address: this.o.address };
    const record = this.#record(placement);
    if (record === false) {
      for (const port of Object.values(ports)) this.o.ports.release(port);
      this.#retry(slot);
      return;
    }
    const logs = join(this.o.logDir, `${job.name}.${slot.index}`);
    const out = openSync(`${logs}.stdout.log`, 'a');
    const err = openSync(`${logs}.stderr.log`, 'a');
    let child: ChildProcess;
    try {
      child = spawn(job.command, [...job.args], {
        cwd: job.cwd,
        env: { ...process.env, ...environment(placement) },
        stdio: ['ignore', out, err],
        detached: true,
      });
    } finally {
      // The child has its own copies of the descriptors.
      closeSync(out);
      closeSync(err);
    }
    // spawn() returns once the child has exec'ed: its pid, start time and command line are there to record.
    if (record && child.pid !== undefined) this.#recordProcess(record, child.pid);
    this.#starts++;
    let resolveExit!: () => void;
    const alloc: Alloc = {
      placement,
      child,
      startedAt: Date.now(),
      exited: new Promise<void>((r) => (resolveExit = r)),
      forgotten: Promise.resolve(),
      instance: undefined,
    };
    slot.alloc = alloc;
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, error?: Error): void => {
      if (ended) return;
      ended = true;
      this.#exited(slot, alloc, code, signal, error);
      resolveExit();
    };
    child.once('spawn', () => {
      const instance = registration(placement);
      this.o.logger.info({ job: job.name, index: slot.index, pid: child.pid, ports, alloc: placement.allocId }, 'instance started');
      if (!instance || ended) return;
      alloc.instance = instance;
      this.o.emit({ type: 'upsert', instance });
    });
    child.once('error', (e) => end(null, null, e));
    child.once('exit', (code, signal) => end(code, signal));
  }

  #exited(slot: Slot, alloc: Alloc, code: number | null, sig: NodeJS.Signals | null, error?: Error): void {
    // What the leader started and left behind goes with it (unless a stop is already seeing to it).
    const pid = alloc.child.pid;
    if (pid !== undefined && !slot.stopped && groupAlive(pid)) {
      signal(pid, 'SIGTERM');
      setTimeout(() => signal(pid, 'SIGKILL'), slot.job.killTimeoutMs).unref();
    }
    alloc.forgotten = this.#forget(alloc, slot.job.killTimeoutMs);
    for (const port of Object.values(alloc.placement.ports)) this.o.ports.release(port);
    if (alloc.instance) this.o.emit({ type: 'remove', ref: { id: alloc.instance.id! } });
    if (slot.alloc === alloc) slot.alloc = undefined;
    if (slot.stopped || this.#closed) return;
    const { job } = slot;
    if (Date.now() - alloc.startedAt >= Math.max(STABLE_MS, job.restart.maxDelayMs)) slot.attempts = 0;
    const why = error ? { err: error.message } : { code, signal: sig };
    if (job.restart.attempts > 0 && slot.attempts >= job.restart.attempts) {
      this.o.logger.error({ job: job.name, index: slot.index, ...why, attempts: slot.attempts }, 'instance exited; restart attempts used up, giving up on it');
      return;
    }
    const ms = this.#retry(slot);
    this.o.logger.warn({ job: job.name, index: slot.index, ...why, restartInMs: ms }, 'instance exited; restarting on a new port');
  }

  #retry(slot: Slot): number {
    slot.attempts++;
    const ms = backoffDelay(slot.attempts, { initialMs: slot.job.restart.delayMs, maxMs: slot.job.restart.maxDelayMs });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.#restarts++;
      void this.#start(slot);
    }, ms);
    return ms;
  }

  /**
   * SIGTERM to the instance's whole process group; whatever of the group is still
   * there after the kill timeout gets SIGKILL. Resolves once the group is gone, so
   * a wrapper's children (a shell's, npm's) are never left behind.
   */
  async #stop(slot: Slot): Promise<void> {
    slot.stopped = true;
    clearTimeout(slot.timer);
    const alloc = slot.alloc;
    if (!alloc) return;
    const pid = alloc.child.pid;
    if (pid === undefined) return alloc.exited;
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + slot.job.killTimeoutMs;
    while ((!isExited(alloc.child) || groupAlive(pid)) && Date.now() < deadline) await sleep(20);
    if (!isExited(alloc.child) || groupAlive(pid)) {
      this.o.logger.warn({ job: slot.job.name, index: slot.index, pid, afterMs: slot.job.killTimeoutMs }, 'instance ignored SIGTERM; killing it');
      signal(pid, 'SIGKILL');
    }
    await alloc.exited;
    for (let n = 0; n < 100 && groupAlive(pid); n++) await sleep(10);
    await alloc.forgotten;
  }

  /**
   * Records an allocation about to be spawned (no pid yet: the next start finds its
   * processes by their NOMAD_ALLOC_ID). Undefined when nothing is recorded; false
   * when the record could not be written, and then nothing must be spawned.
   */
  #record(p: Placement): AllocRecord | undefined | false {
    const records = this.o.records;
    if (!records) return undefined;
    const record: AllocRecord = { version: 1, allocId: p.allocId, job: p.job.name, index: p.index, bootId: records.bootId, killTimeoutMs: p.job.killTimeoutMs };
    try {
      records.dir.write(record);
      return record;
    } catch (err) {
      this.o.logger.error({ job: p.job.name, index: p.index, path: records.dir.path(p.allocId), err: (err as Error).message }, 'cannot record an instance before starting it; not starting it, retrying');
      return false;
    }
  }

  /** Completes an allocation's record with its process: pid, group, start time and command line. */
  #recordProcess(record: AllocRecord, pid: number): void {
    const stat = readStat(pid);
    const cmdline = readCmdline(pid);
    // Gone already (its exit removes the record), or /proc unreadable: the record without a pid still finds it.
    if (!stat || !cmdline) return;
    try {
      this.o.records!.dir.write({ ...record, process: { pid, pgid: stat.pgrp, startTime: stat.startTime, cmdline } });
    } catch (err) {
      this.o.logger.warn({ job: record.job, index: record.index, pid, err: (err as Error).message }, 'cannot record the pid of an instance; the record without it still finds it');
    }
  }

  /**
   * Removes an allocation's record once its whole process group is gone (bounded by
   * its kill timeout and a little more: a group that outlives that keeps its
   * record, and the next start deals with it).
   */
  async #forget(alloc: Alloc, killTimeoutMs: number): Promise<void> {
    const records = this.o.records;
    if (!records) return;
    const pid = alloc.child.pid;
    if (pid !== undefined) {
      const deadline = Date.now() + killTimeoutMs + 2000;
      // Records imply /proc, where a group's zombies (left for an init that does not reap them) do not count.
      const running = (): boolean => groupAlive(pid) && liveGroupMembers(pid).length > 0;
      while (running() && Date.now() < deadline) await sleep(20);
      if (running()) {
        this.o.logger.warn({ job: alloc.placement.job.name, index: alloc.placement.index, pid }, 'an instance\'s process group outlived its kill timeout; its record is kept');
        return;
      }
    }
    try {
      records.dir.remove(alloc.placement.allocId);
    } catch (err) {
      this.o.logger.warn({ path: records.dir.path(alloc.placement.allocId), err: (err as Error).message }, 'cannot remove the record of a stopped instance; the next start finds it stale');
    }
  }
}

function isExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Signals the process group `pid` leads (a shell wrapper's children too). */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Gone already.
  }
}

/** True while any process of the group `pid` led is still there. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
