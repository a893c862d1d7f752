import { BlockList, isIP } from 'node:net';
import { compilePattern, MAX_RULE_PROGRAM_SIZE, PatternError, type PatternTest } from './regex.js';
import { normalizeHost } from './target.js';

/*
 * Traefik's routing rules, in both of its syntaxes, parsed into one tree and
 * compiled into a predicate over the request:
 *
 * - v2/v3: Host(`a.example`) && (PathPrefix(`/api`) || !Method(`POST`))
 *   matchers Host (with `*.` wildcards), HostRegexp, Path, PathPrefix, PathRegexp,
 *   Method, Header, HeaderRegexp, Query, QueryRegexp, ClientIP; values in backticks
 *   or double quotes; v2's several values per matcher are accepted (any may match).
 *   (doc.traefik.io, "Rules & Priority")
 * - v1: Host:a.example,b.example;PathPrefixStrip:/api  — `,` or within a matcher,
 *   `;` and between matchers; the *Strip forms also strip what they matched.
 *   HostRegexp takes gorilla/mux host templates there (`{sub:[a-z]+}.example.com`).
 *   (Traefik 1.7 docs, "Frontends: rules")
 *
 * Patterns are RE2's (Go's regexp), compiled by regex.ts in linear time.
 */

export type Matcher =
  | 'Host'
  | 'HostRegexp'
  | 'Path'
  | 'PathPrefix'
  | 'PathRegexp'
  | 'Method'
  | 'Header'
  | 'HeaderRegexp'
  | 'Query'
  | 'QueryRegexp'
  | 'ClientIP';

export type Rule =
  | { readonly kind: 'and' | 'or'; readonly left: Rule; readonly right: Rule }
  | { readonly kind: 'not'; readonly rule: Rule }
  | { readonly kind: 'match'; readonly matcher: Matcher; readonly args: readonly string[] };

/** What a v1 rule asks besides matching: strip the matched path prefix (PathStrip, PathPrefixStrip). */
export interface V1Rule {
  readonly rule: Rule;
  readonly stripPrefixes: readonly string[];
}

export class RuleError extends Error {
  constructor(message: string, readonly position?: number) {
    super(position === undefined ? message : `${message} (at character ${position + 1})`);
    this.name = 'RuleError';
  }
}

/** Longest rule accepted, in characters: real rules are a few dozen; the parser is recursive. */
export const MAX_RULE_LENGTH = 4096;
/** Deepest nesting of parentheses and `!` accepted in a rule. */
export const MAX_RULE_DEPTH = 32;
/** Most matchers (v1: matcher values joined by `;`, Query values) one rule may hold. */
export const MAX_RULE_MATCHERS = 64;

function checkLength(text: string): void {
  if (text.length > MAX_RULE_LENGTH) throw new RuleError(`a rule of ${text.length} characters is longer than the ${MAX_RULE_LENGTH} accepted`);
}

const ARITY: Record<Matcher, [number, number]> = {
  Host: [1, 64],
  HostRegexp: [1, 64],
  Path: [1, 64],
  PathPrefix: [1, 64],
  PathRegexp: [1, 64],
  Method: [1, 64],
  Header: [2, 2],
  HeaderRegexp: [2, 2],
  Query: [1, 2],
  QueryRegexp: [2, 2],
  ClientIP: [1, 64],
};

type Token = { kind: 'name' | 'value'; text: string; at: number } | { kind: 'op'; text: '&&' | '||' | '!' | '(' | ')' | ','; at: number } | { kind: 'end'; at: number };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (text.startsWith('&&', i) || text.startsWith('||', i)) {
      out.push({ kind: 'op', text: text.slice(i, i + 2) as '&&' | '||', at: i });
      i += 2;
    } else if ('!(),'.includes(c)) {
      out.push({ kind: 'op', text: c as '!' | '(' | ')' | ',', at: i });
      i++;
    } else if (c === '`' || c === '"') {
      const start = i++;
      let value = '';
      while (i < text.length && text[i] !== c) {
        if (c === '"' && text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i++];
      }
      if (i >= text.length) throw new RuleError('unterminated value', start);
      i++;
      out.push({ kind: 'value', text: value, at: start });
    } else if (c === "'") {
      throw new RuleError("single quotes are not accepted: use backticks or double quotes", i);
    } else {
      // Bare words run through dots and slashes, so an unquoted value is reported whole.
      const m = /^[A-Za-z0-9_.\-/:*]+/.exec(text.slice(i));
      if (!m) throw new RuleError(`unexpected "${c}"`, i);
      out.push({ kind: 'name', text: m[0], at: i });
      i += m[0].length;
    }
  }
  out.push({ kind: 'end', at: text.length });
  return out;
}

