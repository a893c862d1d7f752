import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger, runPlugins, tempDir, type Running } from '@signpost/testing';
import { LOCK_FILE } from './dir-lock.js';
import { httpSink } from './http-sink.js';
import { RegistrationLog } from './registration-log.js';

const registerTs = createRequire(import.meta.url).resolve('@signpost/testing/node/ts-register.mjs');
const logModule = pathToFileURL(fileURLToPath(new URL('./registration-log.ts', import.meta.url))).href;

/** Runs `node -e code` to its end: exit code and stderr. */
function node(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('the lock on the registrations directory', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let logDir: string;
  beforeEach(async () => {
    dir = await tempDir();
    logDir = join(dir.path, 'http-registrations');
  });
  afterEach(async () => dir.dispose());

  it('refuses a second open while the first holds it, naming the directory and the holder, and allows one after the close', async () => {
    const first = await RegistrationLog.open({ dir: logDir, logger: memoryLogger() });
    await expect(RegistrationLog.open({ dir: logDir, logger: memoryLogger() })).rejects.toThrow(`${logDir}: the registrations directory is in use by process ${process.pid}`);
    await first.write({ op: 'set', kind: 'agent', id: 'a', reg: { instance: { service: 'a' }, checks: [] } });
    await first.close();
    expect(existsSync(join(logDir, LOCK_FILE))).toBe(false);
    const again = await RegistrationLog.open({ dir: logDir, logger: memoryLogger() });
    expect([...again.tables.agent.keys()]).toEqual(['a']);
    await again.close();
  });

  it('refuses another process, which touches nothing', async () => {
    const held = await RegistrationLog.open({ dir: logDir, logger: memoryLogger() });
    try {
      const code = `const { RegistrationLog } = await import(${JSON.stringify(logModule)});
        const logger = { error() {}, warn() {}, info() {}, debug() {}, child() { return logger; } };
        await RegistrationLog.open({ dir: ${JSON.stringify(logDir)}, logger });`;
      const other = await node(['--import', registerTs, '--input-type=module', '-e', code]);
      expect(other.code).not.toBe(0);
      expect(other.stderr).toContain(`${logDir}: the registrations directory is in use by process ${process.pid}`);
      expect(existsSync(join(logDir, LOCK_FILE))).toBe(true);
    } finally {
      await held.close();
    }
  });

  it.each([
    ['its pid is gone', async (): Promise<object> => ({ pid: await deadPid(), start: '1' })],
    ['its pid is reused by a process started at another time', async (): Promise<object> => ({ pid: process.pid, start: 'not-this-start' })],
  ])('takes over a stale lock (%s), with a warning', async (_what, holder) => {
    await mkdir(logDir, { recursive: true });
    await writeFile(join(logDir, LOCK_FILE), JSON.stringify(await holder()));
    const logger = memoryLogger();
    const log = await RegistrationLog.open({ dir: logDir, logger });
    await log.close();
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/took over the lock/) }));
  });

  describe('a plugin whose start fails', () => {
    let run: Running | undefined;
    afterEach(async () => run?.stop());

    it('releases the lock (a port in use)', async () => {
      const first = httpSink({ listen: '127.0.0.1:0' });
      run = await runPlugins([first], { node: 'n1', dataDir: join(dir.path, 'a') });
      const port = first.address()!.port;
      const second = runPlugins([httpSink({ listen: `127.0.0.1:${port}` })], { node: 'n2', dataDir: join(dir.path, 'b') });
      await expect(second).rejects.toThrow(/EADDRINUSE/);
      expect(existsSync(join(dir.path, 'b', 'http-registrations', LOCK_FILE))).toBe(false);
    });
  });
});

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}
