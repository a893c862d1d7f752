// Loading the registrations directory at start: the newest snapshot and the logs after
// it, replayed in order; damage reported (error, with the file, offset and what was
// recovered) and a copy of every damaged file kept; what the state goes on from.
import { copyFile, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@signpost/core';
import { readLegacy } from './legacy-file.js';
import { catalogKey, decodeRecords, emptyTables, encodeRecord, recordKey, replay, tableRecords, type Damage, type Decoded, type Registration, type Tables } from './log-record.js';
import { readBounded } from './read-bounded.js';

/** What loading found, file by file. */
export interface LoadReport {
  readonly files: ReadonlyArray<{ readonly path: string; readonly records: number; readonly damaged: readonly Damage[]; readonly torn?: Damage; readonly keptAs?: string }>;
  readonly migrated?: { readonly from: string; readonly registrations: number };
  readonly registrations: number;
  /** Registrations that could not be published, left out and kept in `keptAs`. */
  readonly rejected?: { readonly keptAs: string; readonly entries: ReadonlyArray<{ readonly id: string; readonly file: string; readonly reason: string }> };
}

export interface LoadOptions {
  readonly dir: string;
  readonly legacyFile?: string;
  readonly logger: Logger;
  /** Why a registration could not be published (it is then left out, and kept aside), or undefined. */
  readonly validate?: (reg: Registration) => string | undefined;
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
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => Promise.reject(new Error(`${dir}: cannot list the registrations directory (${err.code ?? err.message})`, { cause: err })));
  for (const name of names) {
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
  /** Where each live registration was read from. */
  const origins = new Map<string, string>();
  const aside: Array<{ id: string; file: string; reason: string; entry: unknown }> = [];

  // Next to a snapshot, the legacy file was migrated already (a crash came before its removal) or put back by hand: set aside below.
  const legacy = opts.legacyFile && snapshots.length === 0 ? await readLegacy(opts.legacyFile) : undefined;
  // Migrated once a snapshot exists (it is written, durably, before the old file goes); a log
  // without one is at most an empty log a crash left in the middle of the migration.
  if (legacy && snapshots.length === 0) {
    for (const r of legacy.records) {
      replay([{ record: r, line: 0, offset: 0, bytes: encodeRecord(r).length }], tables, sizes);
      origins.set(recordKey(r), opts.legacyFile!);
    }
    for (const r of legacy.rejected) aside.push({ ...r, file: opts.legacyFile! });
    migrated = { from: opts.legacyFile!, registrations: legacy.records.length };
    repair = true; // written as the first snapshot, then the old file goes
  }
  const base = snapshots.at(-1) ?? 0;
  const read = async (gen: number, kind: 'snapshot' | 'log'): Promise<void> => {
    const path = join(dir, fileName(gen, kind));
    const bytes = (await readBounded(path))!;
    const size = bytes.length;
    const found = decodeRecords(bytes);
    // A snapshot is renamed into place whole: anything wrong in it is damage, never a torn append.
    const decoded: Decoded = kind === 'snapshot' && found.torn ? { ...found, damaged: [...found.damaged, found.torn], torn: undefined } : found;
    replay(decoded.records, tables, sizes);
    for (const { record } of decoded.records) if (record.op === 'set') origins.set(recordKey(record), path);
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
    if (kind === 'snapshot') {
      const problem = snapshotProblem(decoded, size);
      if (problem) missing.push({ path, reason: problem, ...(keptAs ? { keptAs } : {}) });
    }
  };
  const missing: Array<{ path: string; reason: string; keptAs?: string }> = [];
  if (base) await read(base, 'snapshot');
  const live = logs.filter((g) => g >= base);
  // The first log is generation 1; each later one starts from its snapshot or follows the one before it.
  let expected = base || 1;
  for (const gen of live) {
    if (gen > expected) {
      const reason = `missing, and no older generation to replay from (no ${fileName(expected, 'log')}): what was registered before ${fileName(gen, 'log')} is lost`;
      missing.push({ path: join(dir, fileName(gen, 'snapshot')), reason });
    }
    expected = gen + 1;
    await read(gen, 'log');
  }
  for (const m of missing) {
    repair = true;
    logger.error({ ...m, recovered: tables.agent.size + tables.catalog.size }, 'a snapshot of the registrations is missing or damaged; started from what the files left hold');
  }
  // More than one log: a compaction did not finish; finish it now.
  if (live.length > 1) repair = true;
  if (opts.legacyFile && snapshots.length) await setLegacyAside(opts.legacyFile, tables, logger);
  if (opts.validate) {
    for (const r of tableRecords(tables)) {
      if (r.op !== 'set') continue;
      const reason = opts.validate(r.reg);
      if (reason === undefined) continue;
      const key = recordKey(r);
      aside.push({ id: r.id, file: origins.get(key) ?? dir, reason, entry: r });
      (r.kind === 'agent' ? tables.agent : tables.catalog).delete(r.kind === 'agent' ? r.id : catalogKey(r.node, r.id));
      sizes.delete(key);
    }
  }
  let rejected: LoadReport['rejected'];
  if (aside.length) {
    // Kept before the snapshot without them is written: nothing is destroyed.
    repair = true;
    const keptAs = join(dir, `rejected-${Date.now()}.jsonl`);
    await writeDurably(keptAs, aside.map((a) => `${JSON.stringify({ id: a.id, from: a.file, reason: a.reason, entry: a.entry })}\n`).join(''));
    for (const a of aside) logger.error({ id: a.id, file: a.file, reason: a.reason, keptAs }, 'left out a saved registration that cannot be published; it is kept aside');
    rejected = { keptAs, entries: aside.map(({ id, file, reason }) => ({ id, file, reason })) };
  }
  const report: LoadReport = { files, ...(migrated ? { migrated } : {}), registrations: tables.agent.size + tables.catalog.size, ...(rejected ? { rejected } : {}) };
  return { tables, sizes, base, live, repair, report };
}

/** Why a snapshot does not hold the state it was written with, if it does not. */
function snapshotProblem(decoded: Decoded, size: number): string | undefined {
  if (size === 0) return 'empty: a snapshot holds at least its header line';
  // Written before snapshots had a header: whole if it decoded without damage.
  if (!decoded.header) return decoded.records.length ? undefined : 'no record in it could be read';
  if (decoded.header.records !== decoded.records.length) return `holds ${decoded.records.length} of the ${decoded.header.records} records it was written with`;
  return undefined;
}

async function writeDurably(path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A legacy file beside a snapshot: never loaded over the log's state (it would bring back
 * what was deregistered since), never deleted unread. It is renamed aside, and what it holds
 * that the state does not is logged.
 */
async function setLegacyAside(file: string, tables: Tables, logger: Logger): Promise<void> {
  let legacy: Awaited<ReturnType<typeof readLegacy>>;
  let unreadable: string | undefined;
  try {
    legacy = await readLegacy(file);
    if (!legacy) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    unreadable = (err as Error).message;
  }
  const keptAs = `${file}.kept-${Date.now()}`;
  await rename(file, keptAs);
  const notInLog = (legacy?.records ?? []).filter((r) => r.op === 'set' && !(r.kind === 'agent' ? tables.agent.has(r.id) : tables.catalog.has(catalogKey(r.node, r.id)))).map((r) => r.id);
  const fields = { path: file, keptAs, registrations: legacy?.records.length ?? 0, notInLog, ...(unreadable ? { reason: unreadable } : {}) };
  if (unreadable || notInLog.length) logger.error(fields, 'the registrations file of an earlier version is beside a snapshot: not loaded over the log, renamed aside; what it holds that the log does not is listed');
  else logger.warn(fields, 'the registrations file of an earlier version is beside a snapshot that holds it already: renamed aside');
}
