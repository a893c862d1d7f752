/*
 * Consul's filter expressions (`?filter=`), as documented for its HTTP API:
 *
 *   <Selector> == <Value>          <Selector> != <Value>
 *   <Selector> is empty            <Selector> is not empty
 *   <Value> in <Selector>          <Value> not in <Selector>
 *   <Selector> contains <Value>    <Selector> not contains <Value>
 *   <Selector> matches <Value>     <Selector> not matches <Value>
 *   <expr> and <expr>, <expr> or <expr>, not <expr>, ( <expr> )
 *
 * Selectors are field paths over the JSON Consul returns (`ServiceMeta.version`,
 * `Meta["external-source"]`); values are "double-quoted", `backquoted`, or a bare
 * word. A selector that crosses a list (`Checks.Status`) matches when any element
 * matches. Parsed once into a predicate; errors are FilterError with the position.
 */
import { RE2JS } from 're2js';

/** Longest `matches` pattern accepted: far past any real filter, short enough to bound compiling it. */
const MAX_PATTERN_LENGTH = 4096;
/**
 * RE2's measure of a compiled pattern (instructions). re2js's time is linear in the input
 * but multiplied by the threads the program may run at once, up to its size: a pattern of
 * 20,000 instructions took 5 s on a 15 KB value, and past about 100 instructions an
 * adversarial pattern can push re2js onto its slow engine for good (100 ms and more a match
 * on 8 KiB; the proxy's measurements, packages/sink-proxy/scripts/measure-regex.mjs). At 80,
 * with MAX_MATCH_INPUT, one value costs at most about 2 ms; real filters take 10 to 60.
 */
const MAX_PROGRAM_SIZE = 80;
/** Longest value a pattern is matched against: a longer one makes the filter an error (400), not a slow answer. */
const MAX_MATCH_INPUT = 8192;
/** Longest expression, and deepest nesting of parentheses and `not`: the parser and evaluator recurse. */
const MAX_EXPRESSION_LENGTH = 4096;
const MAX_DEPTH = 32;

export class FilterError extends Error {
  constructor(message: string, readonly position?: number) {
    super(position === undefined ? message : `${message} (at character ${position + 1})`);
    this.name = 'FilterError';
  }
}

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'string'; text: string; at: number }
  | { kind: 'op'; text: '==' | '!=' | '(' | ')' | '.' | '[' | ']'; at: number }
  | { kind: 'end'; at: number };

type Selector = readonly string[];

type Expr =
  | { kind: 'and' | 'or'; left: Expr; right: Expr }
  | { kind: 'not'; expr: Expr }
  | { kind: 'eq' | 'ne'; selector: Selector; value: string }
  | { kind: 'empty'; selector: Selector; negate: boolean }
  | { kind: 'in'; selector: Selector; value: string; negate: boolean }
  | { kind: 'matches'; selector: Selector; pattern: RE2JS; negate: boolean };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '=' || c === '!') {
      if (text[i + 1] !== '=') throw new FilterError(`unexpected "${c}"; did you mean "${c}="?`, i);
      out.push({ kind: 'op', text: c === '=' ? '==' : '!=', at: i });
      i += 2;
      continue;
    }
    if ('().[]'.includes(c)) {
      out.push({ kind: 'op', text: c as '(' | ')' | '.' | '[' | ']', at: i });
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      const start = i++;
      let value = '';
      while (i < text.length && text[i] !== c) {
        if (c === '"' && text[i] === '\\' && i + 1 < text.length) {
          const next = text[i + 1]!;
          value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
          i += 2;
        } else value += text[i++];
      }
      if (i >= text.length) throw new FilterError('unterminated string', start);
      i++;
      out.push({ kind: 'string', text: value, at: start });
      continue;
    }
    const m = /^[A-Za-z0-9_\-:/@+*]+/.exec(text.slice(i));
    if (!m) throw new FilterError(`unexpected "${c}"`, i);
    out.push({ kind: 'word', text: m[0], at: i });
    i += m[0].length;
  }
  out.push({ kind: 'end', at: text.length });
  return out;
}

class Parser {
  #pos = 0;
  constructor(private readonly tokens: Token[]) {}

