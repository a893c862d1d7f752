export { httpSink, plugin, CONSUL_VERSION, type HttpSink, type HttpSinkTuning } from './http-sink.js';
export { optionsSchema, parseOptions, type HttpSinkOptions } from './options.js';
export { catalogServiceEntry, healthEntry, agentService, nodeId } from './format.js';
export { decodeAgentService, decodeCatalogRegistration, DecodeError } from './decode.js';
export { Waiters } from './blocking.js';
export { RegistrationLog, type RegistrationLogOptions, type LogStats, type LoadReport, type CompactionStep, type FsyncMode } from './registration-log.js';
export { encodeRecord, decodeRecords, type LogRecord, type Registration, type Decoded, type Damage } from './log-record.js';
