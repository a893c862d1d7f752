import { formatDuration, parseDuration } from '@signpost/core';

/**
 * Consul's floor for a check's interval (agent/checks: MinInterval): a shorter one
 * is raised to it with a warning. Without it, anyone allowed to register could aim
 * a flood at any address: 52 checks at `"Interval":"1ns"` held the prober and the
 * target at 97% CPU.
 */
export const MIN_INTERVAL_MS = 1000;

export interface CheckTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Set when the interval was raised to the minimum: the warning to log. */
  readonly raised?: string;
}

/**
 * How often a check runs and how long one run may take. An unset or zero
 * timeout is the default, within the interval. A timeout is not otherwise bounded
 * here: a run still in flight at its next turn is skipped (engine.ts), so one
 * check never holds more than one connection to its target.
 */
export function checkTiming(
  definition: { readonly interval?: string; readonly timeout?: string },
  defaultTimeoutMs: number,
  minIntervalMs = MIN_INTERVAL_MS,
): CheckTiming {
  const asked = parseDuration(definition.interval ?? '10s');
  const intervalMs = Math.max(minIntervalMs, asked);
  const timeout = definition.timeout ? parseDuration(definition.timeout) : 0;
  const timeoutMs = timeout > 0 ? timeout : Math.min(defaultTimeoutMs, intervalMs);
  if (asked >= minIntervalMs) return { intervalMs, timeoutMs };
  return { intervalMs, timeoutMs, raised: `interval ${definition.interval} is below the minimum of ${formatDuration(minIntervalMs)}; the check runs every ${formatDuration(minIntervalMs)} (as Consul's agent raises it to 1s)` };
}
