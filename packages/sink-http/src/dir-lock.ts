// An exclusive lock on the registrations directory: one process at a time loads, repairs,
// appends to and compacts it. The lock file is created with O_EXCL and holds the owner's
// pid and start time (from /proc/<pid>/stat), so that a lock left by a process that died
// (pid gone, or reused by another process started later) is told apart and taken over.
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@signpost/core';

export const LOCK_FILE = 'lock';

interface Holder {
  readonly pid: number;
  /** Clock ticks since boot when the process started (field 22 of /proc/<pid>/stat); null where there is no /proc. */
  readonly start: string | null;
}

/** A process's start time, undefined if it does not exist (or cannot be read). */
async function startTime(pid: number): Promise<string | null | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return (await import('node:fs')).existsSync('/proc/self/stat') ? undefined : null;
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields 3.. follow the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isLive(holder: Holder): Promise<boolean> {
  if (!Number.isSafeInteger(holder.pid) || holder.pid <= 0 || !alive(holder.pid)) return false;
  if (holder.start === null) return true;
  const now = await startTime(holder.pid);
  return now === undefined ? false : now === null || now === holder.start;
}

export class DirLock {
  private constructor(
    readonly path: string,
    private readonly content: string,
  ) {}

  /** Takes the lock on `dir`, taking over a stale one (logged); throws, naming the directory and the holder, if another live process holds it. */
  static async acquire(dir: string, logger: Logger): Promise<DirLock> {
    const path = join(dir, LOCK_FILE);
    const me: Holder = { pid: process.pid, start: (await startTime(process.pid)) ?? null };
    const content = `${JSON.stringify(me)}\n`;
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(path, content, { flag: 'wx' });
        return new DirLock(path, content);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw Object.assign(new Error(`${path}: cannot create the lock of the registrations directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`), { cause: err });
      }
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined) continue; // released meanwhile
      let holder: Holder | undefined;
      try {
        holder = JSON.parse(text) as Holder;
      } catch {
        holder = undefined; // a holder that died between creating and writing it
      }
      if (holder && (await isLive(holder))) {
        throw new Error(`${dir}: the registrations directory is in use by process ${holder.pid} (lock ${path}); stop that process or give this one another data directory`);
      }
      logger.warn({ path, holder: holder ?? text }, 'took over the lock of the registrations directory from a process no longer running');
      // Only if it is still the stale one: another process may have taken it over meanwhile.
      if ((await readFile(path, 'utf8').catch(() => undefined)) === text) await unlink(path).catch(() => undefined);
    }
  }

  /** Releases the lock (if it is still this one). */
  async release(): Promise<void> {
    const text = await readFile(this.path, 'utf8').catch(() => undefined);
    if (text === this.content) await unlink(this.path).catch(() => undefined);
  }
}
