export { httpSink, plugin, CONSUL_VERSION, type HttpSink } from './http-sink.js';
export { optionsSchema, parseOptions, type HttpSinkOptions } from './options.js';
export { catalogServiceEntry, healthEntry, agentService, nodeId } from './format.js';
export { decodeAgentService, decodeCatalogRegistration, DecodeError } from './decode.js';
export { Waiters } from './blocking.js';
