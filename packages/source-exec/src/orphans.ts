import { isDead, listProcesses, readCmdline, readEnvironValue, type ProcStat } from './proc.js';
import type { AllocRecord } from './records.js';

/*
 * Finding and stopping the processes a previous life of the agent started, from
 * its records, without ever signalling a process that is not one of them. A pid
 * alone proves nothing (the kernel reuses pids), so a process is taken for an
 * allocation's only when /proc proves it:
 *
 * - its leader: the recorded pid, in the recorded boot, with the recorded start
 *   time (clock ticks since boot: no two processes of one boot share pid and start
 *   time), and the recorded command line or the allocation's NOMAD_ALLOC_ID in the
 *   environment it was started with;
 * - a member: a live process whose environment carries the allocation's
 *   NOMAD_ALLOC_ID (a random UUID that only this allocation's processes, and what
 *   they started, inherit), started no earlier than the leader.
 *
 * The decision (`judge`, `targets`) is pure; `scan` and `stopAllocation` do the I/O.
 */

/** What the next life knows of an allocation: its record, or only the id a damaged record's file name gave. */
export interface Wanted {
  readonly allocId: string;
  readonly record?: AllocRecord;
}

/** What /proc says of one process, as far as deciding whose it is needs. */
export interface ProcessFacts {
  readonly stat: ProcStat;
  /** Read only for a process whose pid a record names. */
  readonly cmdline?: readonly string[];
  /** NOMAD_ALLOC_ID in the environment it was started with (undefined: none, or not readable). */
  readonly allocId?: string;
}

export type Role = 'leader' | 'member';
export type Verdict = { readonly ours: Role } | { readonly ours: false; readonly why: string };

/** Whether process `p` is one of allocation `wanted`'s, in boot `boot` (this machine's boot id now). */
export function judge(wanted: Wanted, p: ProcessFacts, boot: string | undefined): Verdict {
  if (isDead(p.stat)) return { ours: false, why: 'it has exited' };
  const rec = wanted.record;
  const proc = rec?.process;
  const sameBoot = boot !== undefined && rec?.bootId === boot;
  let why = "it is not one of the allocation's processes";
  if (proc && p.stat.pid === proc.pid) {
    if (!sameBoot) why = 'the record is from another boot';
    else if (p.stat.startTime !== proc.startTime) why = `its pid was reused: it started at tick ${p.stat.startTime}, the record's process at ${proc.startTime}`;
    else if (sameArgv(p.cmdline, proc.cmdline) || p.allocId === wanted.allocId) return { ours: 'leader' };
    else why = "same pid and start time, but neither the recorded command line nor the allocation's environment";
  }
  if (p.allocId === wanted.allocId) {
    if (proc && sameBoot && p.stat.startTime < proc.startTime) return { ours: false, why: 'it started before the allocation did' };
    return { ours: 'member' };
  }
  return { ours: false, why };
}

/**
 * What to signal for an allocation's processes: its process group (as a negative
 * number, for `kill`) when the verified leader still leads it or a verified member
 * is still in it (a group id cannot be reused while the group has members), and
 * each verified process outside that group by its pid.
 */
export function targets(wanted: Wanted, ours: readonly ProcessFacts[]): number[] {
  const pgid = wanted.record?.process?.pgid;
  const inGroup = pgid !== undefined && ours.some((p) => p.stat.pgrp === pgid);
  const out: number[] = inGroup ? [-pgid] : [];
  for (const p of ours) if (!inGroup || p.stat.pgrp !== pgid) out.push(p.stat.pid);
  return out;
}

/** One allocation's processes now: those proven its, and those a record named that were refused, with why. */
export interface Found {
  readonly ours: ProcessFacts[];
  readonly refused: Array<{ readonly pid: number; readonly why: string }>;
}

/** Looks through /proc once for the processes of every allocation in `wanted`. */
export function scan(wanted: readonly Wanted[], boot: string | undefined): Map<string, Found> {
  const found = new Map<string, Found>(wanted.map((w) => [w.allocId, { ours: [], refused: [] }]));
  if (wanted.length === 0) return found;
  const byId = new Map(wanted.map((w) => [w.allocId, w]));
  // Several records may name one pid: a stale one whose process is gone, and the one that pid was reused for.
  const byPid = new Map<number, Wanted[]>();
  for (const w of wanted) if (w.record?.process) byPid.set(w.record.process.pid, [...(byPid.get(w.record.process.pid) ?? []), w]);
  for (const stat of listProcesses()) {
    if (stat.pid === process.pid || isDead(stat)) continue;
    const named = byPid.get(stat.pid) ?? [];
    const allocId = readEnvironValue(stat.pid, 'NOMAD_ALLOC_ID');
    const carried = allocId === undefined ? undefined : byId.get(allocId);
    if (named.length === 0 && !carried) continue;
    const cmdline = named.length ? readCmdline(stat.pid) : undefined;
    const facts: ProcessFacts = { stat, ...(cmdline ? { cmdline } : {}), ...(allocId !== undefined ? { allocId } : {}) };
    for (const w of new Set([...named, ...(carried ? [carried] : [])])) {
      const verdict = judge(w, facts, boot);
      const entry = found.get(w.allocId)!;
      if (verdict.ours) entry.ours.push(facts);
      else if (named.includes(w)) entry.refused.push({ pid: stat.pid, why: verdict.why });
    }
  }
  return found;
}

export interface StopTimes {
  /** SIGTERM → SIGKILL grace. */
  readonly graceMs: number;
  /** How long to wait for SIGKILL to take. */
  readonly killWaitMs: number;
  /** How often /proc is looked at meanwhile. */
  readonly pollMs: number;
}

export interface StopOutcome {
  /** `none`: nothing of it was running; `stopped` by SIGTERM; `killed` by SIGKILL; `survived` even that (still there). */
  readonly outcome: 'none' | 'stopped' | 'killed' | 'survived';
  /** The pids found its, first. */
  readonly pids: number[];
  /** Processes whose pid its record names but that are not its: never signalled. */
  readonly refused: Found['refused'];
}

/**
 * Stops what runs of one allocation: SIGTERM to its group (or its processes),
 * SIGKILL to what is left after `graceMs`, both bounded. Looks at /proc afresh
 * before each signal, so a process that exits meanwhile, and the pid reused after
 * it, is not signalled.
 */
export async function stopAllocation(wanted: Wanted, boot: string | undefined, times: StopTimes): Promise<StopOutcome> {
  const look = (): Found => scan([wanted], boot).get(wanted.allocId)!;
  const first = look();
  const base = { pids: first.ours.map((p) => p.stat.pid), refused: first.refused };
  if (first.ours.length === 0) return { outcome: 'none', ...base };
  signalAll(targets(wanted, first.ours), 'SIGTERM');
  if (await until(() => look().ours.length === 0, times.graceMs, times.pollMs)) return { outcome: 'stopped', ...base };
  signalAll(targets(wanted, look().ours), 'SIGKILL');
  if (await until(() => look().ours.length === 0, times.killWaitMs, times.pollMs)) return { outcome: 'killed', ...base };
  return { outcome: 'survived', ...base };
}

function signalAll(list: readonly number[], sig: NodeJS.Signals): void {
  for (const target of list) {
    try {
      process.kill(target, sig);
    } catch {
      // Gone meanwhile.
    }
  }
}

/** Polls `done` every `everyMs` until it holds (true) or `ms` have passed (false). */
async function until(done: () => boolean, ms: number, everyMs: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function sameArgv(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, n) => x === b[n]);
}
