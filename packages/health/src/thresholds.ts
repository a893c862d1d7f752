import type { HealthStatus } from '@signpost/core';

/** Where a check stands between results (Consul's status handler, per check). */
export interface ThresholdState {
  readonly status: HealthStatus;
  readonly successes: number;
  readonly failures: number;
}

/**
 * The status after one result, as Consul applies `success_before_passing` and
 * `failures_before_critical`: a passing or warning result moves the check only after
 * that many consecutive successes, a critical one only after that many consecutive
 * failures (0 and 1 both mean "at once").
 */
export function applyResult(
  state: ThresholdState,
  result: HealthStatus,
  thresholds: { readonly successBeforePassing?: number; readonly failuresBeforeCritical?: number },
): ThresholdState {
  if (result === 'critical') {
    const failures = state.failures + 1;
    const status = failures >= (thresholds.failuresBeforeCritical ?? 0) ? 'critical' : state.status;
    return { status, successes: 0, failures };
  }
  const successes = state.successes + 1;
  const status = successes >= (thresholds.successBeforePassing ?? 0) ? result : state.status;
  return { status, successes, failures: 0 };
}
