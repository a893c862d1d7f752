import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Project {
  readonly dir: string;
  readonly name: string;
  readonly kind: string;
}

/** Every plugin package in the workspace, with its kind from its Nx tag. */
function plugins(): Project[] {
  return readdirSync(join(root, 'packages')).flatMap((dir) => {
    const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as { name: string; nx?: { tags?: string[] } };
    const kind = pkg.nx?.tags?.find((t) => t.startsWith('type:'))?.slice(5) ?? '';
    return ['store', 'source', 'sink'].includes(kind) ? [{ dir: `packages/${dir}`, name: pkg.name, kind }] : [];
  });
}

const eslint = new ESLint({ cwd: root });

async function boundaryErrors(fromDir: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, fromDir, 'src', '__boundary_probe__.ts') });
  return (result?.messages ?? []).filter((m) => m.ruleId === '@nx/enforce-module-boundaries' || m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('module boundaries (the lint fails on a violation)', () => {
  const all = plugins();
  const pairs = all.flatMap((a) => all.filter((b) => b !== a).map((b) => [a, b] as const));

  it('has plugin packages of more than one kind to check', () => {
    expect(new Set(all.map((p) => p.kind)).size).toBeGreaterThan(1);
  });

  it.each(pairs.map(([a, b]) => [`${a.name} (${a.kind})`, `${b.name} (${b.kind})`, a, b] as const))(
    '%s may not import %s',
    async (_a, _b, from, to) => {
      const errors = await boundaryErrors(from.dir, `import * as other from '${to.name}';\nexport const x = other;\n`);
      expect(errors.join('\n')).toMatch(/can only depend on libs tagged with/);
    },
  );

  it.each(all.map((p) => [p.name, p] as const))('%s may import @signpost/core', async (_n, from) => {
    expect(await boundaryErrors(from.dir, `import { Type } from '@signpost/core';\nexport const x = Type;\n`)).toEqual([]);
  });

  it('plugin code may not import @signpost/testing outside tests', async () => {
    const from = all[0]!;
    const errors = await boundaryErrors(from.dir, `import { tempDir } from '@signpost/testing';\nexport const x = tempDir;\n`);
    expect(errors.join('\n')).toMatch(/@signpost\/testing is for tests/);
  });
});
