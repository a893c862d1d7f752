import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hasProgram } from '@signpost/testing';
import { childrenOf } from './scenarios/children.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe.skipIf(!hasProgram('nginx', 'nginx-light') || !hasProgram('python3', 'python3-minimal'))('bench runner', () => {
  it('stops the servers and loads it started, and removes its files, when it is told to stop', async () => {
    const scratch = (): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith('signpost-bench-health-'));
    const before = new Set(scratch());
    const bench = spawn(process.execPath, [main, 'health', '--scale', '0.05'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => bench.on('exit', (code) => r(code)));
    // The health scenario starts nginx, a yield loop on each core, then its agent.
    let started: number[] = [];
    for (let t = 0; t < 300 && started.length < 4; t++) {
      await new Promise((r) => setTimeout(r, 100));
      started = childrenOf(bench.pid!);
    }
    try {
      expect(started.length).toBeGreaterThanOrEqual(4);
      bench.kill('SIGTERM');
      expect(await exited).toBe(143);
      const deadline = Date.now() + 10_000;
      while (started.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(started.filter(alive)).toEqual([]);
      expect(scratch().filter((d) => !before.has(d))).toEqual([]);
    } finally {
      // Whatever this test failed to see stopped must not spin on the cores for the tests after it.
      for (const pid of [bench.pid!, ...started].filter(alive)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // it ended meanwhile
        }
      }
    }
  }, 60_000);
});
