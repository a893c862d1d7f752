import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeSourceContract, eventually, runPlugins, tempDir, type Running } from '@signpost/testing';
import { parseOptions, staticSource } from './index.js';

const services = (...names: string[]): string => `services:\n${names.map((n) => `  - { name: ${n}, port: 80 }`).join('\n')}\n`;

describeSourceContract('static', async () => {
  const dir = await tempDir();
  await writeFile(join(dir.path, 'services.yaml'), services('web', 'db'));
  return { source: staticSource({ path: 'services.yaml', debounce: '20ms' }), expectedInstances: 2, baseDir: dir.path, dispose: dir.dispose };
});

describe('static source', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let run: Running | undefined;
  let file: string;
  const names = (): string[] => [...run!.store.services().keys()];
  const errors = (): string[] => run!.logger.lines.filter((l) => l.level === 'error').map((l) => String(l.fields['error']));

  beforeEach(async () => {
    dir = await tempDir();
    file = join(dir.path, 'services.yaml');
  });
  afterEach(async () => {
    await run?.stop();
    run = undefined;
    await dir.dispose();
  });

  const start = async (): Promise<void> => {
    run = await runPlugins([staticSource({ path: 'services.yaml', debounce: '20ms' })], { baseDir: dir.path });
  };

  it('follows changes: what leaves the file leaves the catalog', async () => {
    await writeFile(file, services('web', 'db'));
    await start();
    await eventually(() => names().join() === 'db,web');
    await writeFile(file, services('web', 'cache'));
    await eventually(() => names().join() === 'cache,web');
  });

  it('keeps the last good set on a bad file, logs one error naming the line, and applies the fix', async () => {
    await writeFile(file, services('web'));
    await start();
    await eventually(() => names().join() === 'web');
    const index = run!.store.index;
    await writeFile(file, 'services:\n  - { name: web, port: 99999 }\n');
    await eventually(() => errors().length === 1);
    await writeFile(file, 'services:\n  - { name: web, port: 99999 }\n'); // the same problem again: no second line
    await new Promise((r) => setTimeout(r, 150));
    expect(errors()).toEqual([`${file}:2:18: services[0].port: must be <= 65535`]);
    expect(names()).toEqual(['web']);
    expect(run!.store.index).toBe(index);
    await writeFile(file, services('web', 'api'));
    await eventually(() => names().join() === 'api,web');
  });

  it('keeps the last good set while the file is deleted, and applies it when it comes back', async () => {
    await writeFile(file, services('web'));
    await start();
    await eventually(() => names().join() === 'web');
    await rm(file);
    await eventually(() => errors().some((e) => e.endsWith('file not found')));
    expect(names()).toEqual(['web']);
    await writeFile(file, services('db'));
    await eventually(() => names().join() === 'db');
  });

  it('picks up a file replaced by rename (atomic save)', async () => {
    await writeFile(file, services('web'));
    await start();
    await eventually(() => names().join() === 'web');
    const tmp = join(dir.path, '.services.yaml.tmp');
    await writeFile(tmp, services('web', 'renamed'));
    await rename(tmp, file);
    await eventually(() => names().join() === 'renamed,web');
  });

  it('starts with a missing file, says so, and loads it once created', async () => {
    await start();
    await eventually(() => errors().length === 1);
    expect(errors()[0]).toBe(`${file}: file not found`);
    await writeFile(file, services('late'));
    await eventually(() => names().join() === 'late');
  });

  it('coalesces a burst of writes into few resets ending on the last version', async () => {
    await writeFile(file, services('s0'));
    await start();
    await eventually(() => names().join() === 's0');
    const before = run!.store.batches.length;
    for (let n = 1; n <= 50; n++) await writeFile(file, services(`s${n}`));
    await eventually(() => names().join() === 's50');
    await new Promise((r) => setTimeout(r, 100));
    expect(names()).toEqual(['s50']);
    expect(run!.store.batches.length - before).toBeLessThan(10);
  });

  it('validates its options', () => {
    expect(() => parseOptions({})).toThrow('plugin static: path: is required');
    expect(() => parseOptions({ path: 'x', debounce: 'soon' })).toThrow(/debounce: must be a Go duration/);
    expect(() => parseOptions({ path: 'x', watch: true })).toThrow(/watch: unknown key/);
  });
});
