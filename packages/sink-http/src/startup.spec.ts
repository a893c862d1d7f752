import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPlugins, tempDir, type Running } from '@signpost/testing';
import { httpSink } from './http-sink.js';
import { encodeRecord, type LogRecord, type Registration } from './log-record.js';

const reg = (id: string, port: unknown, extra: Partial<Registration> = {}): Registration => ({ instance: { service: 'svc', id, port: port as number, node: 'n1' }, checks: [], ...extra });
const set = (id: string, port: unknown): LogRecord => ({ op: 'set', kind: 'agent', id, reg: reg(id, port) });

describe('the http plugin starting from what the data directory holds', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let run: Running | undefined;
  beforeEach(async () => void (dir = await tempDir()));
  afterEach(async () => {
    await run?.stop();
    run = undefined;
    await dir.dispose();
  });
  const start = async (): Promise<Running> => (run = await runPlugins([httpSink({ listen: '127.0.0.1:0' })], { node: 'n1', dataDir: dir.path }));
  const ids = (r: Running): string[] => [...r.store.allInstances()].map((i) => i.id).sort();

  it('leaves out a logged registration that cannot be published, naming it, its file and why, keeps it aside, and starts with the rest', async () => {
    const logDir = join(dir.path, 'http-registrations');
    await mkdir(logDir);
    const file = join(logDir, '0000000001.log');
    await writeFile(file, Buffer.concat([set('good-1', 80), set('bad', 70000), set('good-2', 81)].map(encodeRecord)));
    const r = await start();
    expect(ids(r)).toEqual(['good-1', 'good-2']);
    const error = r.logger.lines.find((l) => l.level === 'error' && l.fields['id'] === 'bad');
    expect(error).toMatchObject({ fields: { file, reason: expect.stringMatching(/port: must be <= 65535/) } });
    const kept = (await readFile(error!.fields['keptAs'] as string, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; entry: LogRecord });
    expect(kept).toEqual([expect.objectContaining({ id: 'bad', entry: set('bad', 70000) })]);
  });

  it('migrates the good entries of a legacy file, keeps the bad ones aside, and removes the file only after', async () => {
    const legacy = join(dir.path, 'http-registrations.json');
    const noChecks = { instance: { service: 'svc', id: 'no-checks' } };
    await writeFile(legacy, JSON.stringify({ agent: [['good', reg('good', 80)], ['abc', reg('abc', 'abc')], ['no-checks', noChecks]] }));
    const r = await start();
    expect(ids(r)).toEqual(['good']);
    const errors = r.logger.lines.filter((l) => l.level === 'error');
    expect(errors.map((l) => [l.fields['id'], l.fields['file']])).toEqual([['no-checks', legacy], ['abc', legacy]]);
    expect(errors[1]!.fields['reason']).toMatch(/port/);
    expect(existsSync(legacy)).toBe(false);
    const keptAs = errors[0]!.fields['keptAs'] as string;
    expect((await readFile(keptAs, 'utf8')).trim().split('\n')).toHaveLength(2);
    expect((await readdir(join(dir.path, 'http-registrations'))).filter((f) => f.startsWith('rejected-'))).toHaveLength(1);
  });
});
