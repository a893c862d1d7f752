import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { ConfigError, parseConfig, type PluginCatalog } from './config.js';
import type { CatalogStore, Plugin, PluginModule } from './plugin.js';
import { validate } from './validate.js';
import { CatalogView } from './view.js';

const listenSchema = Type.Object(
  { name: Type.Optional(Type.String()), listen: Type.String({ format: 'listen' }), ttl: Type.Optional(Type.String({ format: 'duration' })) },
  { additionalProperties: false },
);
type ListenOptions = { name?: string; listen: string; ttl?: string };

const fakeSink: PluginModule<ListenOptions, Plugin> = {
  name: 'http',
  kind: 'sink',
  optionsSchema: listenSchema,
  parseOptions: (input) => validate(listenSchema, input, 'http'),
  create: (o) => ({ name: o.name ?? 'http', start: async () => undefined, stop: async () => undefined, options: o }) as Plugin,
};
const memory: PluginModule<unknown, CatalogStore> = {
  name: 'memory',
  kind: 'store',
  optionsSchema: Type.Object({}),
  parseOptions: (i) => validate(Type.Object({}, { additionalProperties: false }), i, 'memory'),
  create: () => Object.assign(new CatalogView(), { name: 'memory', start: async () => undefined, stop: async () => undefined, apply: async () => ({ index: 1, changed: 0, rejected: [] }) }),
};
const catalog: PluginCatalog = { stores: { memory }, plugins: { http: fakeSink as PluginModule<unknown, Plugin> } };

const errorOf = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('parseConfig', () => {
  it('reads the documented shape and fills defaults', () => {
    const cfg = parseConfig(
      ['node: local', 'datacenter: dc1', 'store: { plugin: memory }', 'plugins:', '  - plugin: http', '    listen: 127.0.0.1:8500'].join('\n'),
      '/etc/signpost/agent.yaml',
      catalog,
      { env: {} },
    );
    expect(cfg).toMatchObject({ node: 'local', datacenter: 'dc1', nodeAddress: '127.0.0.1', dataDir: '/etc/signpost/data', baseDir: '/etc/signpost', logLevel: 'info' });
    expect(cfg.store.name).toBe('memory');
    expect(cfg.plugins.map((p) => p.name)).toEqual(['http']);
  });

  it('interpolates ${VAR} and ${VAR:-default}, typing unquoted results as YAML would', () => {
    const cfg = parseConfig(
      ['node: ${NODE}', 'datacenter: "${DC:-dc9}"', 'dataDir: $${literal}', 'plugins:', '  - plugin: http', '    listen: ${HOST:-127.0.0.1}:${PORT}'].join('\n'),
      '/x/a.yaml',
      catalog,
      { env: { NODE: 'n7', PORT: '8600' } },
    );
    expect(cfg.node).toBe('n7');
    expect(cfg.datacenter).toBe('dc9');
    expect(cfg.dataDir).toBe('/x/${literal}');
    expect((cfg.plugins[0] as unknown as { options: ListenOptions }).options.listen).toBe('127.0.0.1:8600');
  });

  it('names a variable that is not set, with its line', () => {
    const err = errorOf(() => parseConfig('node: a\ndatacenter: ${DC}\n', '/x/a.yaml', catalog, { env: {} }));
    expect(err.message).toBe('/x/a.yaml:2:13: environment variable DC is not set (write ${DC:-default} to give a default)');
  });

  it.each([
    ['nodes: a\n', '/x/a.yaml:1:1: nodes: unknown key'],
    ['plugins:\n  - plugin: htp\n', '/x/a.yaml:2:5: plugins[0].plugin: unknown plugin "htp" (this app knows: http)'],
    ['plugins:\n  - plugin: http\n    listen: nowhere\n', '/x/a.yaml:3:5: plugins[0].listen: must be host:port (port 0 picks a free port), e.g. 127.0.0.1:8500'],
    ['plugins:\n  - plugin: http\n', '/x/a.yaml:2:5: plugins[0].listen: is required'],
    ['plugins:\n  - plugin: http\n    listen: 127.0.0.1:1\n    ttl: 5\n', '/x/a.yaml:4:5: plugins[0].ttl: must be a Go duration such as 10s, 1m30s or 500ms'],
    ['store: { plugin: redis }\n', '/x/a.yaml:1:10: store.plugin: unknown plugin "redis" (this app knows: memory)'],
    ['node: [a\n', '/x/a.yaml:2:1: '],
    [
      'plugins:\n  - plugin: http\n    listen: 127.0.0.1:1\n  - plugin: http\n    listen: 127.0.0.1:2\n',
      '/x/a.yaml:4:5: plugins[1]: a second plugin named "http" (plugins[0] has it): set a distinct `name`',
    ],
  ])('reports %j as %s', (text, message) => {
    expect(errorOf(() => parseConfig(text, '/x/a.yaml', catalog, { env: {} })).message.startsWith(message)).toBe(true);
  });

  it('reports every problem at once', () => {
    const err = errorOf(() => parseConfig('plugins:\n  - plugin: http\n  - plugin: nope\n', '/x/a.yaml', catalog, { env: {} }));
    expect(err.issues).toHaveLength(2);
  });
});
