import parse from 'parse-duration';

// parse-duration accepts prose ("1 hour 20 mins"); Consul and Nomad speak Go's
// time.ParseDuration grammar only, so the form is checked first and the
// arithmetic is left to the library.
const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/;

export class DurationError extends Error {
  constructor(readonly input: string) {
    super(`invalid duration ${JSON.stringify(input)}: expected Go form such as 10s, 1m30s or 500ms`);
    this.name = 'DurationError';
  }
}

/** Go's longest duration (2^63-1 ns, about 292 years): time.ParseDuration refuses a longer one. */
export const MAX_DURATION_MS = 9_223_372_036_854.775;

/** True when `text` is a Go duration (`0` alone is allowed, as in Go) that Go could hold. */
export function isDuration(text: string): boolean {
  if (text === '0') return true;
  if (!GO_DURATION.test(text)) return false;
  const ms = parse(text.replace(/[μ]s/g, 'us'), 'ms');
  return typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) <= MAX_DURATION_MS;
}

/** Parses a Go/Consul duration (`10s`, `1m30s`, `500ms`, `1.5h`) into milliseconds. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (!GO_DURATION.test(text)) throw new DurationError(text);
  const ms = parse(text.replace(/[μ]s/g, 'us'), 'ms');
  if (ms === null || ms === undefined || !Number.isFinite(ms) || Math.abs(ms) > MAX_DURATION_MS) throw new DurationError(text);
  return ms;
}

/** Formats milliseconds the way Go prints a time.Duration (`1m30s`, `500ms`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${trim(rest)}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${trim(s)}s`;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}
