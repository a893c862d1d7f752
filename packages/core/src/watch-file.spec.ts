import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchFile, type FileRead } from './watch-file.js';

describe('watchFile', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const until = async (predicate: () => boolean): Promise<void> => {
    const end = Date.now() + 3000;
    while (!predicate()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('reads now, after each settled change, after a replace by rename, and says when the file is gone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'watch-'));
    const file = join(dir, 'jobs.yaml');
    await writeFile(file, 'one');
    const reads: FileRead[] = [];
    const sub = watchFile(file, 20).subscribe((r) => reads.push(r));
    await until(() => reads.length === 1);
    expect(reads[0]).toEqual({ text: 'one' });
    for (let n = 0; n < 10; n++) await writeFile(file, `burst ${n}`);
    await until(() => reads.some((r) => 'text' in r && r.text === 'burst 9'));
    await writeFile(join(dir, 'tmp'), 'renamed');
    await rename(join(dir, 'tmp'), file);
    await until(() => reads.some((r) => 'text' in r && r.text === 'renamed'));
    await unlink(file);
    await until(() => reads.some((r) => 'error' in r));
    expect(reads.at(-1)).toEqual({ error: `${file}: file not found` });
    // The last read emitted is always of the last version: a burst ends in one read of it.
    expect(reads.filter((r) => 'text' in r && r.text.startsWith('burst')).length).toBeLessThanOrEqual(3);
    sub.unsubscribe();
  });
});
