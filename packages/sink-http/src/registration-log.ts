// The registrations, durable: a snapshot and an append-only log of changes after it,
// in <dataDir>/<name>-registrations/ as <gen>.snapshot and <gen>.log (log-record.ts
// says what a line is). A write costs one appended line, whatever the number of
// registrations; the writes waiting in one turn go out together, with one fdatasync.
//
// Compaction, when the log outgrows the live state: a new log <gen+1>.log is created
// (and the directory synced), then appends go there while <gen+1>.snapshot is written
// from the state at that moment (temp file, fsync, rename, directory fsync); only then
// are older files removed. Loading takes the newest snapshot and every log of its
// generation or later, in order: a kill -9 at any step leaves either the old snapshot
// with its logs or the new one, each holding every record acknowledged.
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@signpost/core';
import { DirLock } from './dir-lock.js';
import { fileName, GEN, loadDir, type LoadReport } from './load-log.js';
import { applyRecord, encodeHeader, encodeRecord, recordKey, tableRecords, type LogRecord, type Registration, type Tables } from './log-record.js';

export type { LoadReport } from './load-log.js';

export type FsyncMode = 'always' | 'never';
/** The steps of a compaction, for tests that stop it at each (as a crash would). */
export type CompactionStep = 'log-created' | 'switched' | 'snapshot-written' | 'snapshot-renamed' | 'done';

export interface RegistrationLogOptions {
  /** The directory of the snapshot and logs (created if missing). */
  readonly dir: string;
  /** The file registrations were kept in before the log: loaded once if the directory holds nothing, then removed. */
  readonly legacyFile?: string;
  /** `always` (default): a write is acknowledged once fdatasync says it is on disk; `never`: once written to the OS. */
  readonly fsync?: FsyncMode;
  readonly logger: Logger;
  /** The log is compacted once it is past both this and twice the live state (default 4 MiB). */
  readonly compactMinBytes?: number;
  readonly onCompactionStep?: (step: CompactionStep) => void | Promise<void>;
  /** Why a saved registration cannot be published, checked at open: such ones are left out and kept aside. */
  readonly validate?: (reg: Registration) => string | undefined;
}

export interface LogStats {
  /** Records appended since open. */
  readonly records: number;
  /** Appends (each a group of records, written together). */
  readonly writes: number;
  readonly fsyncs: number;
  readonly compactions: number;
  /** The current log's size, and what a snapshot of the live registrations takes. */
  readonly logBytes: number;
  readonly liveBytes: number;
  readonly generation: number;
}

const DEFAULT_COMPACT_MIN_BYTES = 4 * 2 ** 20;
const SNAPSHOT_CHUNK = 1000;

interface Batch {
  readonly buffers: Buffer[];
  bytes: number;
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  // A batch nobody waits on (the reaper's, at stop) must not be an unhandled rejection.
  done.catch(() => undefined);
  return { buffers: [], bytes: 0, done, resolve, reject };
}

export class RegistrationLog {
  readonly #dir: string;
  readonly #opts: RegistrationLogOptions;
  readonly #sizes: Map<string, number>;
  #liveBytes = 0;
  #handle: FileHandle | undefined;
  #gen: number;
  #logBytes = 0;
  #pending = newBatch();
  /** The last group taken for appending: `sync()` with nothing queued answers for it. */
  #last: Batch | undefined;
  #drain: Promise<void> | undefined;
  #draining = false;
  #scheduled = false;
  #compacting: Promise<void> | undefined;
  #compactRequested = false;
  #retryAt = 0;
  /** Set when an append failed: the next one first rewrites the whole state to a new generation. */
  #broken: unknown;
  #closed = false;
  /** The legacy file was migrated at open: removed once the first snapshot is durable. */
  #legacyPending = false;
  #lock: DirLock | undefined;
  #stats = { records: 0, writes: 0, fsyncs: 0, compactions: 0 };

  private constructor(
    opts: RegistrationLogOptions,
    readonly tables: Tables,
    sizes: Map<string, number>,
    gen: number,
    readonly report: LoadReport,
  ) {
    this.#opts = opts;
    this.#dir = opts.dir;
    this.#sizes = sizes;
    for (const n of sizes.values()) this.#liveBytes += n;
    this.#gen = gen;
  }

