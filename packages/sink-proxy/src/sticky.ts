import { createHash } from 'node:crypto';
import type { Backend } from './routes.js';

/** Traefik's `loadbalancer.sticky.cookie.*` attributes. */
export interface CookieAttributes {
  /** Default true here (Traefik's is false): the cookie names a backend, scripts have no use for it. */
  readonly httpOnly: boolean;
  readonly secure: boolean;
  readonly sameSite?: 'none' | 'lax' | 'strict';
  readonly path: string;
  readonly maxAge?: number;
}

export const DEFAULT_COOKIE: CookieAttributes = { httpOnly: true, secure: false, path: '/' };

export function stickyCookie(name: string, value: string, a: CookieAttributes = DEFAULT_COOKIE): string {
  const parts = [`${name}=${value}`, `Path=${a.path}`];
  if (a.maxAge !== undefined) parts.push(`Max-Age=${a.maxAge}`);
  if (a.httpOnly) parts.push('HttpOnly');
  if (a.secure) parts.push('Secure');
  if (a.sameSite) parts.push(`SameSite=${a.sameSite[0]!.toUpperCase()}${a.sameSite.slice(1)}`);
  return parts.join('; ');
}

const stickyValues = new WeakMap<Backend, string>();

/** The sticky cookie's value: a hash of the backend, so its address is not exposed; hashed once per backend, not per request. */
export function stickyValue(b: Backend): string {
  let value = stickyValues.get(b);
  if (value === undefined) {
    value = createHash('sha256').update(b.key).digest('hex').slice(0, 16);
    stickyValues.set(b, value);
  }
  return value;
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}
