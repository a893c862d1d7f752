import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from './config.js';
import { loadAppConfig } from './packages.js';
import { CatalogView } from './view.js';
import type { PluginCatalog } from './config.js';

/** A plugin module in plain JS, as a package outside this repository would ship it. */
const moduleSource = (kind: string, exportName = 'plugin'): string => `
${exportName === 'default' ? 'export default' : `export const ${exportName} =`} {
  name: 'probe',
  kind: '${kind}',
  optionsSchema: { type: 'object' },
  parseOptions(input) {
    if (input.color !== undefined && !['red', 'blue'].includes(input.color)) throw new Error('plugin probe: color: must be red or blue');
    return input;
  },
  create(options) {
    return { name: options.name ?? 'probe', options, async start() {}, async stop() {} };
  },
};
`;

describe('plugins named by package in a config', () => {
  let dir = '';
  const memory = { name: 'memory', kind: 'store', optionsSchema: {}, parseOptions: (i: unknown) => i, create: () => new (class extends CatalogView {})() } as never;
  const catalog: PluginCatalog = { stores: { memory }, plugins: {} };
  const config = async (body: string): Promise<string> => {
    const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, body);
    return file;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pkg-plugins-'));
    const pkg = async (name: string, source: string): Promise<void> => {
      const at = join(dir, 'node_modules', ...name.split('/'));
      await mkdir(at, { recursive: true });
      await writeFile(join(at, 'package.json'), JSON.stringify({ name, type: 'module', exports: './index.js' }));
      await writeFile(join(at, 'index.js'), source);
    };
    await pkg('@acme/signpost-sink-probe', moduleSource('sink'));
    await pkg('@acme/empty', 'export const nothing = 1;\n');
    await pkg('@acme/a-store', moduleSource('store', 'store'));
    await pkg('@acme/broken', 'throw new Error("boom at import");\n');
    await mkdir(join(dir, 'local'), { recursive: true });
    await writeFile(join(dir, 'local', 'mine.mjs'), moduleSource('source', 'default'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('imports a package next to the config, validates its options with its own parseOptions, and builds it', async () => {
    const file = await config('plugins:\n  - plugin: "@acme/signpost-sink-probe"\n    color: red\n  - plugin: ./local/mine.mjs\n    name: mine\n');
    const loaded = await loadAppConfig(file, catalog, { env: {} });
    expect(loaded.plugins.map((p) => [p.name, (p as unknown as { options: unknown }).options])).toEqual([
      ['probe', { color: 'red' }],
      ['mine', { name: 'mine' }],
    ]);
  });

  it.each([
    ['plugins:\n  - plugin: "@acme/signpost-sink-probe"\n    color: green\n', ':2:5: plugins[0]: plugin probe: color: must be red or blue'],
    ['plugins:\n  - plugin: "@acme/nope"\n', ':2:5: plugins[0].plugin: no plugin package "@acme/nope"'],
    ['plugins:\n  - plugin: "@acme/empty"\n', ':2:5: plugins[0].plugin: plugin package "@acme/empty" exports no plugin: expected `export const plugin`'],
    ['plugins:\n  - plugin: "@acme/broken"\n', ':2:5: plugins[0].plugin: plugin package "@acme/broken" failed to load: boom at import'],
    ['store: { plugin: "@acme/signpost-sink-probe" }\n', ':1:10: store.plugin: plugin package "@acme/signpost-sink-probe" exports no plugin: expected `export const store`'],
    ['plugins:\n  - plugin: "@acme/a-store"\n', ':2:5: plugins[0].plugin: plugin package "@acme/a-store" exports no plugin: expected `export const plugin`'],
    ['plugins:\n  - plugin: dnss\n', ':2:5: plugins[0].plugin: unknown plugin "dnss" (this app knows: none)'],
  ])('fails start-up on %j with a clear error at its line', async (body, message) => {
    const file = await config(body);
    const err = await loadAppConfig(file, catalog, { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`${file}${message}`);
  });

  it('loads a store from a package', async () => {
    const file = await config('store: { plugin: "@acme/a-store" }\n');
    const loaded = await loadAppConfig(file, catalog, { env: {} });
    expect(loaded.store.name).toBe('probe');
  });
});
