import type { HeaderMap } from './headers.js';

/** What a router does to a request before forwarding it: the middlewares this proxy implements. */
export interface Middleware {
  readonly stripPrefixes?: readonly string[];
  readonly addPrefix?: string;
  readonly requestHeaders?: Readonly<Record<string, string>>;
}

/**
 * Applies a router's middlewares in order to the request's path and headers; returns the
 * URL to send. stripPrefix strips the longest listed prefix the path starts with, keeps a
 * leading "/" (Traefik's forceSlash) and says what it stripped in X-Forwarded-Prefix;
 * customRequestHeaders sets each header, and an empty value removes it (Traefik's rule).
 */
export function applyMiddlewares(middlewares: readonly Middleware[], path: string, search: string, headers: HeaderMap): string {
  let p = path;
  for (const m of middlewares) {
    if (m.stripPrefixes) {
      const hit = m.stripPrefixes.filter((x) => p.startsWith(x)).sort((a, b) => b.length - a.length)[0];
      if (hit) {
        p = p.slice(hit.length);
        if (!p.startsWith('/')) p = `/${p}`;
        headers['x-forwarded-prefix'] = hit.replace(/\/$/, '');
      }
    }
    if (m.addPrefix) p = `${m.addPrefix.replace(/\/$/, '')}${p}`;
    if (m.requestHeaders) {
      for (const [k, v] of Object.entries(m.requestHeaders)) {
        if (v === '') delete headers[k.toLowerCase()];
        else headers[k.toLowerCase()] = v;
      }
    }
  }
  return `${p}${search}`;
}
