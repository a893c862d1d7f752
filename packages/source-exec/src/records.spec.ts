import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '@signpost/testing';
import { parseRecord, RecordDir, type AllocRecord } from './records.js';

const A = '1ea419e8-3027-4d57-8e82-d1bbb66adfbc';
const record: AllocRecord = {
  version: 1,
  allocId: A,
  job: 'web',
  index: 0,
  bootId: 'boot-1',
  killTimeoutMs: 1000,
  process: { pid: 100, pgid: 100, startTime: 5000, cmdline: ['node', 'web.mjs'] },
};
const { process: _p, ...intent } = record;

describe('allocation records', () => {
  it.each<[string, string, string, unknown]>([
    ['a whole record', JSON.stringify(record), `${A}.json`, { record }],
    ['a record written before the spawn (no process yet)', JSON.stringify(intent), `${A}.json`, { record: intent }],
    ['a truncated file: its allocation from the file name', JSON.stringify(record).slice(0, 30), `${A}.json`, { error: expect.stringMatching(/^not JSON: /), allocId: A }],
    ['an empty file', '', `${A}.json`, { error: expect.stringMatching(/^not JSON: /), allocId: A }],
    ['a wrong shape, named key by key', JSON.stringify({ ...record, process: { ...record.process, pid: 'x' }, index: -1 }), `${A}.json`, { error: expect.stringMatching(/^not a record: .*index: .*process\.pid: /), allocId: A }],
    ['an unknown version', JSON.stringify({ ...record, version: 2 }), `${A}.json`, { error: expect.stringMatching(/^not a record: version/), allocId: A }],
    ['a record under another allocation\'s name', JSON.stringify(record), 'c0ffee00-3027-4d57-8e82-d1bbb66adfbc.json', { error: expect.stringMatching(/its file name another/), allocId: 'c0ffee00-3027-4d57-8e82-d1bbb66adfbc' }],
    ['garbage under a name that is no allocation: nothing recovered', 'garbage', 'junk.json', { error: expect.stringMatching(/^not JSON/) }],
  ])('%s', (_what, text, name, expected) => {
    expect(parseRecord(text, name)).toEqual(expected);
  });

  describe('on disk', () => {
    let dir: { path: string; dispose(): Promise<void> };
    let records: RecordDir;
    beforeEach(async () => {
      dir = await tempDir();
      records = new RecordDir(join(dir.path, 'exec-allocs', 'exec'));
    });
    afterEach(() => dir.dispose());

    it('writes a record whole, replaces it, removes it, and lists none where there is no directory', async () => {
      expect(records.load()).toEqual({ records: [], damaged: [] });
      records.write(intent);
      expect(records.load().records).toEqual([intent]);
      records.write(record);
      expect(JSON.parse(await readFile(records.path(A), 'utf8'))).toEqual(record);
      expect(await readdir(records.dir)).toEqual([`${A}.json`]);
      records.remove(A);
      records.remove(A);
      expect(records.load()).toEqual({ records: [], damaged: [] });
    });

    it('reports a damaged file with what it recovered, removes temporary files, and sets a damaged file aside', async () => {
      records.write(record);
      const B = 'c0ffee00-3027-4d57-8e82-d1bbb66adfbc';
      await writeFile(join(records.dir, `${B}.json`), '{"version":1,"allo');
      await writeFile(join(records.dir, `${B}.json.tmp`), '{"half');
      await writeFile(join(records.dir, 'notes.txt'), 'not a record');
      const { records: whole, damaged } = records.load();
      expect(whole).toEqual([record]);
      expect(damaged).toEqual([{ path: join(records.dir, `${B}.json`), error: expect.stringMatching(/^not JSON/), allocId: B }]);
      records.setAside(damaged[0]!.path);
      expect((await readdir(records.dir)).sort()).toEqual([`${A}.json`, `${B}.json.damaged`, 'notes.txt']);
    });
  });
});
