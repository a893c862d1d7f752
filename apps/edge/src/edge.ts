import { fileURLToPath } from 'node:url';
import { startApp, type App, type PluginCatalog, type StartAppOptions } from '@signpost/core';
import { plugin as proxyPlugin } from '@signpost/sink-proxy';
import { store as redisStore } from '@signpost/store-redis';

/** The plugins an edge can build from config, by short name. */
export const edgeCatalog: PluginCatalog = {
  stores: { redis: redisStore },
  plugins: { proxy: proxyPlugin },
};

/** The configuration used when no `--config` is given. */
export const defaultConfigFile = fileURLToPath(new URL('../config/edge.yaml', import.meta.url));

export type Edge = App;

/** Loads a config file and runs an edge proxy. Throws ConfigError on a bad file. */
export function startEdge(configFile: string = defaultConfigFile, options: Omit<StartAppOptions, 'name'> = {}): Promise<Edge> {
  return startApp(configFile, edgeCatalog, { ...options, name: 'edge' });
}
