export { execSource, optionsSchema, parseOptions, plugin, type ExecSource, type ExecSourceOptions, type ExecStats } from './exec-source.js';
export { environment, parseJobsFile, registration, sameProcess, type Job, type Placement } from './jobs.js';
export { parsePortRange, PortAllocator } from './ports.js';
export type { SupervisorStats } from './supervisor.js';
export type { RecoveryReport } from './recovery.js';
export type { AllocRecord } from './records.js';
