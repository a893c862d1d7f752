export { healthChecker, parseOptions, optionsSchema, plugin, type HealthChecker, type HealthCheckerOptions, type HealthStats } from './health-checker.js';
export { httpProbe, tcpProbe, MAX_OUTPUT, type ProbeResult } from './probes.js';
export { applyResult, type Thresholds, type ThresholdState } from './thresholds.js';
export type { ProbePriority } from './launcher.js';