  /** Loads what the directory (or the legacy file) holds, reports damage, and opens the log for appends. */
  static async open(opts: RegistrationLogOptions): Promise<RegistrationLog> {
    const { dir, logger } = opts;
    await mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => Promise.reject(new Error(`${dir}: cannot create the registrations directory (${err.code ?? err.message})`, { cause: err })));
    const lock = await DirLock.acquire(dir, logger);
    let log: RegistrationLog | undefined;
    try {
      const { tables, sizes, base, live, repair, report } = await loadDir(opts);
      log = new RegistrationLog(opts, tables, sizes, Math.max(base, ...live), report);
      log.#lock = lock;
      log.#legacyPending = report.migrated !== undefined;
      await log.#removeBefore(base);
      if (repair) await log.#rotate(true);
      else await log.#openLog(live.length ? 'a' : 'ax');
    } catch (err) {
      if (log) await log.#handle?.close().catch(() => undefined);
      await lock.release();
      throw err;
    }
    const report = log.report;
    if (report.migrated) logger.info({ from: report.migrated.from, to: dir, registrations: report.migrated.registrations }, 'moved the registrations to the log');
    return log;
  }

  stats(): LogStats {
    return { ...this.#stats, logBytes: this.#logBytes, liveBytes: this.#liveBytes, generation: this.#gen };
  }

  /**
   * Applies a change to `tables` and queues its record. Settles once the record is
   * durable (with `fsync: never`, written to the OS), or rejects if its append failed.
   */
  write(record: LogRecord): Promise<void> {
    if (this.#closed) throw new Error('the registrations log is closed');
    applyRecord(this.tables, record);
    const line = encodeRecord(record);
    const key = recordKey(record);
    this.#liveBytes -= this.#sizes.get(key) ?? 0;
    if (record.op === 'set') {
      this.#sizes.set(key, line.length);
      this.#liveBytes += line.length;
    } else this.#sizes.delete(key);
    this.#pending.buffers.push(line);
    this.#pending.bytes += line.length;
    this.#stats.records++;
    this.#kick();
    return this.#pending.done;
  }

  /** Settles once every record written so far is durable (rejects if the last append failed). */
  sync(): Promise<void> {
    if (this.#pending.buffers.length) return this.#pending.done;
    return this.#last?.done ?? Promise.resolve();
  }

  /** Compacts now (tests; it also happens by itself as the log grows); settles once the new snapshot is durable. */
  async compact(): Promise<void> {
    this.#compactRequested = true;
    this.#kick();
    await this.#idle();
    await this.#compacting;
  }

  /** Appends what is queued, waits for a compaction under way, and closes the log. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#idle();
    await this.#compacting;
    try {
      await this.#handle?.close();
      this.#handle = undefined;
    } finally {
      await this.#lock?.release();
    }
  }

  /** Starts the appender at the end of this turn: whatever else is written in this turn goes in the same append. */
  #kick(): void {
    if (this.#draining || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#draining) this.#drain = this.#drainAll();
    });
  }

  async #idle(): Promise<void> {
    while (this.#draining || this.#scheduled) await (this.#draining ? this.#drain : new Promise((r) => setImmediate(r)));
  }

  /** The only writer of the log: appends the queued records, one group at a time, and starts compactions between them. */
  async #drainAll(): Promise<void> {
    // Cleared in the same turn as the last look for more (no await between them), so that
    // a write made by the continuation of one just answered starts the appender again.
    this.#draining = true;
    try {
      while (this.#pending.buffers.length || this.#compactRequested) {
        const broken = this.#broken !== undefined && this.#pending.buffers.length > 0;
        if (broken || this.#compactRequested || (!this.#compacting && this.#logBytes >= this.#compactAt())) {
          this.#compactRequested = false;
          try {
            await this.#rotate(broken);
            this.#broken = undefined;
          } catch (err) {
            this.#opts.logger.error({ err, dir: this.#dir }, 'could not compact the registrations log');
            // Not again before the log has grown as much once more.
            this.#retryAt = this.#logBytes + this.#minBytes();
            if (broken) {
              // Nothing can be appended to a log whose last append failed: these fail too.
              this.#fail(err);
              continue;
            }
          }
        }
        if (!this.#pending.buffers.length) continue;
        const batch = this.#pending;
        this.#pending = newBatch();
        this.#last = batch;
        try {
          await writeAll(this.#handle!, batch.buffers.length === 1 ? batch.buffers[0]! : Buffer.concat(batch.buffers, batch.bytes));
          this.#logBytes += batch.bytes;
          this.#stats.writes++;
          if ((this.#opts.fsync ?? 'always') === 'always') {
            await this.#handle!.datasync();
            this.#stats.fsyncs++;
          }
          batch.resolve();
        } catch (err) {
          this.#broken = err;
          this.#opts.logger.error({ err, dir: this.#dir, records: batch.buffers.length }, 'could not append to the registrations log; the next write rewrites the registrations to a new log first');
          batch.reject(err);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  #fail(err: unknown): void {
    const batch = this.#pending;
    this.#pending = newBatch();
    this.#last = batch;
    batch.reject(err);
  }

  /** The log size a compaction starts at: past both the minimum and twice what a snapshot takes. */
  #compactAt(): number {
    return Math.max(this.#retryAt, this.#minBytes(), 2 * this.#liveBytes);
  }

  #minBytes(): number {
    return this.#opts.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES;
  }

  /**
   * Starts a new generation: its log first, then (in the background, unless `wait`)
   * its snapshot of the state at the switch. `wait` for a log that cannot be
   * appended to (at start after damage, or after a failed append).
   */
  async #rotate(wait: boolean): Promise<void> {
    await this.#compacting;
    const gen = this.#gen + 1;
    const handle = await open(join(this.#dir, fileName(gen, 'log')), 'ax');
    try {
      await syncDir(this.#dir);
      await this.#step('log-created');
    } catch (err) {
      await handle.close();
      await unlink(join(this.#dir, fileName(gen, 'log'))).catch(() => undefined);
      throw err;
    }
    // From here on appends go to the new log; the snapshot is the state at this instant.
    const records = tableRecords(this.tables);
    const old = this.#handle;
    this.#handle = handle;
    this.#gen = gen;
    this.#logBytes = 0;
    this.#retryAt = 0;
    await old?.close().catch(() => undefined);
    const run = this.#snapshot(gen, records);
    if (wait) return run;
    const tracked: Promise<void> = run
      .catch((err: unknown) => this.#opts.logger.error({ err, dir: this.#dir }, 'could not write a snapshot of the registrations; the logs keep them meanwhile'))
      .finally(() => {
        if (this.#compacting === tracked) this.#compacting = undefined;
      });
    this.#compacting = tracked;
  }

  async #snapshot(gen: number, records: LogRecord[]): Promise<void> {
    await this.#step('switched');
    const path = join(this.#dir, fileName(gen, 'snapshot'));
    const handle = await open(`${path}.tmp`, 'w');
    try {
      // The header says how many records follow: an empty or cut snapshot is damage, never an empty state.
      await writeAll(handle, encodeHeader({ snapshot: gen, records: records.length }));
      for (let n = 0; n < records.length; n += SNAPSHOT_CHUNK) await writeAll(handle, Buffer.concat(records.slice(n, n + SNAPSHOT_CHUNK).map(encodeRecord)));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.#step('snapshot-written');
    await rename(`${path}.tmp`, path);
    await syncDir(this.#dir);
    await this.#step('snapshot-renamed');
    await this.#removeBefore(gen);
    this.#stats.compactions++;
    await this.#step('done');
  }

  async #step(step: CompactionStep): Promise<void> {
    await this.#opts.onCompactionStep?.(step);
  }

  /** Removes the files of generations before `gen` (a durable snapshot holds them), and a legacy file migrated into it. */
  async #removeBefore(gen: number): Promise<void> {
    for (const name of await readdir(this.#dir)) {
      const m = GEN.exec(name);
      if (m && Number(m[1]) < gen) await unlink(join(this.#dir, name));
    }
    const legacyFile = this.#opts.legacyFile;
    if (!gen || !this.#legacyPending || !legacyFile) return;
    await unlink(legacyFile).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    this.#legacyPending = false;
  }

  async #openLog(flags: 'a' | 'ax'): Promise<void> {
    if (this.#gen === 0) this.#gen = 1;
    const path = join(this.#dir, fileName(this.#gen, 'log'));
    this.#handle = await open(path, flags);
    this.#logBytes = (await this.#handle.stat()).size;
    if (flags === 'ax') await syncDir(this.#dir);
  }
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  for (let done = 0; done < buf.length; ) done += (await handle.write(buf, done, buf.length - done)).bytesWritten;
}

/** Makes a directory's entries (a created or renamed file) durable; where directories cannot be synced, nothing. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EBADF'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle.close();
  }
}
