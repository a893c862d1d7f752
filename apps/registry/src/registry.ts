import { fileURLToPath } from 'node:url';
import { startApp, type App, type PluginCatalog, type StartAppOptions } from '@signpost/core';
import { plugin as healthPlugin } from '@signpost/health';
import { plugin as dnsPlugin } from '@signpost/sink-dns';
import { plugin as httpPlugin } from '@signpost/sink-http';
import { plugin as nomadPlugin } from '@signpost/source-nomad';
import { plugin as staticPlugin } from '@signpost/source-static';
import { store as memoryStore } from '@signpost/store-memory';
import { store as redisStore } from '@signpost/store-redis';

/** The plugins a registry replica can build from config, by short name. */
export const registryCatalog: PluginCatalog = {
  stores: { redis: redisStore, memory: memoryStore },
  plugins: { http: httpPlugin, dns: dnsPlugin, health: healthPlugin, static: staticPlugin, nomad: nomadPlugin },
};

/** The configuration used when no `--config` is given. */
export const defaultConfigFile = fileURLToPath(new URL('../config/registry.yaml', import.meta.url));

export type RegistryReplica = App;

/** Loads a config file and runs one registry replica. Throws ConfigError on a bad file. */
export function startRegistry(configFile: string = defaultConfigFile, options: Omit<StartAppOptions, 'name'> = {}): Promise<RegistryReplica> {
  return startApp(configFile, registryCatalog, { ...options, name: 'registry replica' });
}
