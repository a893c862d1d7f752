import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { check, formatIssue, Type, type Static } from '@signpost/core';

/*
 * The record of what this source started, kept under the agent's dataDir so that
 * the next life of the agent (after a kill -9, an OOM kill, a power cut) finds the
 * processes this one left behind. One file per allocation, `<allocId>.json`:
 * written before the process is spawned (without a pid), rewritten with the pid,
 * its start time, process group and command line as soon as spawn() returns, and
 * removed once the allocation's whole process group is gone. Every write is
 * durable: a temporary file, fsync, rename over the record, fsync of the directory.
 * A crash at any moment therefore leaves a record of every process alive, and a
 * torn record is impossible (a file is whole, old or new); a damaged one (a disk
 * error, a hand edit) names its allocation by its file name still.
 */

const ALLOC_ID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

const ProcessSchema = Type.Object(
  {
    pid: Type.Integer({ minimum: 1 }),
    /** Its process group id: the pid, as each instance leads its own group. */
    pgid: Type.Integer({ minimum: 1 }),
    /** /proc/<pid>/stat field 22, in clock ticks since boot. */
    startTime: Type.Integer({ minimum: 0 }),
    /** /proc/<pid>/cmdline as spawn() left it. */
    cmdline: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);

export const AllocRecordSchema = Type.Object(
  {
    version: Type.Literal(1),
    allocId: Type.String({ pattern: ALLOC_ID }),
    job: Type.String({ minLength: 1 }),
    index: Type.Integer({ minimum: 0 }),
    /** /proc/sys/kernel/random/boot_id: start times compare only within one boot. */
    bootId: Type.String({ minLength: 1 }),
    /** The job's SIGTERM → SIGKILL grace when it was started. */
    killTimeoutMs: Type.Integer({ minimum: 0 }),
    /** Absent while the process is being spawned. */
    process: Type.Optional(ProcessSchema),
  },
  { additionalProperties: false },
);
export type AllocRecord = Static<typeof AllocRecordSchema>;

/** A record file that could not be read whole, and what was recovered from it. */
export interface DamagedRecord {
  readonly path: string;
  readonly error: string;
  /** The allocation it was about, from its file name: enough to find its processes by their environment. */
  readonly allocId?: string;
}

export type ParsedRecord = { readonly record: AllocRecord } | { readonly error: string; readonly allocId?: string };

/** Parses one record file's text; `fileName` (`<allocId>.json`) must agree with what it says. */
export function parseRecord(text: string, fileName: string): ParsedRecord {
  const named = fileName.endsWith('.json') ? fileName.slice(0, -'.json'.length) : '';
  const allocId = new RegExp(ALLOC_ID).test(named) ? named : undefined;
  const recovered = allocId ? { allocId } : {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}`, ...recovered };
  }
  const issues = check(AllocRecordSchema, value);
  if (issues.length) {
    return { error: `not a record: ${issues.map(formatIssue).join('; ')}`, ...recovered };
  }
  const record = value as AllocRecord;
  if (record.allocId !== allocId) return { error: `it says allocation ${record.allocId}, its file name another`, ...recovered };
  return { record };
}

/** The directory of records; every method is synchronous, so a record is on disk before the next line runs. */
export class RecordDir {
  #made = false;

  constructor(readonly dir: string) {}

  /** Writes `record` durably, replacing the allocation's previous record. Throws when it cannot. */
  write(record: AllocRecord): void {
    if (!this.#made) {
      mkdirSync(this.dir, { recursive: true });
      this.#made = true;
    }
    const path = this.path(record.allocId);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.#syncDir();
  }

  /** Forgets an allocation whose processes are all gone. A record left behind would only be found stale. */
  remove(allocId: string): void {
    try {
      unlinkSync(this.path(allocId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /**
   * Every record there. Leftover temporary files are removed: a process is only
   * spawned after its record's rename, so a temporary file never describes one
   * that the record does not.
   */
  load(): { records: AllocRecord[]; damaged: DamagedRecord[] } {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], damaged: [] };
      return { records: [], damaged: [{ path: this.dir, error: `cannot list the records: ${(err as Error).message}` }] };
    }
    const records: AllocRecord[] = [];
    const damaged: DamagedRecord[] = [];
    for (const name of names.sort()) {
      const path = join(this.dir, name);
      if (name.endsWith('.json.tmp')) {
        this.#unlinkQuietly(path);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        damaged.push({ path, error: `cannot read it: ${(err as Error).message}`, ...allocIdOf(parseRecord('', name)) });
        continue;
      }
      const parsed = parseRecord(text, name);
      if ('record' in parsed) records.push(parsed.record);
      else damaged.push({ path, error: parsed.error, ...allocIdOf(parsed) });
    }
    return { records, damaged };
  }

  /** Moves a damaged record aside (`<file>.damaged`) once it has been dealt with, so it is reported once. */
  setAside(path: string): void {
    try {
      renameSync(path, `${path}.damaged`);
    } catch {
      // Reported already; it will be reported again at the next start.
    }
  }

  path(allocId: string): string {
    return join(this.dir, `${allocId}.json`);
  }

  #syncDir(): void {
    // The rename is durable once the directory is: without this a power cut could lose it.
    let fd: number | undefined;
    try {
      fd = openSync(this.dir, 'r');
      fsyncSync(fd);
    } catch {
      // Some file systems refuse fsync on a directory; the rename stands for a crash of the agent alone.
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  #unlinkQuietly(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // Gone already.
    }
  }
}

function allocIdOf(parsed: ParsedRecord): { allocId?: string } {
  return 'allocId' in parsed && parsed.allocId ? { allocId: parsed.allocId } : {};
}
