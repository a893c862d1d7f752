import { RE2JS } from 're2js';

/*
 * Every regular expression a tag supplies (HostRegexp, PathRegexp, HeaderRegexp,
 * QueryRegexp, v1 HostRegexp and HeadersRegexp) is compiled here, by RE2JS: a port
 * of RE2/J, so the syntax is Go's regexp package, the one Traefik compiles these
 * matchers with (pkg/muxer/http/matcher.go: regexp.Compile), and matching takes time
 * linear in the input. JavaScript's own RegExp backtracks: ``PathRegexp(`^/(a+)+$`)``
 * against `/aaaa…a!` held the event loop for seconds, and any tag author could write it.
 * What RE2 refuses (backreferences, lookaround) is a RuleError, so the router is dropped
 * with the reason instead of falling back to a backtracking engine.
 */

/** Longest pattern accepted: far beyond any routing rule, short enough to bound compilation. */
export const MAX_PATTERN_LENGTH = 4096;
/** RE2's own measure of a compiled pattern's cost (instructions); bounds memory per router. */
export const MAX_PROGRAM_SIZE = 20_000;

export class PatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatternError';
  }
}

/** A compiled pattern: true when it matches anywhere in the input, as Go's MatchString. */
export type PatternTest = (input: string) => boolean;

export function compilePattern(source: string, options: { caseInsensitive?: boolean } = {}): PatternTest {
  if (source.length > MAX_PATTERN_LENGTH) throw new PatternError(`a pattern of ${source.length} characters is longer than the ${MAX_PATTERN_LENGTH} accepted`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(source, options.caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    // RE2JS's messages are Go's ("error parsing regexp: invalid escape sequence: `\1`").
    throw new PatternError((err as Error).message);
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) throw new PatternError(`the pattern compiles to ${size} instructions, more than the ${MAX_PROGRAM_SIZE} accepted`);
  return (input) => re.test(input);
}