/** Parses a Traefik v2/v3 rule. */
export function parseRule(text: string): Rule {
  checkLength(text);
  const tokens = tokenize(text);
  let pos = 0;
  let depth = 0;
  let matchers = 0;
  const budget: Budget = { instructions: 0 };
  const deeper = (at: number): void => {
    if (++depth > MAX_RULE_DEPTH) throw new RuleError(`the rule nests parentheses and "!" deeper than the ${MAX_RULE_DEPTH} levels accepted`, at);
  };
  const peek = (): Token => tokens[pos]!;
  const next = (): Token => tokens[pos++]!;
  const isOp = (t: Token, op: string): boolean => t.kind === 'op' && t.text === op;

  const or = (): Rule => {
    let left = and();
    while (isOp(peek(), '||')) {
      next();
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const and = (): Rule => {
    let left = unary();
    while (isOp(peek(), '&&')) {
      next();
      left = { kind: 'and', left, right: unary() };
    }
    return left;
  };
  const unary = (): Rule => {
    const t = peek();
    if (isOp(t, '!')) {
      next();
      deeper(t.at);
      const rule = unary();
      depth--;
      return { kind: 'not', rule };
    }
    if (isOp(t, '(')) {
      next();
      deeper(t.at);
      const r = or();
      depth--;
      const close = next();
      if (!isOp(close, ')')) throw new RuleError('expected ")"', close.at);
      return r;
    }
    return matcher();
  };
  const matcher = (): Rule => {
    const name = next();
    if (++matchers > MAX_RULE_MATCHERS) throw new RuleError(`the rule holds more than the ${MAX_RULE_MATCHERS} matchers accepted`, name.at);
    if (name.kind !== 'name') throw new RuleError(`expected a matcher such as Host(\`example.com\`), not ${describe(name)}`, name.at);
    const m = canonical(name.text);
    if (!m) throw new RuleError(`unknown matcher "${name.text}"`, name.at);
    const open = next();
    if (!isOp(open, '(')) throw new RuleError(`expected "(" after ${m}`, open.at);
    const args: string[] = [];
    for (;;) {
      const v = next();
      if (v.kind !== 'value') throw new RuleError(`expected a value in backticks for ${m}, not ${describe(v)}`, v.at);
      args.push(v.text);
      const sep = next();
      if (isOp(sep, ')')) break;
      if (!isOp(sep, ',')) throw new RuleError(`expected "," or ")" in ${m}`, sep.at);
    }
    const [min, max] = ARITY[m];
    if (args.length < min || args.length > max) throw new RuleError(`${m} takes ${min === max ? min : `${min} to ${max}`} value${max > 1 ? 's' : ''}, not ${args.length}`, name.at);
    checkArgs(m, args, name.at, budget);
    return { kind: 'match', matcher: m, args };
  };

  const rule = or();
  const end = peek();
  if (end.kind !== 'end') throw new RuleError(`unexpected ${describe(end)}`, end.at);
  return rule;
}

const V1: Record<string, { matcher: Matcher; strip?: true; pairs?: true }> = {
  host: { matcher: 'Host' },
  hostregexp: { matcher: 'HostRegexp' },
  path: { matcher: 'Path' },
  pathstrip: { matcher: 'Path', strip: true },
  pathprefix: { matcher: 'PathPrefix' },
  pathprefixstrip: { matcher: 'PathPrefix', strip: true },
  method: { matcher: 'Method' },
  headers: { matcher: 'Header', pairs: true },
  headersregexp: { matcher: 'HeaderRegexp', pairs: true },
  query: { matcher: 'Query' },
};

/** Parses a Traefik v1 frontend rule: `Host:a,b;PathPrefixStrip:/x/`. */
export function parseV1Rule(text: string): V1Rule {
  checkLength(text);
  const parts = text.split(';').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new RuleError('an empty rule');
  let matchers = 0;
  const budget: Budget = { instructions: 0 };
  const rules: Rule[] = [];
  const stripPrefixes: string[] = [];
  for (const part of parts) {
    const colon = part.indexOf(':');
    if (colon <= 0) throw new RuleError(`"${part}" is not Matcher:value`);
    const name = part.slice(0, colon).trim();
    const spec = V1[name.toLowerCase()];
    if (!spec) throw new RuleError(`unknown v1 matcher "${name}"`);
    const values = part.slice(colon + 1).split(',').map((v) => v.trim()).filter(Boolean);
    if (values.length === 0) throw new RuleError(`${name} needs a value`);
    matchers += spec.matcher === 'Query' ? values.length : 1;
    if (matchers > MAX_RULE_MATCHERS) throw new RuleError(`the rule holds more than the ${MAX_RULE_MATCHERS} matchers accepted`);
    let rule: Rule;
    if (spec.pairs) {
      if (values.length !== 2) throw new RuleError(`${name} takes a name and a value: ${name}:X-Key,value`);
      rule = { kind: 'match', matcher: spec.matcher, args: values };
    } else if (spec.matcher === 'Query') {
      rule = values.map((v): Rule => ({ kind: 'match', matcher: 'Query', args: v.includes('=') ? v.split('=', 2) : [v] })).reduce((l, r) => ({ kind: 'or', left: l, right: r }));
    } else if (spec.matcher === 'HostRegexp') {
      rule = { kind: 'match', matcher: 'HostRegexp', args: values.map(hostTemplate) };
    } else {
      rule = { kind: 'match', matcher: spec.matcher, args: values };
    }
    checkArgs(spec.matcher, spec.pairs ? values : rule.kind === 'match' ? rule.args : values.slice(0, 1), 0, budget);
    if (spec.strip) stripPrefixes.push(...values);
    rules.push(rule);
  }
  return { rule: rules.reduce((l, r) => ({ kind: 'and', left: l, right: r })), stripPrefixes };
}

/**
 * A Traefik 1.7 HostRegexp value is a gorilla/mux host template, not a bare pattern:
 * `{name}` is one label (`[^.]+`), `{name:pattern}` is the pattern, the rest is literal,
 * and the whole host must match (any port aside). Turned here into one anchored pattern.
 */
export function hostTemplate(template: string): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      out += quoteMeta(template.slice(i));
      break;
    }
    out += quoteMeta(template.slice(i, open));
    let depth = 0;
    let close = open;
    for (; close < template.length; close++) {
      if (template[close] === '{') depth++;
      else if (template[close] === '}' && --depth === 0) break;
    }
    if (depth !== 0) throw new RuleError(`HostRegexp: unbalanced braces in ${JSON.stringify(template)}`);
    const inner = template.slice(open + 1, close);
    const colon = inner.indexOf(':');
    const name = colon < 0 ? inner : inner.slice(0, colon);
    if (!/^[A-Za-z0-9_]*$/.test(name)) throw new RuleError(`HostRegexp: bad variable name ${JSON.stringify(name)} in ${JSON.stringify(template)}`);
    out += colon < 0 ? '[^.]+' : `(?:${inner.slice(colon + 1)})`;
    i = close + 1;
  }
  return `^${out}(?::[0-9]+)?$`;
}

