import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger, runPlugins, tempDir } from '@signpost/testing';
import { httpSink } from './http-sink.js';
import { RegistrationLog } from './registration-log.js';

const writer = fileURLToPath(new URL('./__fixtures__/writer.mjs', import.meta.url));
const registerTs = createRequire(import.meta.url).resolve('@signpost/testing/node/ts-register.mjs');

/**
 * What the writer said of each service ID: the last value acknowledged (a port, or `-`
 * for deregistered) and the one sent after it and not answered. After a kill -9, an ID
 * must hold its acknowledged value, or the unanswered one (written, not yet answered).
 */
class Ledger {
  readonly acked = new Map<string, string>();
  readonly unanswered = new Map<string, string>();
  acks = 0;

  allowed(id: string): string[] {
    return [this.acked.get(id) ?? '-', ...(this.unanswered.has(id) ? [this.unanswered.get(id)!] : [])];
  }

  ids(): string[] {
    return [...new Set([...this.acked.keys(), ...this.unanswered.keys()])];
  }
}

/**
 * Runs the writer (8 clients, a log compacting every few hundred writes) on `dataDir`
 * until `killWhen` says so after a line, then kills it with SIGKILL.
 */
async function runUntilKilled(dataDir: string, prefix: string, ledger: Ledger, killWhen: (line: string, acksThisRun: number) => boolean): Promise<void> {
  const child = spawn(process.execPath, ['--import', registerTs, writer, dataDir, prefix, '8', '16384'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  let acks = 0;
  let ready = false;
  try {
    for await (const line of createInterface({ input: child.stdout! })) {
      const [what, id, value] = line.split(' ') as [string, string, string];
      if (what === 'ready') ready = true;
      else if (what === 'send') ledger.unanswered.set(id, value);
      else if (what === 'ack') {
        ledger.acked.set(id, value);
        ledger.unanswered.delete(id);
        ledger.acks++;
        acks++;
      } else if (what === 'error') throw new Error(`the writer failed: ${line}`);
      // Lines already in the pipe when the kill lands are read too: a request the writer
      // sent meanwhile may be in the log, and must be in the ledger.
      if (ready && child.signalCode === null && !child.killed && killWhen(line, acks)) child.kill('SIGKILL');
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  expect(await exited).toBe('SIGKILL');
}

describe('kill -9 while clients register', () => {
  let dir: { path: string; dispose(): Promise<void> };
  const ledger = new Ledger();
  beforeAll(async () => void (dir = await tempDir()));
  afterAll(async () => dir.dispose());

  /** Opens the log as the next start would: it loads, nothing in it is damaged, and every acknowledged write is there. */
  const check = async (): Promise<void> => {
    const logger = memoryLogger();
    const log = await RegistrationLog.open({ dir: join(dir.path, 'http-registrations'), logger });
    try {
      expect(log.report.files.flatMap((f) => f.damaged)).toEqual([]);
      expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
      for (const id of ledger.ids()) {
        const port = log.tables.agent.get(id)?.instance.port;
        expect(ledger.allowed(id), `${id} after the kill`).toContain(port === undefined ? '-' : String(port));
      }
    } finally {
      await log.close();
    }
  };

  it('loses no acknowledged registration when killed as a compaction starts', async () => {
    let seen = 0;
    await runUntilKilled(dir.path, 'r1', ledger, (line, acks) => acks > 300 && line === 'step switched' && ++seen === 2);
    expect(ledger.acks).toBeGreaterThan(300);
    await check();
  }, 60_000);

  it('loses none when killed as a snapshot is written, starting from what the first kill left', async () => {
    await runUntilKilled(dir.path, 'r2', ledger, (line, acks) => acks > 300 && line === 'step snapshot-written');
    await check();
  }, 60_000);

  it('loses none when killed between appends, and the plugin starts with every acknowledged registration', async () => {
    await runUntilKilled(dir.path, 'r3', ledger, (_line, acks) => acks >= 777);
    await check();
    const http = httpSink({ listen: '127.0.0.1:0' });
    const run = await runPlugins([http], { node: 'crash-node', dataDir: dir.path });
    try {
      for (const id of ledger.ids()) {
        const port = run.store.instance({ node: 'crash-node', id })?.port;
        expect(ledger.allowed(id), `${id} after the restart`).toContain(port === undefined ? '-' : String(port));
      }
      expect(run.store.size).toBeGreaterThan(100);
    } finally {
      await run.stop();
    }
  }, 60_000);
});
