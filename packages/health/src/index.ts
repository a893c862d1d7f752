export { healthChecker, parseOptions, optionsSchema, plugin, type HealthChecker, type HealthCheckerOptions, type HealthStats } from './health-checker.js';
export { httpProbe, tcpProbe, probeAgents, MAX_OUTPUT, type ProbeAgents, type ProbeResult } from './probes.js';
export type { ProbeTls } from './check-tls.js';
export { applyResult, type Thresholds, type ThresholdState } from './thresholds.js';
export type { ProbePriority } from './launcher.js';
