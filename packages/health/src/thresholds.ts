import type { HealthStatus } from '@signpost/core';

/** Where a check stands between results (Consul's status handler, per check). */
export interface ThresholdState {
  readonly status: HealthStatus;
  readonly successes: number;
  readonly failures: number;
}

/** The thresholds a check definition may set (Consul's names in camelCase). */
export interface Thresholds {
  readonly successBeforePassing?: number;
  readonly failuresBeforeWarning?: number;
  readonly failuresBeforeCritical?: number;
}

/**
 * The status after one result, as Consul's status handler applies the thresholds: a
 * passing or warning result moves the check only after `successBeforePassing`
 * consecutive successes; a critical one turns it critical after
 * `failuresBeforeCritical` consecutive failures, and warning (with the failure's
 * output) from `failuresBeforeWarning` failures on, which unset or 0 means the same as
 * `failuresBeforeCritical` (agent.go: "FailuresBeforeWarning has to default to same
 * value as FailuresBeforeCritical"). 0 and 1 both mean "at once".
 *
 * Counting starts at zero for a new check, as Consul's documentation describes the
 * thresholds ("number of consecutive successful results required before check status
 * transitions to passing"). Consul's code starts its counters at the thresholds
 * instead (`NewStatusHandler`), so there a new check's first result applies at once
 * whatever they say: the behaviour reported as a bug in hashicorp/nomad#9189, whose
 * fix (hashicorp/consul#10256) was not merged. Here an instance registered with
 * `successBeforePassing: 3` gets traffic after three passing runs, as written.
 */
export function applyResult(state: ThresholdState, result: HealthStatus, thresholds: Thresholds): ThresholdState {
  if (result === 'critical') {
    const failures = state.failures + 1;
    const critical = thresholds.failuresBeforeCritical ?? 0;
    const warning = thresholds.failuresBeforeWarning || critical;
    const status = failures >= critical ? 'critical' : failures >= warning ? 'warning' : state.status;
    return { status, successes: 0, failures };
  }
  const successes = state.successes + 1;
  const status = successes >= (thresholds.successBeforePassing ?? 0) ? result : state.status;
  return { status, successes, failures: 0 };
}
