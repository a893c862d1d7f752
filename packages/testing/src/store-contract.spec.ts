import { describe, expect, it } from 'vitest';
import { freePort, tempDir, activeHandles } from './index.js';
import { existsSync } from 'node:fs';

describe('helpers', () => {
  it('finds a free port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });

  it('makes and removes a temp dir', async () => {
    const dir = await tempDir();
    expect(existsSync(dir.path)).toBe(true);
    await dir.dispose();
    expect(existsSync(dir.path)).toBe(false);
  });

  it('counts timers', () => {
    const before = activeHandles()['Timeout'] ?? 0;
    const t = setTimeout(() => undefined, 10_000);
    expect(activeHandles()['Timeout'] ?? 0).toBe(before + 1);
    clearTimeout(t);
    expect(activeHandles()['Timeout'] ?? 0).toBe(before);
  });
});
