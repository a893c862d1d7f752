export interface BackoffOptions {
  /** First delay in ms (default 200). */
  readonly initialMs?: number;
  /** Ceiling in ms (default 30 s). */
  readonly maxMs?: number;
  /** Random share of each delay, 0..1 (default 0.2), so restarts do not synchronize. */
  readonly jitter?: number;
}

/** Capped exponential backoff with jitter; `attempt` counts from 1. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 200;
  const max = options.maxMs ?? 30_000;
  const jitter = options.jitter ?? 0.2;
  const base = Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - jitter + jitter * random()));
}
