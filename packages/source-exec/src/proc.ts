import { readdirSync, readFileSync } from 'node:fs';

/*
 * What Linux's /proc says about a process: parsers (pure, tested with table cases)
 * and the few reads that feed them. Every read answers `undefined` when the
 * process is gone or not readable, never throws: a process may exit between any
 * two reads.
 */

/** The fields of /proc/<pid>/stat that tell who a process is. */
export interface ProcStat {
  readonly pid: number;
  /** The executable's name, as the kernel keeps it (at most 15 bytes; may hold spaces and parentheses). */
  readonly comm: string;
  /** R, S, D, Z (zombie: exited, not yet reaped), T, t, X, I… */
  readonly state: string;
  readonly ppid: number;
  /** Its process group id. */
  readonly pgrp: number;
  /** Field 22: when it started, in clock ticks since boot. With the pid and the boot, it names one process for good. */
  readonly startTime: number;
}

/**
 * Parses /proc/<pid>/stat. The second field, the command name in parentheses,
 * may itself hold spaces and `)`, so the fields after it are counted from the
 * *last* `)`. Undefined for text that is not one.
 */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 1 || close < open) return undefined;
  const pid = Number(text.slice(0, open));
  // Fields 3 onwards: state is field 3, so field n is rest[n - 3].
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTime = Number(rest[19]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !state || !/^[A-Za-z]$/.test(state)) return undefined;
  if (![ppid, pgrp, startTime].every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  return { pid, comm: text.slice(open + 2, close), state, ppid, pgrp, startTime };
}

/** True for a process that has exited: a zombie waiting to be reaped, or one being torn down. */
export function isDead(stat: ProcStat): boolean {
  return stat.state === 'Z' || stat.state === 'X' || stat.state === 'x';
}

/** /proc/<pid>/cmdline (NUL-separated, usually NUL-terminated) as argv. */
export function parseCmdline(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** The value of `name` in /proc/<pid>/environ (NUL-separated NAME=value), or undefined. */
export function environValue(text: string, name: string): string | undefined {
  const prefix = `${name}=`;
  for (const entry of text.split('\0')) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  return undefined;
}

/** Whether this machine has a /proc to read (Linux). */
export function hasProc(): boolean {
  return readText('/proc/self/stat') !== undefined;
}

/** This boot's id: start times are counted from boot, so they compare only within one. */
export function bootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id')?.trim();
}

export function readStat(pid: number): ProcStat | undefined {
  const text = readText(`/proc/${pid}/stat`);
  return text === undefined ? undefined : parseStat(text);
}

export function readCmdline(pid: number): string[] | undefined {
  const text = readText(`/proc/${pid}/cmdline`);
  return text === undefined ? undefined : parseCmdline(text);
}

/** `name` in the environment a process was started with (unreadable for another user's processes). */
export function readEnvironValue(pid: number, name: string): string | undefined {
  const text = readText(`/proc/${pid}/environ`);
  return text === undefined ? undefined : environValue(text, name);
}

/** Every process on the machine now, as /proc/<pid>/stat says (those that exit meanwhile are left out). */
export function listProcesses(): ProcStat[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) out.push(stat);
  }
  return out;
}

/** The pids of the processes of group `pgid` that have not exited (zombies left for a non-reaping init do not count). */
export function liveGroupMembers(pgid: number): number[] {
  return listProcesses()
    .filter((p) => p.pgrp === pgid && !isDead(p))
    .map((p) => p.pid);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
