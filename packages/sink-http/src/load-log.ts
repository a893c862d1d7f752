// Loading the registrations directory at start: the newest snapshot and the logs after
// it, replayed in order; damage reported (error, with the file, offset and what was
// recovered) and a copy of every damaged file kept; what the state goes on from.
import { copyFile, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@signpost/core';
import { readLegacy } from './legacy-file.js';
import { decodeRecords, emptyTables, encodeRecord, replay, type Damage, type Decoded, type Tables } from './log-record.js';

/** What loading found, file by file. */
export interface LoadReport {
  readonly files: ReadonlyArray<{ readonly path: string; readonly records: number; readonly damaged: readonly Damage[]; readonly torn?: Damage; readonly keptAs?: string }>;
  readonly migrated?: { readonly from: string; readonly registrations: number };
  readonly registrations: number;
}

export interface LoadOptions {
  readonly dir: string;
  readonly legacyFile?: string;
  readonly logger: Logger;
}

export interface Loaded {
  readonly tables: Tables;
  /** The encoded size of each key's live record. */
  readonly sizes: Map<string, number>;
  /** The newest snapshot's generation (0: none), and the logs from it on. */
  readonly base: number;
  readonly live: readonly number[];
  /** The state must go on in a new generation (damage, a torn tail, an unfinished compaction, a migration). */
  readonly repair: boolean;
  readonly report: LoadReport;
}

export const GEN = /^(\d{10})\.(snapshot|log)$/;
/** The temp file of a snapshot being written: the only temp files this log makes. */
export const SNAPSHOT_TMP = /^\d{10}\.snapshot\.tmp$/;
export const fileName = (gen: number, kind: 'snapshot' | 'log'): string => `${String(gen).padStart(10, '0')}.${kind}`;

export async function loadDir(opts: LoadOptions): Promise<Loaded> {
  const { dir, logger } = opts;
  const snapshots: number[] = [];
  const logs: number[] = [];
  for (const name of await readdir(dir)) {
    const m = GEN.exec(name);
    if (m) (m[2] === 'snapshot' ? snapshots : logs).push(Number(m[1]));
    else if (SNAPSHOT_TMP.test(name)) await unlink(join(dir, name)); // a snapshot a crash left unfinished
  }
  snapshots.sort((a, b) => a - b);
  logs.sort((a, b) => a - b);
  const tables = emptyTables();
  const sizes = new Map<string, number>();
  const files: Array<LoadReport['files'][number]> = [];
  let migrated: LoadReport['migrated'];
  let repair = false;

  const legacy = opts.legacyFile ? await readLegacy(opts.legacyFile) : undefined;
  // Migrated once a snapshot exists (it is written, durably, before the old file goes); a log
  // without one is at most an empty log a crash left in the middle of the migration.
  if (legacy && snapshots.length === 0) {
    for (const r of legacy) replay([{ record: r, line: 0, offset: 0, bytes: encodeRecord(r).length }], tables, sizes);
    migrated = { from: opts.legacyFile!, registrations: legacy.length };
    repair = true; // written as the first snapshot, then the old file goes
  }
  const base = snapshots.at(-1) ?? 0;
  const read = async (gen: number, kind: 'snapshot' | 'log'): Promise<void> => {
    const path = join(dir, fileName(gen, kind));
    const found = decodeRecords(await readFile(path));
    // A snapshot is renamed into place whole: anything wrong in it is damage, never a torn append.
    const decoded: Decoded = kind === 'snapshot' && found.torn ? { ...found, damaged: [...found.damaged, found.torn], torn: undefined } : found;
    replay(decoded.records, tables, sizes);
    let keptAs: string | undefined;
    if (decoded.torn) {
      repair = true;
      // Cheap insurance: the file as it was, in case the tail was not what it looks like.
      keptAs = `${path}.torn-${Date.now()}`;
      await copyFile(path, keptAs);
      logger.warn(
        { path, offset: decoded.torn.offset, bytes: decoded.torn.bytes, reason: decoded.torn.reason, recovered: decoded.records.length, keptAs },
        'dropped an unterminated record at the end of the registrations log; if the process was killed mid-write, this record was never acknowledged (a copy of the file was kept)',
      );
    }
    if (decoded.damaged.length) {
      repair = true;
      keptAs = `${path}.damaged-${Date.now()}`;
      await copyFile(path, keptAs);
      for (const d of decoded.damaged) {
        const before = decoded.records.filter((r) => r.offset < d.offset).length;
        logger.error(
          { path, line: d.line, offset: d.offset, bytes: d.bytes, reason: d.reason, recoveredBefore: before, recoveredAfter: decoded.records.length - before, keptAs },
          'skipped a damaged record in the registrations log; the records before and after it were recovered, and a copy of the damaged file was kept',
        );
      }
    }
    files.push({ path, records: decoded.records.length, damaged: decoded.damaged, ...(decoded.torn ? { torn: decoded.torn } : {}), ...(keptAs ? { keptAs } : {}) });
  };
  if (base) await read(base, 'snapshot');
  const live = logs.filter((g) => g >= base);
  for (const gen of live) await read(gen, 'log');
  // More than one log: a compaction did not finish; finish it now.
  if (live.length > 1) repair = true;
  const report: LoadReport = { files, ...(migrated ? { migrated } : {}), registrations: tables.agent.size + tables.catalog.size };
  return { tables, sizes, base, live, repair, report };
}
