#!/usr/bin/env node
import { runCli } from '@signpost/core';
import { defaultConfigFile, startAgent } from './agent.js';

process.exitCode = await runCli({
  name: 'signpost-agent',
  description: 'Runs a Signpost agent: the catalog, its sources and sinks, as the config file says.',
  defaultConfigFile,
  start: (file) => startAgent(file),
});
// Handles a plugin forgot would keep the process alive; the registry is stopped by now.
setTimeout(() => process.exit(), 100).unref();
