import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, type LoadedConfig, type PluginCatalog } from './config.js';
import { loadAppConfig } from './packages.js';
import { createLogger, type Logger } from './logger.js';
import { createRegistry, type Registry } from './registry.js';

/** A registry running from a config file: what `startApp` returns. */
export interface App {
  readonly config: LoadedConfig;
  readonly registry: Registry;
  readonly logger: Logger;
  stop(): Promise<void>;
}

export interface StartAppOptions {
  /** Variables for `${NAME}` in the file (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Overrides the logger built from the config's `log.level`. */
  readonly logger?: Logger;
  /** What the log line after start calls this app (default "app"). */
  readonly name?: string;
}

/**
 * Loads a config file against the plugins an app knows, plus any it names by
 * package (`plugin: "@acme/signpost-sink-webhook"`) or path, and runs the registry
 * it describes. Throws ConfigError, naming file, line and key, on a bad file, a
 * package that cannot be loaded or exports no plugin, or options it rejects.
 */
export async function startApp(configFile: string, catalog: PluginCatalog, options: StartAppOptions = {}): Promise<App> {
  const config = await loadAppConfig(configFile, catalog, options.env ? { env: options.env } : {});
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  await mkdir(config.dataDir, { recursive: true });
  const registry = createRegistry({
    store: config.store,
    plugins: config.plugins,
    logger,
    node: config.node,
    nodeAddress: config.nodeAddress,
    datacenter: config.datacenter,
    dataDir: config.dataDir,
    baseDir: config.baseDir,
  });
  await registry.start();
  logger.info({ config: config.file, node: config.node, datacenter: config.datacenter }, `${options.name ?? 'app'} running`);
  return { config, registry, logger, stop: () => registry.stop() };
}

export interface CliOptions {
  /** The command's name, as in usage and error lines (`signpost-agent`). */
  readonly name: string;
  /** One paragraph for `--help`. */
  readonly description: string;
  readonly defaultConfigFile: string;
  readonly start: (configFile: string) => Promise<App>;
  /** How long shutdown may take before the process gives up (default 5 s). */
  readonly graceMs?: number;
}

/**
 * The `main` of an app: `--config`, `--help`, a clean stop on SIGINT/SIGTERM
 * within a grace period. Resolves with the exit code: 0 after a clean stop, 2 for
 * bad arguments or configuration, 1 when starting or stopping failed.
 */
export async function runCli(options: CliOptions): Promise<number> {
  const usage = `Usage: ${options.name} [--config <file>]

${options.description}
  --config <file>  YAML config (default: ${options.defaultConfigFile})
  --help           show this help`;
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  let app: App;
  try {
    app = await options.start(args.values.config ?? options.defaultConfigFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${options.name}: bad configuration\n${err.message}\n`);
      return 2;
    }
    createLogger().error({ err }, `${options.name} failed to start`);
    return 1;
  }
  const graceMs = options.graceMs ?? 5000;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      // Under `npm start`, Ctrl-C reaches us twice (from the terminal and forwarded
      // by npm); the grace timer below bounds shutdown, so repeats are ignored.
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        app.logger.error({ graceMs }, 'shutdown took too long; exiting');
        resolve(1);
      }, graceMs);
      force.unref();
      app.stop().then(
        () => {
          clearTimeout(force);
          resolve(0);
        },
        (err: unknown) => {
          app.logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}
