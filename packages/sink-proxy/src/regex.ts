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
/**
 * RE2's own measure of a compiled pattern's cost (instructions). Matching takes time in
 * proportion to it times the input's length, and past about 100 instructions RE2JS's DFA
 * can be made to run out of memory on an 8 KiB input and fall back to its NFA, about
 * 50 times slower: 80 keeps the worst pattern under a few milliseconds on the longest
 * input a regex sees (README, Performance). Real routing patterns take 10 to 70.
 */
export const MAX_PROGRAM_SIZE = 80;
/** The instructions all the patterns of one rule may take together. */
export const MAX_RULE_PROGRAM_SIZE = 4 * MAX_PROGRAM_SIZE;

export class PatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatternError';
  }
}

/** A compiled pattern: true when it matches anywhere in the input, as Go's MatchString. */
export type PatternTest = ((input: string) => boolean) & { readonly programSize: number };

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
  return Object.assign((input: string) => re.test(input), { programSize: size });
}
