#!/usr/bin/env node
import { runCli } from '@signpost/core';
import { defaultConfigFile, startRegistry } from './registry.js';

process.exitCode = await runCli({
  name: 'signpost-registry',
  description: 'Runs one Signpost registry replica: the catalog in Redis, served by the HTTP API and DNS, with health checks.',
  defaultConfigFile,
  start: (file) => startRegistry(file),
});
// Handles a plugin forgot would keep the process alive; the registry is stopped by now.
setTimeout(() => process.exit(), 100).unref();
