import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger, tempDir } from '@signpost/testing';
import type { Registration } from './log-record.js';
import { RegistrationLog } from './registration-log.js';

const reg = (port: number): Registration => ({ instance: { service: 'web', id: 'web', port }, checks: [] });

const occurrences = (text: string, part: string): number => text.split(part).length - 1;

describe('registrations files that cannot be read at start', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let logDir: string;
  let legacyFile: string;
  beforeEach(async () => {
    dir = await tempDir();
    logDir = join(dir.path, 'http-registrations');
    legacyFile = join(dir.path, 'http-registrations.json');
    await mkdir(logDir);
  });
  afterEach(async () => dir.dispose());

  /** The start's error: it names `path` once, says what is wrong, and nothing was opened. */
  const refused = async (path: string, what: RegExp): Promise<void> => {
    const err = await RegistrationLog.open({ dir: logDir, legacyFile, logger: memoryLogger() }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(occurrences(err!.message, path)).toBe(1);
    expect(err!.message).toMatch(what);
  };

  it('names a log too large to read, without reading it', async () => {
    const path = join(logDir, '0000000001.log');
    await writeFile(path, '');
    await truncate(path, 3 * 2 ** 30); // sparse: nothing is written
    await refused(path, /3221225472 bytes, more than the 1073741824 bytes/);
  });

  it('names a directory where a log should be', async () => {
    await mkdir(join(logDir, '0000000002.log'));
    await refused(join(logDir, '0000000002.log'), /is a directory/);
  });

  it.each([
    ['null', /not null/],
    ['[]', /not an array/],
    ['{"agent":{}}', /"agent" must be an array/],
    ['{"catalog":7}', /"catalog" must be an array/],
  ])('names a legacy file holding %s, and leaves it there', async (text, what) => {
    await writeFile(legacyFile, text);
    await refused(legacyFile, what);
    expect(existsSync(legacyFile)).toBe(true);
  });

  describe('beside a snapshot', () => {
    const withSnapshot = async (): Promise<void> => {
      const log = await RegistrationLog.open({ dir: logDir, logger: memoryLogger() });
      await log.write({ op: 'set', kind: 'agent', id: 'a', reg: reg(1) });
      await log.compact();
      await log.close();
    };

    it('never deletes a legacy file unread: it is renamed aside, and what the log lacks is listed', async () => {
      await withSnapshot();
      const text = JSON.stringify({ agent: [['a', reg(1)], ['b', reg(2)]] });
      await writeFile(legacyFile, text);
      const logger = memoryLogger();
      const log = await RegistrationLog.open({ dir: logDir, legacyFile, logger });
      await log.close();
      expect([...log.tables.agent.keys()]).toEqual(['a']);
      const error = logger.lines.find((l) => l.level === 'error');
      expect(error).toMatchObject({ fields: { path: legacyFile, registrations: 2, notInLog: ['b'] } });
      expect(await readFile(error!.fields['keptAs'] as string, 'utf8')).toBe(text);
    });

    it('starts with a corrupt legacy file there, keeping it aside with an error', async () => {
      await withSnapshot();
      await writeFile(legacyFile, '{"agent": [');
      const logger = memoryLogger();
      const log = await RegistrationLog.open({ dir: logDir, legacyFile, logger });
      await log.close();
      expect([...log.tables.agent.keys()]).toEqual(['a']);
      const error = logger.lines.find((l) => l.level === 'error');
      expect(error).toMatchObject({ fields: { path: legacyFile, reason: expect.stringContaining(legacyFile) } });
      expect(await readFile(error!.fields['keptAs'] as string, 'utf8')).toBe('{"agent": [');
    });
  });

  it("removes only its own unfinished snapshot's temp file, no other .tmp", async () => {
    await writeFile(join(logDir, '0000000003.snapshot.tmp'), 'half');
    await writeFile(join(logDir, 'notes.tmp'), 'mine');
    await writeFile(join(logDir, '0000000001.log.tmp'), 'mine too');
    const log = await RegistrationLog.open({ dir: logDir, logger: memoryLogger() });
    await log.close();
    expect((await readdir(logDir)).filter((f) => f.endsWith('.tmp')).sort()).toEqual(['0000000001.log.tmp', 'notes.tmp']);
  });
});
