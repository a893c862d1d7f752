import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { tempDir } from '@signpost/testing';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Project {
  readonly dir: string;
  readonly name: string;
  readonly kind: string;
}

/** Every plugin package in the workspace, with its kind from its Nx tag. */
function plugins(): Project[] {
  const dirs = readdirSync(join(root, 'packages'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  return dirs.flatMap((dir) => {
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

describe('a sink that imports another sink (fixture workspace with two sinks)', () => {
  it('fails the lint with the workspace rules, while its import of core passes', async () => {
    const dir = await tempDir('signpost-boundaries-');
    try {
      const write = async (path: string, text: string): Promise<void> => {
        await mkdir(dirname(join(dir.path, path)), { recursive: true });
        await writeFile(join(dir.path, path), text);
      };
      // The workspace's own lint config and Nx settings, over three fixture packages.
      await copyFile(join(root, 'eslint.config.mjs'), join(dir.path, 'eslint.config.mjs'));
      // Nx maps an import to a project through tsconfig paths (no npm install in the fixture).
      await write(
        'tsconfig.base.json',
        JSON.stringify({
          compilerOptions: { paths: Object.fromEntries(['core', 'sink-a', 'sink-b'].map((p) => [`@fixture/${p}`, [`packages/${p}/src/index.ts`]])) },
        }),
      );
      await write('nx.json', JSON.stringify({ neverConnectToCloud: true }));
      await write('package.json', JSON.stringify({ name: 'fixture', private: true, type: 'module', workspaces: ['packages/*'] }));
      await symlink(join(root, 'node_modules'), join(dir.path, 'node_modules'));
      const pkg = (name: string, tag: string, deps: string[]): string =>
        JSON.stringify({ name, type: 'module', exports: './src/index.ts', nx: { tags: [tag] }, dependencies: Object.fromEntries(deps.map((d) => [d, '*'])) });
      await write('packages/core/package.json', pkg('@fixture/core', 'type:core', []));
      await write('packages/core/src/index.ts', 'export const core = 1;\n');
      await write('packages/sink-b/package.json', pkg('@fixture/sink-b', 'type:sink', ['@fixture/core']));
      await write('packages/sink-b/src/index.ts', 'export const b = 2;\n');
      await write('packages/sink-a/package.json', pkg('@fixture/sink-a', 'type:sink', ['@fixture/core', '@fixture/sink-b']));
      await write('packages/sink-a/src/index.ts', "import { core } from '@fixture/core';\nimport { b } from '@fixture/sink-b';\nexport const a = core + b;\n");

      const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_SKIP_NX_CACHE: 'true' };
      // The rule reads Nx's cached project graph and skips itself (with only a warning)
      // when there is none: compute it first, as `nx run-many -t lint` does.
      const graph = spawnSync(process.execPath, [join(root, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects'], { cwd: dir.path, encoding: 'utf8', env });
      expect(graph.stdout.split('\n').filter(Boolean).sort(), graph.stderr).toEqual(['@fixture/core', '@fixture/sink-a', '@fixture/sink-b']);
      const lint = spawnSync(process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', 'packages/sink-a/src/index.ts'], {
        cwd: dir.path,
        encoding: 'utf8',
        env,
      });
      expect(lint.status, lint.stderr).toBe(1);
      const [report] = JSON.parse(lint.stdout) as Array<{ messages: Array<{ ruleId: string; line: number; message: string }> }>;
      const boundary = report!.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries');
      expect(boundary.map((m) => m.line)).toEqual([2]);
      expect(boundary[0]!.message).toMatch(/tagged with "type:sink" can only depend on libs tagged with "type:core", "type:testing"/);
    } finally {
      await dir.dispose();
    }
  });
});
