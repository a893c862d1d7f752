import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, parseConfig, readConfigFile, readYaml, type ConfigIssue, type LoadedConfig, type LoadOptions, type PluginCatalog } from './config.js';
import type { CatalogStore, Plugin, PluginModule } from './plugin.js';

class NotFound extends Error {}

/**
 * A path to a file, or to a package's directory: the package is then resolved by
 * its own name from inside it (Node's self-reference), so its `exports` apply.
 */
function resolvePath(target: string): string {
  let pkg: { name?: string } | undefined;
  try {
    pkg = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { name?: string };
  } catch {
    pkg = undefined;
  }
  const require = createRequire(join(target, 'noop.js'));
  return pkg?.name ? require.resolve(pkg.name) : createRequire(join(dirname(target), 'noop.js')).resolve(target);
}

/** True for a value shaped as a PluginModule (what a plugin package exports). */
export function isPluginModule(value: unknown): value is PluginModule<unknown, Plugin | CatalogStore> {
  const m = value as Partial<PluginModule> | undefined;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.name === 'string' &&
    typeof m.kind === 'string' &&
    typeof m.parseOptions === 'function' &&
    typeof m.create === 'function' &&
    typeof m.optionsSchema === 'object'
  );
}

/**
 * Imports `specifier` (a package name, or a path relative to `baseDir`) and
 * returns the PluginModule it exports as `plugin` (sources, sinks), `store`
 * (stores) or as its default export. Throws an Error saying what was wrong.
 */
export async function importPluginModule(specifier: string, baseDir: string, kind: 'store' | 'plugin'): Promise<PluginModule<unknown, Plugin | CatalogStore>> {
  let path: string | undefined;
  const tried: string[] = [];
  const isPath = /^(\.{1,2}\/|\/)/.test(specifier);
  // Next to the config file first (a deployment's own plugins), then where the app is installed.
  for (const from of isPath ? [baseDir] : [baseDir, process.cwd(), dirname(new URL(import.meta.url).pathname)]) {
    try {
      path = isPath ? resolvePath(resolve(baseDir, specifier)) : createRequire(join(from, 'noop.js')).resolve(specifier);
      break;
    } catch (err) {
      tried.push(from);
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw new Error(`cannot load plugin package "${specifier}": ${(err as Error).message}`);
    }
  }
  if (!path) {
    throw new NotFound(`no plugin package "${specifier}" (looked from ${[...new Set(tried)].join(', ')}; install it next to the config or with the app)`);
  }
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`plugin package "${specifier}" failed to load: ${(err as Error).message}`);
  }
  const candidates = kind === 'store' ? [exports['store'], exports['default']] : [exports['plugin'], exports['default']];
  const module = candidates.find(isPluginModule);
  if (!module) {
    throw new Error(
      `plugin package "${specifier}" exports no plugin: expected \`export const ${kind === 'store' ? 'store' : 'plugin'}\` (or a default export), a PluginModule from @signpost/core with name, kind, optionsSchema, parseOptions and create`,
    );
  }
  if ((module.kind === 'store') !== (kind === 'store')) {
    throw new Error(`plugin package "${specifier}" is a ${module.kind} plugin; it cannot be used as ${kind === 'store' ? 'the store' : 'a source or sink'}`);
  }
  return module;
}

/**
 * The app's catalog plus every plugin the config names by package (or path)
 * rather than by a short name the app knows, imported. A package that cannot be
 * loaded, or exports no plugin, is a ConfigError at its line.
 */
export async function withPackagePlugins(file: string, text: string, catalog: PluginCatalog, options: LoadOptions = {}): Promise<PluginCatalog> {
  const { value, locate } = readYaml(text, file, options.env ?? process.env);
  const config = (value ?? {}) as { store?: { plugin?: unknown }; plugins?: Array<{ plugin?: unknown }> };
  const baseDir = dirname(file);
  const stores: Record<string, PluginModule<unknown, CatalogStore>> = { ...catalog.stores };
  const plugins: Record<string, PluginModule<unknown, Plugin>> = { ...catalog.plugins };
  const issues: ConfigIssue[] = [];
  const wanted: Array<{ spec: string; kind: 'store' | 'plugin'; at: (string | number)[] }> = [];
  if (typeof config.store?.plugin === 'string' && !Object.hasOwn(stores, config.store.plugin)) {
    wanted.push({ spec: config.store.plugin, kind: 'store', at: ['store', 'plugin'] });
  }
  for (const [n, entry] of (Array.isArray(config.plugins) ? config.plugins : []).entries()) {
    if (typeof entry?.plugin === 'string' && !Object.hasOwn(plugins, entry.plugin)) {
      wanted.push({ spec: entry.plugin, kind: 'plugin', at: ['plugins', n, 'plugin'] });
    }
  }
  for (const w of wanted) {
    try {
      const module = await importPluginModule(w.spec, baseDir, w.kind);
      if (w.kind === 'store') stores[w.spec] = module as PluginModule<unknown, CatalogStore>;
      else plugins[w.spec] = module as PluginModule<unknown, Plugin>;
    } catch (err) {
      // A bare word that is no installed package is a typo of a short name: the config check says
      // which names this app knows. A scoped name or a path was meant as a package: say why it failed.
      if (!looksLikePackage(w.spec) && err instanceof NotFound) continue;
      issues.push(locate({ path: w.at, message: (err as Error).message }));
    }
  }
  if (issues.length) throw new ConfigError(file, issues);
  return { stores, plugins };
}

/** A scoped package name (`@acme/x`) or a path, as opposed to a bare word that may be a short name. */
function looksLikePackage(spec: string): boolean {
  return spec.includes('/') || spec.startsWith('.');
}

/** As loadConfigFile, also loading plugins the config names by package or path. */
export async function loadAppConfig(file: string, catalog: PluginCatalog, options: LoadOptions = {}): Promise<LoadedConfig> {
  const { path, text } = readConfigFile(file);
  return parseConfig(text, path, await withPackagePlugins(path, text, catalog, options), options);
}
