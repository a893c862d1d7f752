import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tree } from '@nx/devkit';
import { silentLogger } from '@signpost/core';
import { eventually } from '@signpost/testing';
import { startAgent } from '@signpost/agent';

type Generator = (tree: Tree, options: { name: string; kind: string; directory?: string; skipInstall?: boolean }) => Promise<() => void>;
const require = createRequire(import.meta.url);
const generate = require('./generators/plugin/generator.cjs') as Generator;
// Through require, as Nx itself loads generators: the devkit then finds its own CommonJS dependencies.
const { createTreeWithEmptyWorkspace } = require('@nx/devkit/testing') as { createTreeWithEmptyWorkspace: () => Tree };
const { FsTree, flushChanges } = require('nx/src/generators/tree') as {
  FsTree: new (root: string, verbose: boolean) => Tree & { listChanges(): unknown[] };
  flushChanges: (root: string, changes: unknown[]) => void;
};
const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

describe('plugin generator, in a virtual tree', () => {
  it.each(['source', 'store', 'sink'])('writes a %s package with its tag, contract spec and README sections', async (kind) => {
    const tree = createTreeWithEmptyWorkspace();
    await generate(tree, { name: 'audit-log', kind, skipInstall: true });
    const dir = `packages/${kind}-audit-log`;
    const pkg = JSON.parse(tree.read(`${dir}/package.json`, 'utf-8')!) as { name: string; nx: { tags: string[] } };
    expect(pkg.name).toBe(`@signpost/${kind}-audit-log`);
    expect(pkg.nx.tags).toEqual([`type:${kind}`]);
    expect(tree.read(`${dir}/tsconfig.json`, 'utf-8')).toContain('"extends": "../../tsconfig.base.json"');
    const spec = tree.read(`${dir}/src/audit-log.spec.ts`, 'utf-8')!;
    expect(spec).toContain(kind === 'store' ? 'describeStoreContract' : kind === 'source' ? 'describeSourceContract' : 'describeSinkContract');
    const source = tree.read(`${dir}/src/audit-log.ts`, 'utf-8')!;
    expect(source).toContain(`export function auditLog${kind === 'store' ? 'Store' : kind === 'source' ? 'Source' : 'Sink'}(`);
    const readme = tree.read(`${dir}/README.md`, 'utf-8')!;
    for (const section of ['Description', 'Options', 'Examples', 'Metrics']) expect(readme).toContain(`## ${section}\n`);
    expect(tree.children(`${dir}/src`).sort()).toEqual(['audit-log.spec.ts', 'audit-log.ts', 'index.ts']);
  });

  it('refuses a bad name, a bad kind, and a directory that already holds a package', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await expect(generate(tree, { name: 'Audit Log', kind: 'sink' })).rejects.toThrow('--name: "Audit Log" must be lowercase letters, digits and dashes');
    await expect(generate(tree, { name: 'x', kind: 'thing' })).rejects.toThrow('--kind: "thing" must be one of source, store, sink');
    await generate(tree, { name: 'x', kind: 'sink', skipInstall: true });
    await expect(generate(tree, { name: 'x', kind: 'sink' })).rejects.toThrow('packages/sink-x already holds a package');
  });
});

describe('plugin generator, on disk', () => {
  const base = join(root, '.tmp', `gen-${randomUUID().slice(0, 8)}`);
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });
  const onDisk = async (kind: string, name: string): Promise<string> => {
    const directory = join('.tmp', base.split('/').at(-1)!, `${kind}-${name}`);
    const tree = new FsTree(root, false);
    await generate(tree, { name, kind, directory, skipInstall: true });
    flushChanges(root, tree.listChanges());
    return join(root, directory);
  };
  /** Runs a package's own bin file (`typescript/bin/tsc`) with this Node. */
  const sh = (cwd: string, command: string, ...args: string[]): Promise<{ stdout: string }> => {
    const [pkg, ...rest] = command.split('/');
    const bin = join(dirname(require.resolve(`${pkg}/package.json`)), ...rest);
    return run(process.execPath, [bin, ...args], { cwd, env: { ...process.env, CI: '', NO_COLOR: '1', FORCE_COLOR: '0' }, maxBuffer: 16 << 20 });
  };

  it.each(['source', 'store', 'sink'])('generates a %s that builds, lints and passes its contract suite as it is', async (kind) => {
    const dir = await onDisk(kind, 'probe');
    await sh(dir, 'typescript/bin/tsc', '-p', 'tsconfig.lib.json');
    await sh(dir, 'typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit');
    await sh(dir, 'eslint/bin/eslint.js', '.');
    const { stdout } = await sh(dir, 'vitest/vitest.mjs', 'run');
    expect(stdout).toMatch(/Tests\s+\S*\s*\d+ passed/);
    expect(stdout).not.toMatch(/failed|skipped/);
  }, 120_000);

  it('a generated sink, with ten lines filled in and named in the agent config, receives catalog events', async () => {
    const dir = await onDisk('sink', 'recorder');
    const file = join(dir, 'src', 'recorder.ts');
    let code = await readFile(file, 'utf8');
    // The ten lines: an option for where to write, and writing each change there.
    code = code.replace(
      "    name: Type.Optional(Type.String({ minLength: 1, description: 'Plugin name (default \"recorder\").' })),",
      [
        "    name: Type.Optional(Type.String({ minLength: 1, description: 'Plugin name (default \"recorder\").' })),",
        "    out: Type.String({ minLength: 1, description: 'File each change is appended to.' }),",
      ].join('\n'),
    );
    code = code.replace("export function recorderSink(options: RecorderOptions = {}): RecorderSink {", "export function recorderSink(options: RecorderOptions): RecorderSink {");
    code = code.replace(
      "        ctx.logger.debug({ change }, 'catalog change');",
      [
        "        ctx.logger.debug({ change }, 'catalog change');",
        '        appendFileSync(opts.out, `${change}\\n`);',
      ].join('\n'),
    );
    code = `import { appendFileSync } from 'node:fs';\n${code}`;
    await writeFile(file, code);
    await writeFile(join(dir, 'src', 'recorder.spec.ts'), "import { it, expect } from 'vitest';\nimport { parseOptions } from './index.js';\nit('needs out', () => expect(() => parseOptions({})).toThrow(/out/));\n");
    await sh(dir, 'typescript/bin/tsc', '-p', 'tsconfig.lib.json');

    const work = join(base, 'agent');
    await mkdir(work, { recursive: true });
    const out = join(work, 'changes.log');
    await writeFile(join(work, 'services.yaml'), 'services:\n  - { name: web, id: web-1, port: 8080 }\n  - { name: db, id: db-1, port: 5432 }\n');
    await writeFile(join(work, 'agent.yaml'), ['node: box', 'plugins:', `  - plugin: ${dir}`, `    out: ${out}`, '  - { plugin: static, path: ./services.yaml }', ''].join('\n'));
    const agent = await startAgent(join(work, 'agent.yaml'), { logger: silentLogger() });
    try {
      await eventually(async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').filter(Boolean).length === 2, 5000, 'two changes recorded');
      expect((await readFile(out, 'utf8')).split('\n').filter(Boolean).sort()).toEqual(['upsert db/db-1', 'upsert web/web-1']);
    } finally {
      await agent.stop();
    }
  }, 60_000);
});
