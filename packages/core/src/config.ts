import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { isMap, isScalar, isSeq, LineCounter, parse as parseYaml, parseDocument, visit, type Document, type Node as YamlNode, type Scalar } from 'yaml';
import type { CatalogStore, Plugin, PluginModule } from './plugin.js';
import { check, formatIssue, ValidationError, type Issue, type IssuePath } from './validate.js';

/** Short names an app understands in `store: { plugin }` and `plugins: [{ plugin }]`. */
export interface PluginCatalog {
  readonly stores: Readonly<Record<string, PluginModule<unknown, CatalogStore>>>;
  readonly plugins: Readonly<Record<string, PluginModule<unknown, Plugin>>>;
}

const PluginEntrySchema = Type.Object({ plugin: Type.String({ minLength: 1 }) }, { additionalProperties: true });

export const AppConfigSchema = Type.Object(
  {
    node: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' })),
    nodeAddress: Type.Optional(Type.String({ format: 'address', minLength: 1 })),
    datacenter: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' })),
    dataDir: Type.Optional(Type.String({ minLength: 1 })),
    log: Type.Optional(
      Type.Object(
        { level: Type.Optional(Type.Unsafe<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>({ type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] })) },
        { additionalProperties: false },
      ),
    ),
    store: Type.Optional(PluginEntrySchema),
    plugins: Type.Optional(Type.Array(PluginEntrySchema)),
  },
  { additionalProperties: false },
);
export type AppConfig = Static<typeof AppConfigSchema>;

/** A config, checked and with every plugin built (not started). */
export interface LoadedConfig {
  readonly file: string;
  /** Relative paths in the config resolve against this directory. */
  readonly baseDir: string;
  readonly node: string;
  readonly nodeAddress: string;
  readonly datacenter: string;
  readonly dataDir: string;
  readonly logLevel: NonNullable<NonNullable<AppConfig['log']>['level']>;
  readonly store: CatalogStore;
  readonly plugins: readonly Plugin[];
}

/** Where in a file a problem is (1-based), when it can be told. */
export interface ConfigIssue extends Issue {
  readonly line?: number;
  readonly column?: number;
}

/** A config that cannot be used: names the file, and for each problem the line, key path and reason. */
export class ConfigError extends ValidationError {
  constructor(
    readonly file: string,
    override readonly issues: readonly ConfigIssue[],
  ) {
    super(file, issues);
    this.name = 'ConfigError';
    this.message = issues.map((i) => `${file}${i.line ? `:${i.line}:${i.column ?? 1}` : ''}: ${formatIssue(i)}`).join('\n');
  }
}

export interface LoadOptions {
  /** Variables for `${NAME}` and `${NAME:-default}` (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Reads a config file's text, or throws a ConfigError naming it. Returns its absolute path too. */
export function readConfigFile(file: string): { path: string; text: string } {
  const path = resolve(file);
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [{ path: [], message: code === 'ENOENT' ? 'file not found' : `cannot read: ${(err as Error).message}` }]);
  }
}

/** Reads, interpolates, validates and builds an app config file. Throws ConfigError. */
export function loadConfigFile(file: string, catalog: PluginCatalog, options: LoadOptions = {}): LoadedConfig {
  const { path, text } = readConfigFile(file);
  return parseConfig(text, path, catalog, options);
}

