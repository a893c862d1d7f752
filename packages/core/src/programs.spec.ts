import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { which } from './programs.js';

describe('which', () => {
  it('finds the first executable of that name along PATH, and skips what is not executable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'signpost-path-'));
    try {
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      for (const d of [a, b]) mkdirSync(d);
      writeFileSync(join(a, 'tool'), '');
      chmodSync(join(a, 'tool'), 0o644);
      writeFileSync(join(b, 'tool'), '#!/bin/sh\n');
      chmodSync(join(b, 'tool'), 0o755);
      expect(which('tool', ['', a, b].join(delimiter))).toBe(join(b, 'tool'));
      expect(which('missing', [a, b].join(delimiter))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
