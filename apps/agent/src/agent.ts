import { fileURLToPath } from 'node:url';
import { startApp, type App, type PluginCatalog, type StartAppOptions } from '@signpost/core';
import { plugin as healthPlugin } from '@signpost/health';
import { plugin as dnsPlugin } from '@signpost/sink-dns';
import { plugin as httpPlugin } from '@signpost/sink-http';
import { plugin as proxyPlugin } from '@signpost/sink-proxy';
import { plugin as execPlugin } from '@signpost/source-exec';
import { plugin as nomadPlugin } from '@signpost/source-nomad';
import { plugin as staticPlugin } from '@signpost/source-static';
import { store as memoryStore } from '@signpost/store-memory';

/** The plugins this app can build from config, by short name. */
export const agentCatalog: PluginCatalog = {
  stores: { memory: memoryStore },
  plugins: { static: staticPlugin, nomad: nomadPlugin, exec: execPlugin, dns: dnsPlugin, http: httpPlugin, health: healthPlugin, proxy: proxyPlugin },
};

/** The configuration `npm start` uses when no `--config` is given. */
export const defaultConfigFile = fileURLToPath(new URL('../config/agent.yaml', import.meta.url));

export type Agent = App;
export type StartOptions = Omit<StartAppOptions, 'name'>;

/** Loads a config file and runs the registry it describes. Throws ConfigError on a bad file. */
export function startAgent(configFile: string = defaultConfigFile, options: StartOptions = {}): Promise<Agent> {
  return startApp(configFile, agentCatalog, { ...options, name: 'agent' });
}
