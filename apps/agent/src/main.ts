#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, createLogger } from '@signpost/core';
import { defaultConfigFile, startAgent } from './agent.js';

const USAGE = `Usage: signpost-agent [--config <file>]

Runs a Signpost agent: the catalog, its sources and sinks, as the config file says.
  --config <file>  YAML config (default: ${defaultConfigFile})
  --help           show this help`;

const SHUTDOWN_GRACE_MS = 5000;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let agent;
  try {
    agent = await startAgent(args.values.config ?? defaultConfigFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`signpost-agent: bad configuration\n${err.message}\n`);
      return 2;
    }
    createLogger().error({ err }, 'agent failed to start');
    return 1;
  }
  const running = agent;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      // Under `npm start`, Ctrl-C reaches us twice (from the terminal and forwarded
      // by npm); the grace timer below bounds shutdown, so repeats are ignored.
      if (stopping) return;
      stopping = true;
      running.logger.info({ signal }, 'shutting down');
      // Whatever hangs, the process is gone within the grace period.
      const force = setTimeout(() => {
        running.logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown took too long; exiting');
        resolve(1);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      running.stop().then(
        () => {
          clearTimeout(force);
          resolve(0);
        },
        (err: unknown) => {
          running.logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}

process.exitCode = await main();
// Handles a plugin forgot would keep the process alive; the registry is stopped by now.
setTimeout(() => process.exit(), 100).unref();