function quoteMeta(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function canonical(name: string): Matcher | undefined {
  return (Object.keys(ARITY) as Matcher[]).find((m) => m.toLowerCase() === name.toLowerCase());
}

/** Instructions the rule's patterns take so far, checked against MAX_RULE_PROGRAM_SIZE. */
interface Budget {
  instructions: number;
}

function checkArgs(m: Matcher, args: readonly string[], at: number, budget: Budget): void {
  if (m.endsWith('Regexp')) {
    for (const a of m === 'HostRegexp' || m === 'PathRegexp' ? args : args.slice(1)) {
      try {
        budget.instructions += compilePattern(a).programSize;
        if (budget.instructions > MAX_RULE_PROGRAM_SIZE) throw new RuleError(`the rule's regular expressions compile to more than the ${MAX_RULE_PROGRAM_SIZE} instructions accepted in all`, at);
      } catch (err) {
        if (err instanceof RuleError) throw err;
        if (!(err instanceof PatternError)) throw err;
        throw new RuleError(`${m}: invalid regular expression ${JSON.stringify(a)} (RE2 syntax, as Go's regexp): ${err.message}`, at);
      }
    }
  }
  if ((m === 'Path' || m === 'PathPrefix') && args.some((a) => !a.startsWith('/'))) throw new RuleError(`${m}: a path starts with "/"`, at);
  if (m === 'ClientIP' && args.some((a) => isIP(a.split('/')[0]!) === 0)) throw new RuleError('ClientIP: expects IP addresses or CIDR ranges', at);
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'the end of the rule' : `"${t.text}"`;
}

/** The parts of a request a rule looks at. */
export interface RequestFacts {
  /** The request's host (an absolute-form target's authority, else the Host header); Host() and HostRegexp normalise it. */
  readonly host: string;
  /** Percent-decoded and cleaned (target.ts). */
  readonly path: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly query: URLSearchParams;
  readonly clientIp: string;
}

/** Compiles a rule into a predicate. Regexps and CIDR lists are built once, here. */
export function compileRule(rule: Rule): (req: RequestFacts) => boolean {
  switch (rule.kind) {
    case 'and': {
      const l = compileRule(rule.left);
      const r = compileRule(rule.right);
      return (req) => l(req) && r(req);
    }
    case 'or': {
      const l = compileRule(rule.left);
      const r = compileRule(rule.right);
      return (req) => l(req) || r(req);
    }
    case 'not': {
      const inner = compileRule(rule.rule);
      return (req) => !inner(req);
    }
    case 'match':
      return compileMatcher(rule.matcher, rule.args);
  }
}

function compileMatcher(m: Matcher, args: readonly string[]): (req: RequestFacts) => boolean {
  const header = (req: RequestFacts, name: string): string[] => {
    const v = req.headers[name.toLowerCase()];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  switch (m) {
    case 'Host': {
      const hosts = args.map((h) => h.toLowerCase());
      return (req) => hosts.some((h) => hostMatches(h, req.host));
    }
    case 'HostRegexp': {
      const res: PatternTest[] = args.map((a) => compilePattern(a, { caseInsensitive: true }));
      // The host Host() sees: lowercased, without port and trailing dot (target.ts).
      return (req) => {
        const host = normalizeHost(req.host);
        return res.some((test) => test(host));
      };
    }
    case 'Path':
      return (req) => args.includes(req.path);
    case 'PathPrefix':
      return (req) => args.some((p) => req.path.startsWith(p));
    case 'PathRegexp': {
      const res: PatternTest[] = args.map((a) => compilePattern(a));
      return (req) => res.some((test) => test(req.path));
    }
    case 'Method': {
      const methods = args.map((a) => a.toUpperCase());
      return (req) => methods.includes(req.method.toUpperCase());
    }
    case 'Header':
      return (req) => header(req, args[0]!).includes(args[1]!);
    case 'HeaderRegexp': {
      const test = compilePattern(args[1]!);
      return (req) => header(req, args[0]!).some((v) => test(v));
    }
    case 'Query':
      return args.length === 1 ? (req) => req.query.has(args[0]!) : (req) => req.query.getAll(args[0]!).includes(args[1]!);
    case 'QueryRegexp': {
      const test = compilePattern(args[1]!);
      return (req) => req.query.getAll(args[0]!).some((v) => test(v));
    }
    case 'ClientIP': {
      const list = new BlockList();
      for (const a of args) {
        const [ip, bits] = a.split('/') as [string, string | undefined];
        const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
        if (bits === undefined) list.addAddress(ip, family);
        else list.addSubnet(ip, Number(bits), family);
      }
      return (req) => {
        const ip = req.clientIp.replace(/^::ffff:/, '');
        return isIP(ip) !== 0 && list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
      };
    }
  }
}

/** `Host` with Traefik's wildcards: `*.example.com` one label, `**.example.com` any depth. */
function hostMatches(pattern: string, host: string): boolean {
  const h = normalizeHost(host);
  if (pattern.startsWith('**.')) return h.endsWith(pattern.slice(2)) && h.length > pattern.length - 2;
  if (pattern.startsWith('*.')) {
    const rest = pattern.slice(1);
    return h.endsWith(rest) && !h.slice(0, h.length - rest.length).includes('.') && h.length > rest.length;
  }
  return h === pattern;
}
