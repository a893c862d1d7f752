import { isIP } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { isDuration } from './duration.js';

export type IssuePath = readonly (string | number)[];

/** One thing wrong with an input: where (a key path) and why. */
export interface Issue {
  readonly path: IssuePath;
  readonly message: string;
}

/**
 * Thrown for bad input. `issues` lists every problem found; `message` names the
 * input (`where`: a file, a plugin, a request body), each key path and the reason.
 */
export class ValidationError extends Error {
  constructor(
    readonly where: string,
    readonly issues: readonly Issue[],
  ) {
    super(`${where}: ${issues.map(formatIssue).join('; ')}`);
    this.name = 'ValidationError';
  }
}

export function formatIssue(issue: Issue): string {
  const path = formatPath(issue.path);
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** `['plugins', 1, 'listen']` → `plugins[1].listen`. */
export function formatPath(path: IssuePath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** An IPv4/IPv6 address or a DNS host name (what Consul accepts as an address). */
export function isAddress(text: string): boolean {
  return isIP(text) !== 0 || (HOSTNAME.test(text) && !/^[\d.]+$/.test(text));
}

/** `host:port` or `[v6]:port`; port 0 means "any free port". */
export function isListenAddress(text: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!m) return false;
  const host = m[1] ?? m[2] ?? '';
  return Number(m[3]) <= 65535 && (m[1] ? isIP(host) === 6 : isAddress(host));
}

const FORMAT_HINTS: Record<string, string> = {
  duration: 'must be a Go duration such as 10s, 1m30s or 500ms',
  address: 'must be an IP address or a host name',
  listen: 'must be host:port (port 0 picks a free port), e.g. 127.0.0.1:8500',
};

const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false, verbose: true });
ajv.addFormat('duration', { type: 'string', validate: isDuration });
ajv.addFormat('address', { type: 'string', validate: (s: string) => s === '' || isAddress(s) });
ajv.addFormat('listen', { type: 'string', validate: isListenAddress });

const compiled = new WeakMap<TSchema, ValidateFunction>();

function compile(schema: TSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

/** Validates `value` against a JSON schema; returns the issues (empty when valid). */
export function check(schema: TSchema, value: unknown, base: IssuePath = []): Issue[] {
  const fn = compile(schema);
  if (fn(value)) return [];
  return toIssues(fn.errors ?? [], base);
}

/** Validates and returns the value typed by its schema, or throws a ValidationError naming `where`. */
export function validate<S extends TSchema>(schema: S, value: unknown, where: string, base: IssuePath = []): Static<S> {
  const issues = check(schema, value, base);
  if (issues.length) throw new ValidationError(where, issues);
  return value as Static<S>;
}

function toIssues(errors: readonly ErrorObject[], base: IssuePath): Issue[] {
  const out: Issue[] = [];
  const seen = new Set<string>();
  // A failed anyOf also reports each branch; the branch errors say more, so the
  // summary is dropped when any branch error exists at the same place.
  const branchPaths = new Set(errors.filter((e) => e.keyword !== 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword === 'anyOf' && branchPaths.has(e.instancePath)) continue;
    if (e.keyword === 'if') continue;
    const path = [...base, ...pointerToPath(e.instancePath)];
    let message: string;
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'additionalProperties':
        path.push(String(params['additionalProperty']));
        message = 'unknown key';
        break;
      case 'required':
        path.push(String(params['missingProperty']));
        message = 'is required';
        break;
      case 'enum':
        message = `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      case 'format':
        message = FORMAT_HINTS[String(params['format'])] ?? `must be a valid ${String(params['format'])}`;
        break;
      case 'propertyNames':
        path.push(String(params['propertyName']));
        message = 'is not an allowed key name';
        break;
      case 'pattern':
        message = `must match ${String(params['pattern'])}`;
        break;
      case 'type': {
        // `ttl: 5` is better told "must be a Go duration" than "must be string".
        const format = (e.parentSchema as { format?: string } | undefined)?.format;
        message = (format && FORMAT_HINTS[format]) || (e.message ?? 'has the wrong type');
        break;
      }
      default:
        message = e.message ?? `failed ${e.keyword}`;
    }
    if (e.keyword === 'pattern' && errors.some((o) => o.keyword === 'propertyNames' && o.instancePath === e.instancePath)) {
      continue;
    }
    const key = `${formatPath(path)}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}
