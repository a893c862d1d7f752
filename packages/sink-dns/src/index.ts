export { dnsSink, plugin, type DnsSink } from './dns-sink.js';
export { optionsSchema, parseOptions, resolveOptions, ttlRules, type DnsSinkOptions, type ResolvedOptions } from './options.js';
export { parseName, type Lookup } from './names.js';
export { Responder, type Reply } from './responder.js';
export { DnsTable } from './table.js';
export { parseQuery, ResponseWriter, TYPE, RCODE } from './wire.js';
export type { DnsStats } from './server.js';
