import { appendFile, cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger, tempDir } from '@signpost/testing';
import { encodeRecord, type LogRecord, type Registration } from './log-record.js';
import { RegistrationLog, type CompactionStep, type RegistrationLogOptions } from './registration-log.js';

const reg = (port: number): Registration => ({ instance: { service: 'web', id: 'web', port, tags: ['a', 'b'], meta: { pad: 'x'.repeat(100) } }, checks: [] });
const set = (id: string, port: number): LogRecord => ({ op: 'set', kind: 'agent', id, reg: reg(port) });
const ports = (log: RegistrationLog): Record<string, number> => Object.fromEntries([...log.tables.agent].map(([id, r]) => [id, r.instance.port!]));

describe('registrations log', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let logger: ReturnType<typeof memoryLogger>;
  const opened: RegistrationLog[] = [];
  const open = async (extra: Partial<RegistrationLogOptions> = {}, at = join(dir.path, 'http-registrations')): Promise<RegistrationLog> => {
    const log = await RegistrationLog.open({ dir: at, logger, ...extra });
    opened.push(log);
    return log;
  };
  const files = async (): Promise<string[]> => (await readdir(join(dir.path, 'http-registrations'))).filter((f) => f !== 'lock').sort();
  /** The files as a crash would leave them: the copy's lock is held by a process that is gone. */
  const crashCopy = async (to: string): Promise<void> => {
    await cp(dir.path, to, { recursive: true });
    await rm(join(to, 'http-registrations', 'lock'), { force: true });
  };

  beforeEach(async () => {
    dir = await tempDir();
    logger = memoryLogger();
  });
  afterEach(async () => {
    for (const log of opened.splice(0)) await log.close();
    await dir.dispose();
    await rm(`${dir.path}-crash`, { recursive: true, force: true });
  });

  it('keeps what was written across a reopen, one line a write', async () => {
    const log = await open();
    await log.write(set('a', 1));
    await log.write(set('b', 2));
    await log.write({ op: 'del', kind: 'agent', id: 'a' });
    await log.write({ op: 'set', kind: 'catalog', node: 'n2', id: 'db', reg: reg(5432) });
    expect(log.stats()).toMatchObject({ records: 4, writes: 4, fsyncs: 4 });
    await log.close();
    expect(await files()).toEqual(['0000000001.log']);
    expect((await readFile(join(dir.path, 'http-registrations', '0000000001.log'), 'utf8')).split('\n')).toHaveLength(5);
    const again = await open();
    expect(ports(again)).toEqual({ b: 2 });
    expect([...again.tables.catalog.keys()]).toEqual(['n2\u0000db']);
    expect(again.report).toMatchObject({ registrations: 2, files: [{ records: 4, damaged: [] }] });
    expect(logger.lines.filter((l) => l.level !== 'debug')).toEqual([]);
  });

  it('appends the writes of one turn together, made durable with one fsync (group commit)', async () => {
    const log = await open();
    const acks = Array.from({ length: 200 }, (_, n) => log.write(set(`s${n}`, n + 1)));
    await Promise.all(acks);
    expect(log.stats()).toMatchObject({ records: 200, writes: 1, fsyncs: 1 });
    // Writes arriving while an fsync is under way wait for it and go out together after it.
    const waves: Array<Promise<void>> = [];
    for (let wave = 0; wave < 20; wave++) {
      for (let n = 0; n < 10; n++) waves.push(log.write(set(`w${wave}-${n}`, n + 1)));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waves);
    const { fsyncs, writes, records } = log.stats();
    expect(records).toBe(400);
    expect(fsyncs).toBe(writes);
    expect(fsyncs).toBeLessThan(1 + 20);
  });

  it('with fsync: never, answers writes without fsync, and a reopen still has them', async () => {
    const log = await open({ fsync: 'never' });
    await Promise.all([log.write(set('a', 1)), log.write(set('b', 2))]);
    await log.write(set('c', 3));
    expect(log.stats()).toMatchObject({ records: 3, writes: 2, fsyncs: 0 });
    await log.close();
    expect(ports(await open())).toEqual({ a: 1, b: 2, c: 3 });
  });

  it('drops a torn last record with a warning naming the file and offset, keeps a copy and the rest, and repairs the file', async () => {
    const log = await open();
    await log.write(set('a', 1));
    await log.write(set('b', 2));
    await log.close();
    const file = join(dir.path, 'http-registrations', '0000000001.log');
    const size = (await stat(file)).size;
    await appendFile(file, encodeRecord(set('c', 3)).subarray(0, 40));
    const again = await open();
    expect(ports(again)).toEqual({ a: 1, b: 2 });
    const warning = logger.lines.find((l) => l.level === 'warn');
    expect(warning).toMatchObject({ msg: expect.stringMatching(/if the process was killed mid-write, this record was never acknowledged/), fields: { path: file, offset: size, bytes: 40, recovered: 2 } });
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
    // Rewritten to a new generation, so that new records do not follow the torn one; the file as it was is kept.
    const keptAs = warning!.fields['keptAs'] as string;
    expect((await readFile(keptAs)).length).toBe(size + 40);
    expect((await files()).filter((f) => !f.includes('.torn-'))).toEqual(['0000000002.log', '0000000002.snapshot']);
    await again.write(set('d', 4));
    await again.close();
    logger.lines.length = 0;
    expect(ports(await open())).toEqual({ a: 1, b: 2, d: 4 });
    expect(logger.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });

  it('reports a damaged record in the middle with the file, line, offset and what was recovered, and keeps every other record', async () => {
    const log = await open();
    for (const [id, port] of [['a', 1], ['b', 2], ['c', 3], ['d', 4]] as const) await log.write(set(id, port));
    await log.close();
    const file = join(dir.path, 'http-registrations', '0000000001.log');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const offset = Buffer.byteLength(`${lines[0]}\n${lines[1]}\n`);
    lines[2] = lines[2]!.replace('"port":3', '"port":9'); // a flipped byte: the checksum no longer matches
    await writeFile(file, lines.join('\n'));
    const again = await open();
    expect(ports(again)).toEqual({ a: 1, b: 2, d: 4 });
    const error = logger.lines.find((l) => l.level === 'error');
    expect(error).toMatchObject({ msg: expect.stringMatching(/damaged record/), fields: { path: file, line: 3, offset, reason: 'checksum mismatch', recoveredBefore: 2, recoveredAfter: 1 } });
    expect(again.report.files[0]).toMatchObject({ path: file, records: 3, damaged: [{ line: 3, offset, reason: 'checksum mismatch' }] });
    // The damaged file is kept for a look; the state goes on in a new generation.
    const keptAs = error!.fields['keptAs'] as string;
    expect(await readFile(keptAs, 'utf8')).toBe(lines.join('\n'));
    expect((await files()).filter((f) => !f.includes('damaged'))).toEqual(['0000000002.log', '0000000002.snapshot']);
    await again.close();
    logger.lines.length = 0;
    expect(ports(await open())).toEqual({ a: 1, b: 2, d: 4 });
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it.each<[string, (file: Buffer, last: number) => Buffer]>([
    ['its last bytes zeroed', (file) => Buffer.concat([file.subarray(0, file.length - 400), Buffer.alloc(400)])],
    ['a byte flipped in its last, whole record', (file, last) => Buffer.concat([file.subarray(0, last + 20), Buffer.from([file[last + 20]! ^ 1]), file.subarray(last + 21)])],
  ])('reports a log with %s as damage, with the path, offset and what was recovered, and keeps a copy', async (_what, damage) => {
    const log = await open();
    for (let n = 0; n < 10; n++) await log.write(set(`svc-${n}`, n + 1));
    await log.write({ op: 'del', kind: 'agent', id: 'svc-3' });
    await log.close();
    const file = join(dir.path, 'http-registrations', '0000000001.log');
    const before = await readFile(file);
    const last = before.lastIndexOf(0x0a, before.length - 2) + 1;
    const damaged = damage(before, last);
    await writeFile(file, damaged);
    const again = await open();
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
    const errors = logger.lines.filter((l) => l.level === 'error');
    expect(errors.length).toBeGreaterThan(0);
    const [first] = errors;
    expect(first).toMatchObject({ msg: expect.stringMatching(/damaged/), fields: { path: file, offset: expect.any(Number), recoveredBefore: again.report.files[0]!.records, recoveredAfter: 0 } });
    expect(first!.fields['offset']).toBeLessThanOrEqual(last);
    expect(await readFile(first!.fields['keptAs'] as string)).toEqual(damaged);
  });

  it.each<[string, (snapshot: string) => Promise<void>, RegExp]>([
    ['deleted', (snapshot) => rm(snapshot), /missing, and no older generation/],
    ['emptied', (snapshot) => writeFile(snapshot, ''), /empty/],
    ['cut after its second record', async (snapshot) => writeFile(snapshot, (await readFile(snapshot, 'utf8')).split('\n').slice(0, 3).join('\n') + '\n'), /holds 2 of the 3 records/],
  ])('reports a snapshot %s as damage with its path and what was recovered, never silently', async (_what, damage, reason) => {
    const log = await open();
    for (const [id, port] of [['a', 1], ['b', 2], ['c', 3]] as const) await log.write(set(id, port));
    await log.compact();
    await log.write(set('d', 4));
    await log.close();
    expect(await files()).toEqual(['0000000002.log', '0000000002.snapshot']);
    const snapshot = join(dir.path, 'http-registrations', '0000000002.snapshot');
    await damage(snapshot);
    const again = await open();
    const error = logger.lines.find((l) => l.level === 'error' && l.fields['path'] === snapshot);
    expect(error).toMatchObject({ msg: expect.stringMatching(/snapshot/), fields: { reason: expect.stringMatching(reason), recovered: again.report.registrations } });
    expect(ports(again)).toMatchObject({ d: 4 });
  });

  it('reads a snapshot with no registrations in it as the empty state, without a word', async () => {
    const log = await open();
    await log.write(set('a', 1));
    await log.write({ op: 'del', kind: 'agent', id: 'a' });
    await log.compact();
    await log.close();
    expect(ports(await open())).toEqual({});
    expect(logger.lines.filter((l) => l.level !== 'debug' && l.level !== 'info')).toEqual([]);
  });

  it('compacts once the log outgrows the live registrations, into one snapshot and a new log', async () => {
    const log = await open({ compactMinBytes: 4096 });
    for (let round = 0; round < 30; round++) await Promise.all(Array.from({ length: 5 }, (_, n) => log.write(set(`s${n}`, round * 10 + n + 1))));
    await log.write({ op: 'del', kind: 'agent', id: 's4' });
    await log.sync();
    await log.close();
    expect(log.stats().compactions).toBeGreaterThan(0);
    const names = await files();
    expect(names.filter((f) => f.endsWith('.snapshot'))).toHaveLength(1);
    expect(names.filter((f) => f.endsWith('.log'))).toHaveLength(1);
    const again = await open();
    expect(ports(again)).toEqual({ s0: 291, s1: 292, s2: 293, s3: 294 });
    // The log holds only what came after the last switch (how much depends on how long the snapshot took meanwhile).
    expect(again.stats().logBytes).toBeLessThan(151 * encodeRecord(set('s0', 1)).length);
  });

  // A crash is the files as they are at that instant: the directory is copied there, and
  // the copy opened. Whatever was acknowledged before must be in it, and nothing damaged.
  it.each<CompactionStep>(['log-created', 'switched', 'snapshot-written', 'snapshot-renamed', 'done'])('loses nothing acknowledged when a crash stops a compaction at %s', async (at) => {
    const crash = `${dir.path}-crash`;
    const acked = new Map<string, number | undefined>();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let stopped!: () => void;
    const reached = new Promise<void>((r) => (stopped = r));
    const log = await open({ onCompactionStep: async (step) => {
      if (step !== at) return;
      stopped();
      await held;
    } });
    const write = async (r: LogRecord): Promise<void> => {
      await log.write(r);
      acked.set(r.id, r.op === 'set' ? r.reg.instance.port : undefined);
    };
    for (let n = 0; n < 20; n++) await write(set(`before-${n % 8}`, n + 1));
    await write({ op: 'del', kind: 'agent', id: 'before-3' });
    const compaction = log.compact();
    await reached;
    // Past the switch, writes go on into the new log while the snapshot is written.
    if (at !== 'log-created') for (let n = 0; n < 10; n++) await write(set(`during-${n % 4}`, n + 100));
    await crashCopy(crash);
    release();
    await compaction;
    const after = await open({}, join(crash, 'http-registrations'));
    expect(after.report.files.flatMap((f) => [...f.damaged, ...(f.torn ? [f.torn] : [])])).toEqual([]);
    for (const [id, port] of acked) expect([id, after.tables.agent.get(id)?.instance.port]).toEqual([id, port]);
  });

  it('moves the registrations file of earlier versions into the log once, then removes it', async () => {
    const legacyFile = join(dir.path, 'http-registrations.json');
    const catalogReg: Registration = { instance: { service: 'db', id: 'db', node: 'n2', port: 5432 }, checks: [] };
    await writeFile(legacyFile, JSON.stringify({ agent: [['web', reg(80)], ['api', reg(81)]], catalog: [['n2\u0000db', catalogReg]] }));
    const log = await open({ legacyFile });
    expect(ports(log)).toEqual({ web: 80, api: 81 });
    expect(log.tables.catalog.get('n2\u0000db')).toEqual(catalogReg);
    expect(log.report.migrated).toEqual({ from: legacyFile, registrations: 3 });
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'info', fields: expect.objectContaining({ from: legacyFile, registrations: 3 }) }));
    expect(existsSync(legacyFile)).toBe(false);
    await log.write(set('web', 8080));
    await log.close();
    const again = await open({ legacyFile });
    expect(again.report.migrated).toBeUndefined();
    expect(ports(again)).toEqual({ web: 8080, api: 81 });
  });

  it('migrates again after a crash in the middle of the migration, and not once the snapshot is there', async () => {
    const legacyFile = join(dir.path, 'http-registrations.json');
    await writeFile(legacyFile, JSON.stringify({ agent: [['web', reg(80)]] }));
    const crash = `${dir.path}-crash`;
    // Stopped after the new log exists and before the snapshot does: the old file is still the state.
    const first = open({ legacyFile, onCompactionStep: async (step) => void (step === 'switched' && (await crashCopy(crash))) });
    await (await first).close();
    expect(await readdir(join(crash, 'http-registrations'))).toEqual(['0000000001.log']);
    const log = await open({ legacyFile: join(crash, 'http-registrations.json') }, join(crash, 'http-registrations'));
    expect(log.report.migrated).toBeDefined();
    expect(ports(log)).toEqual({ web: 80 });
  });

  it('refuses a registrations file of earlier versions it cannot read, naming it', async () => {
    const legacyFile = join(dir.path, 'http-registrations.json');
    await writeFile(legacyFile, '{"agent": [');
    await expect(open({ legacyFile })).rejects.toThrow(legacyFile);
    expect(existsSync(legacyFile)).toBe(true);
  });
});
