import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createLogger, createRegistry, loadConfigFile, type LoadedConfig, type Logger, type PluginCatalog, type Registry } from '@signpost/core';
import { plugin as healthPlugin } from '@signpost/health';
import { plugin as dnsPlugin } from '@signpost/sink-dns';
import { plugin as httpPlugin } from '@signpost/sink-http';
import { plugin as proxyPlugin } from '@signpost/sink-proxy';
import { plugin as staticPlugin } from '@signpost/source-static';
import { store as memoryStore } from '@signpost/store-memory';

/** The plugins this app can build from config, by short name. Sinks join as they land. */
export const agentCatalog: PluginCatalog = {
  stores: { memory: memoryStore },
  plugins: { static: staticPlugin, dns: dnsPlugin, http: httpPlugin, health: healthPlugin, proxy: proxyPlugin },
};

/** The configuration `npm start` uses when no `--config` is given. */
export const defaultConfigFile = fileURLToPath(new URL('../config/agent.yaml', import.meta.url));

export interface Agent {
  readonly config: LoadedConfig;
  readonly registry: Registry;
  readonly logger: Logger;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Overrides the logger built from the config's `log.level`. */
  readonly logger?: Logger;
}

/** Loads a config file and runs the registry it describes. Throws ConfigError on a bad file. */
export async function startAgent(configFile: string = defaultConfigFile, options: StartOptions = {}): Promise<Agent> {
  const config = loadConfigFile(configFile, agentCatalog, options.env ? { env: options.env } : {});
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
  logger.info({ config: config.file, node: config.node, datacenter: config.datacenter }, 'agent running');
  return { config, registry, logger, stop: () => registry.stop() };
}