  #peek(offset = 0): Token {
    return this.tokens[Math.min(this.#pos + offset, this.tokens.length - 1)]!;
  }
  #next(): Token {
    return this.tokens[this.#pos++]!;
  }
  #isWord(t: Token, w: string): boolean {
    return t.kind === 'word' && t.text.toLowerCase() === w;
  }
  #expectWord(w: string): void {
    const t = this.#next();
    if (!this.#isWord(t, w)) throw new FilterError(`expected "${w}"`, t.at);
  }

  parse(): Expr {
    const e = this.#or();
    const t = this.#peek();
    if (t.kind !== 'end') throw new FilterError(`unexpected ${describe(t)}`, t.at);
    return e;
  }

  #or(): Expr {
    let left = this.#and();
    while (this.#isWord(this.#peek(), 'or')) {
      this.#next();
      left = { kind: 'or', left, right: this.#and() };
    }
    return left;
  }

  #and(): Expr {
    let left = this.#unary();
    while (this.#isWord(this.#peek(), 'and')) {
      this.#next();
      left = { kind: 'and', left, right: this.#unary() };
    }
    return left;
  }

  #depth = 0;

  #unary(): Expr {
    const t = this.#peek();
    const not = this.#isWord(t, 'not') && !this.#isWord(this.#peek(1), 'in');
    const open = t.kind === 'op' && t.text === '(';
    if (!not && !open) return this.#match();
    if (++this.#depth > MAX_DEPTH) throw new FilterError(`nested deeper than the ${MAX_DEPTH} parentheses and "not"s accepted`, t.at);
    this.#next();
    let e: Expr;
    if (not) e = { kind: 'not', expr: this.#unary() };
    else {
      e = this.#or();
      const close = this.#next();
      if (close.kind !== 'op' || close.text !== ')') throw new FilterError('expected ")"', close.at);
    }
    this.#depth--;
    return e;
  }

  #match(): Expr {
    const first = this.#peek();
    // <Value> [not] in <Selector>
    const valueFirst = first.kind === 'string' || this.#isWord(this.#peek(1), 'in') || (this.#isWord(this.#peek(1), 'not') && this.#isWord(this.#peek(2), 'in'));
    if (valueFirst) {
      const value = this.#value();
      const negate = this.#isWord(this.#peek(), 'not');
      if (negate) this.#next();
      this.#expectWord('in');
      return { kind: 'in', selector: this.#selector(), value, negate };
    }
    const selector = this.#selector();
    const op = this.#next();
    if (op.kind === 'op' && (op.text === '==' || op.text === '!=')) return { kind: op.text === '==' ? 'eq' : 'ne', selector, value: this.#value() };
    if (this.#isWord(op, 'is')) {
      const negate = this.#isWord(this.#peek(), 'not');
      if (negate) this.#next();
      this.#expectWord('empty');
      return { kind: 'empty', selector, negate };
    }
    let negate = false;
    let verb = op;
    if (this.#isWord(op, 'not')) {
      negate = true;
      verb = this.#next();
    }
    if (this.#isWord(verb, 'contains')) return { kind: 'in', selector, value: this.#value(), negate };
    if (this.#isWord(verb, 'matches')) {
      const at = this.#peek().at;
      const source = this.#value();
      if (source.length > MAX_PATTERN_LENGTH) throw new FilterError(`a pattern of ${source.length} characters is longer than the ${MAX_PATTERN_LENGTH} accepted`, at);
      // RE2's syntax and linear-time matching, as go-bexpr's Go regexp: JavaScript's backtracking
      // RegExp let `ID matches "^(.|[0-9]|[0-9a-f])+x$"`, an anonymous read, hold the event loop
      // (DNS, the API, the proxy) for as long as it liked. No backreferences or lookaround.
      let pattern: RE2JS;
      try {
        pattern = RE2JS.compile(source);
      } catch (err) {
        throw new FilterError(`invalid regular expression: ${(err as Error).message}`, at);
      }
      if (pattern.programSize() > MAX_PROGRAM_SIZE) throw new FilterError(`the pattern compiles to ${pattern.programSize()} instructions, more than the ${MAX_PROGRAM_SIZE} accepted`, at);
      return { kind: 'matches', selector, pattern, negate };
    }
    throw new FilterError(`expected ==, !=, is empty, contains, matches or in after the selector, not ${describe(verb)}`, verb.at);
  }

  #selector(): Selector {
    const first = this.#next();
    if (first.kind !== 'word' || /^\d/.test(first.text)) throw new FilterError(`expected a selector, not ${describe(first)}`, first.at);
    const path = [first.text];
    for (;;) {
      const t = this.#peek();
      if (t.kind === 'op' && t.text === '.') {
        this.#next();
        const part = this.#next();
        if (part.kind !== 'word') throw new FilterError('expected a field name after "."', part.at);
        path.push(part.text);
      } else if (t.kind === 'op' && t.text === '[') {
        this.#next();
        const key = this.#next();
        if (key.kind !== 'string' && key.kind !== 'word') throw new FilterError('expected a key inside [ ]', key.at);
        const close = this.#next();
        if (close.kind !== 'op' || close.text !== ']') throw new FilterError('expected "]"', close.at);
        path.push(key.text);
      } else return path;
    }
  }

  #value(): string {
    const t = this.#next();
    if (t.kind === 'string' || t.kind === 'word') return t.text;
    throw new FilterError(`expected a value, not ${describe(t)}`, t.at);
  }
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'the end of the expression' : `"${t.kind === 'string' ? t.text : t.text}"`;
}

/** Values a selector reaches; crossing a list fans out to its elements. */
function resolve(value: unknown, path: Selector): unknown[] {
  let current: unknown[] = [value];
  for (const part of path) {
    const next: unknown[] = [];
    for (const v of current) {
      if (Array.isArray(v)) {
        for (const item of v) next.push(field(item, part));
      } else next.push(field(v, part));
    }
    current = next;
  }
  return current;
}

function field(v: unknown, name: string): unknown {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (Object.hasOwn(o, name)) return o[name];
  const lower = name.toLowerCase();
  const key = Object.keys(o).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : o[key];
}

const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

function contains(v: unknown, needle: string): boolean {
  if (Array.isArray(v)) return v.some((x) => text(x) === needle);
  if (v && typeof v === 'object') return Object.hasOwn(v, needle);
  return typeof v === 'string' && v.includes(needle);
}

function evaluate(e: Expr, item: unknown): boolean {
  switch (e.kind) {
    case 'and':
      return evaluate(e.left, item) && evaluate(e.right, item);
    case 'or':
      return evaluate(e.left, item) || evaluate(e.right, item);
    case 'not':
      return !evaluate(e.expr, item);
    case 'eq':
      return resolve(item, e.selector).some((v) => text(v) === e.value);
    case 'ne':
      return !resolve(item, e.selector).some((v) => text(v) === e.value);
    case 'empty':
      return resolve(item, e.selector).every(isEmpty) !== e.negate;
    case 'in':
      return resolve(item, e.selector).some((v) => contains(v, e.value)) !== e.negate;
    case 'matches':
      // test() finds the pattern anywhere, as Go's MatchString.
      return resolve(item, e.selector).some((v) => e.pattern.test(matchable(text(v)))) !== e.negate;
  }
}

/** A value a pattern may be matched against; a longer one is an error rather than seconds of matching. */
function matchable(value: string): string {
  if (value.length > MAX_MATCH_INPUT) throw new FilterError(`a value of ${value.length} characters is longer than the ${MAX_MATCH_INPUT} a pattern is matched against`);
  return value;
}

function selectors(e: Expr): Selector[] {
  if ('selector' in e) return [e.selector];
  if (e.kind === 'not') return selectors(e.expr);
  return [...selectors(e.left), ...selectors(e.right)];
}

/**
 * Parses a filter into a predicate. `fields` are the top-level fields of what the
 * endpoint returns: a selector outside them is an error, as in Consul, rather than
 * a silent "nothing matches".
 */
export function compileFilter(expression: string, fields: readonly string[]): (item: unknown) => boolean {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new FilterError(`an expression of ${expression.length} characters is longer than the ${MAX_EXPRESSION_LENGTH} accepted`);
  const expr = new Parser(tokenize(expression)).parse();
  const known = new Set(fields.map((f) => f.toLowerCase()));
  for (const s of selectors(expr)) {
    if (!known.has(s[0]!.toLowerCase())) throw new FilterError(`Selector "${s.join('.')}" is not valid`);
  }
  return (item) => evaluate(expr, item);
}
