import { existsSync } from 'node:fs';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger, tempDir } from '@signpost/testing';
import { RegistrationLog } from './registration-log.js';

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
});