/** As loadConfigFile, from text; `file` names it in errors and anchors relative paths. */
export function parseConfig(text: string, file: string, catalog: PluginCatalog, options: LoadOptions = {}): LoadedConfig {
  const raw = readYaml(text, file, options.env ?? process.env);
  const { value, locate } = raw;
  const issues: ConfigIssue[] = check(AppConfigSchema, value).map(locate);
  if (issues.length) throw new ConfigError(file, issues);
  const config = value as AppConfig;

  const build = <P>(
    entry: { plugin: string } & Record<string, unknown>,
    modules: Readonly<Record<string, PluginModule<unknown, P>>>,
    at: IssuePath,
  ): P | undefined => {
    const { plugin: short, ...rest } = entry;
    const module = Object.hasOwn(modules, short) ? modules[short] : undefined;
    if (!module) {
      const known = Object.keys(modules).sort().join(', ') || 'none';
      issues.push(locate({ path: [...at, 'plugin'], message: `unknown plugin "${short}" (this app knows: ${known})` }));
      return undefined;
    }
    try {
      return module.create(module.parseOptions(rest));
    } catch (err) {
      if (err instanceof ValidationError) {
        for (const i of err.issues) issues.push(locate({ path: [...at, ...i.path], message: i.message }));
      } else {
        issues.push(locate({ path: at, message: err instanceof Error ? err.message : String(err) }));
      }
      return undefined;
    }
  };

  const store = build(config.store ?? { plugin: 'memory' }, catalog.stores, ['store']);
  const plugins = (config.plugins ?? []).map((entry, n) => build(entry, catalog.plugins, ['plugins', n]));
  const names = new Map<string, number>();
  for (const [n, p] of plugins.entries()) {
    if (!p) continue;
    const first = names.get(p.name);
    if (first !== undefined) {
      issues.push(locate({ path: ['plugins', n], message: `a second plugin named "${p.name}" (plugins[${first}] has it): set a distinct \`name\`` }));
    } else names.set(p.name, n);
  }
  if (issues.length || !store) throw new ConfigError(file, issues);
  const baseDir = dirname(file);
  return {
    file,
    baseDir,
    node: config.node ?? hostname(),
    nodeAddress: config.nodeAddress ?? '127.0.0.1',
    datacenter: config.datacenter ?? 'dc1',
    dataDir: resolve(baseDir, config.dataDir ?? './data'),
    logLevel: config.log?.level ?? 'info',
    store,
    plugins: plugins.filter((p): p is Plugin => p !== undefined),
  };
}

export interface ReadYaml {
  readonly value: unknown;
  readonly locate: (issue: Issue) => ConfigIssue;
}

/**
 * Parses YAML (or JSON) keeping positions, so `locate` can point an issue at its
 * line. With `env`, interpolates `${NAME}` / `${NAME:-default}` in string values
 * (`$${` is a literal `${`). Substitution happens after parsing, so a variable can
 * never change the document's structure; an unquoted value that becomes a number
 * or boolean is typed as YAML would type it (`port: ${PORT}`).
 */
export function readYaml(text: string, file: string, env?: Readonly<Record<string, string | undefined>>): ReadYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): { line: number; column: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  if (doc.errors.length) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: [], message: e.message.split('\n')[0] ?? e.message, ...at(e.pos[0]) })),
    );
  }
  const issues: ConfigIssue[] = [];
  if (env) visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const result = interpolate(node.value, env, (name) =>
        issues.push({ path: [], message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`, ...at(node.range?.[0] ?? 0) }),
      );
      node.value = node.type === 'PLAIN' ? retype(result) : result;
    },
  });
  if (issues.length) throw new ConfigError(file, issues);
  return {
    value: doc.toJS() ?? {},
    locate: (issue) => {
      const offset = offsetOf(doc, issue.path);
      return offset === undefined ? issue : { ...issue, ...at(offset) };
    },
  };
}

function interpolate(text: string, env: Readonly<Record<string, string | undefined>>, missing: (name: string) => void): string {
  return text.replace(/\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    const value = env[name!];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    missing(name!);
    return '';
  });
}

function retype(text: string): unknown {
  if (text === '') return text;
  try {
    const v: unknown = parseYaml(text);
    return typeof v === 'number' || typeof v === 'boolean' ? v : text;
  } catch {
    return text;
  }
}

/** The offset of the node at `path` (a key when the path ends at a key), or of its deepest existing parent. */
function offsetOf(doc: Document, path: IssuePath): number | undefined {
  let node: YamlNode | null | undefined = doc.contents;
  let offset = node?.range?.[0];
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String((p.key as Scalar).value) === String(part));
      if (!pair) break;
      offset = (pair.key as Scalar).range?.[0] ?? offset;
      node = pair.value as YamlNode | null;
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part] as YamlNode | undefined;
      if (!node) break;
      offset = node.range?.[0] ?? offset;
    } else break;
  }
  return offset;
}
