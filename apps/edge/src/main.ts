#!/usr/bin/env node
import { runCli } from '@signpost/core';
import { defaultConfigFile, startEdge } from './edge.js';

process.exitCode = await runCli({
  name: 'signpost-edge',
  description: 'Runs a Signpost edge: a reverse proxy routed by the tags of the catalog in Redis.',
  defaultConfigFile,
  start: (file) => startEdge(file),
});
// Handles a plugin forgot would keep the process alive; the registry is stopped by now.
setTimeout(() => process.exit(), 100).unref();
