/*
 * Fail closed on tags: every key under the prefix is either understood (and does what
 * Traefik does with it) or refused with a reason, and a refused key takes down whatever
 * it configures. A router whose `middlewares` name a basicAuth this proxy does not
 * implement was, before, served without authentication; `tls=true` was served in plain
 * HTTP. Now such a router is not built, and the log and the admin API say which key and
 * why. The keys are Traefik's: v3's label reference (docs/content/reference/
 * dynamic-configuration/docker.md, "Labels") and Traefik 1.7's Consul Catalog tags.
 * Pure: a key and its value in, a verdict out.
 */

/** What a key configures, and so what a refused key takes down. */
export type Scope =
  | { readonly kind: 'router'; readonly name: string }
  | { readonly kind: 'service'; readonly name: string }
  | { readonly kind: 'middleware'; readonly name: string }
  /** A v1 frontend: `frontend` or `frontends.<name>`. */
  | { readonly kind: 'frontend'; readonly name: string }
  /** The v1 backend every v1 frontend and the default router use. */
  | { readonly kind: 'backend' }
  /** Not attributable: every router of the service built from tags. */
  | { readonly kind: 'all' }
  /** TCP and UDP: no HTTP router uses them; refused keys are reported only. */
  | { readonly kind: 'other' };

export interface Verdict {
  readonly scope: Scope;
  /** Why the key is refused; undefined when it is understood. */
  readonly refused?: string;
}

/** Every HTTP middleware type Traefik v3 documents (labels spell them in lower case). */
export const MIDDLEWARE_TYPES = [
  'addprefix',
  'basicauth',
  'buffering',
  'chain',
  'circuitbreaker',
  'compress',
  'contenttype',
  'digestauth',
  'errors',
  'forwardauth',
  'grpcweb',
  'headers',
  'ipallowlist',
  'ipwhitelist',
  'inflightreq',
  'passtlsclientcert',
  'plugin',
  'ratelimit',
  'redirectregex',
  'redirectscheme',
  'replacepath',
  'replacepathregex',
  'retry',
  'stripprefix',
  'stripprefixregex',
] as const;

const NOT_IMPLEMENTED = 'is not implemented by this proxy';

/**
 * Traefik reads label keys without regard to case (`Rule`, `rule`), and its label parser
 * merges router, service and middleware names without regard to case too (`Web` and
 * `web` are one router): those are folded here, and routes.ts keeps the first spelling
 * for display. V1 frontend and header names keep theirs. Every key is read in this form,
 * so that no spelling is understood here and then missed by a lookup there.
 */
export function normalizeKey(key: string): string {
  const parts = key.split('.');
  const keep = new Set<number>();
  if (parts[0]?.toLowerCase() === 'frontends') keep.add(1);
  const header = parts.findIndex((p, n) => n > 2 && p.toLowerCase() === 'customrequestheaders');
  return parts.map((p, n) => (keep.has(n) || (header >= 0 && n > header) ? p : p.toLowerCase())).join('.');
}

/** Classifies one key (without the prefix and its dot). */
export function classifyKey(key: string, value: string): Verdict {
  const parts = key.split('.');
  const lower = parts.map((p) => p.toLowerCase());
  if (lower[0] === 'http' && lower[1] === 'routers' && parts[2]) return routerKey(parts[2], lower.slice(3).join('.'), value);
  if (lower[0] === 'http' && lower[1] === 'services' && parts[2]) return serviceKey(parts[2], lower.slice(3).join('.'), value);
  if (lower[0] === 'http' && lower[1] === 'middlewares' && parts[2]) return middlewareKey(parts[2], lower.slice(3), value);
  if (lower[0] === 'tcp' || lower[0] === 'udp') return { scope: { kind: 'other' }, refused: `${lower[0].toUpperCase()} routing ${NOT_IMPLEMENTED}` };
  if (lower[0] === 'http') return { scope: { kind: 'all' }, refused: 'unknown key' };
  return v1Key(parts, lower, value);
}

function routerKey(name: string, field: string, value: string): Verdict {
  const scope: Scope = { kind: 'router', name };
  switch (field) {
    case 'priority':
      return priority(scope, value);
    case 'rule':
    case 'entrypoints':
    case 'middlewares':
    case 'service':
      return { scope };
    case 'rulesyntax':
      return value.toLowerCase() === 'v3' ? { scope } : { scope, refused: `rule syntax ${JSON.stringify(value)} ${NOT_IMPLEMENTED} (v3 only)` };
    case 'tls':
      return value === 'false' ? { scope } : { scope, refused: 'TLS termination is not implemented: the router would be served in plain HTTP' };
    // No access log, per-router metrics or tracing exist here for these to switch.
    case 'observability.accesslogs':
    case 'observability.metrics':
    case 'observability.tracing':
      return { scope };
  }
  if (field.startsWith('tls.')) return { scope, refused: 'TLS termination is not implemented: the router would be served in plain HTTP' };
  return { scope, refused: 'unknown router key' };
}

/** A priority is an integer (Go's int, as Traefik reads it); 0 means the rule's length. */
function priority(scope: Scope, value: string): Verdict {
  return /^-?\d{1,15}$/.test(value) ? { scope } : { scope, refused: `not an integer priority: ${JSON.stringify(value)}` };
}

function serviceKey(name: string, field: string, value: string): Verdict {
  const scope: Scope = { kind: 'service', name };
  switch (field) {
    case 'loadbalancer.server.port':
      return /^\d{1,5}$/.test(value) && Number(value) <= 65535 ? { scope } : { scope, refused: `not a port: ${JSON.stringify(value)}` };
    case 'loadbalancer.server.scheme':
      return value === 'http' || value === 'https' ? { scope } : { scope, refused: `scheme ${JSON.stringify(value)} ${NOT_IMPLEMENTED} (http or https)` };
    case 'loadbalancer.server.weight':
      return /^\d+$/.test(value) ? { scope } : { scope, refused: `not a weight: ${JSON.stringify(value)}` };
    case 'loadbalancer.sticky':
    case 'loadbalancer.sticky.cookie':
    case 'loadbalancer.sticky.cookie.httponly':
    case 'loadbalancer.sticky.cookie.secure':
      return value === 'true' || value === 'false' ? { scope } : { scope, refused: `not true or false: ${JSON.stringify(value)}` };
    case 'loadbalancer.sticky.cookie.name':
    case 'loadbalancer.sticky.cookie.path':
    case 'loadbalancer.serverstransport':
      return { scope };
    case 'loadbalancer.sticky.cookie.samesite':
      return ['none', 'lax', 'strict'].includes(value.toLowerCase()) ? { scope } : { scope, refused: `SameSite ${JSON.stringify(value)} is not none, lax or strict` };
    case 'loadbalancer.sticky.cookie.maxage':
      return /^-?\d+$/.test(value) ? { scope } : { scope, refused: `not a number of seconds: ${JSON.stringify(value)}` };
    case 'loadbalancer.passhostheader':
      return value === 'true' ? { scope } : { scope, refused: `passHostHeader=false ${NOT_IMPLEMENTED}: the client's Host is always sent` };
    // Responses are streamed as they arrive, so any flush interval is already met.
    case 'loadbalancer.responseforwarding.flushinterval':
      return { scope };
  }
  if (field.startsWith('loadbalancer.healthcheck.')) return { scope, refused: `active health checks are ${NOT_IMPLEMENTED}; the catalog's checks decide` };
  return { scope, refused: 'unknown service key' };
}

function middlewareKey(name: string, rest: readonly string[], value: string): Verdict {
  const scope: Scope = { kind: 'middleware', name };
  const [type, ...option] = rest;
  const opt = option.join('.');
  switch (type) {
    case 'addprefix':
      return opt === 'prefix' ? { scope } : { scope, refused: `addPrefix.${opt} is unknown` };
    case 'stripprefix':
      if (opt === 'prefixes') return { scope };
      if (opt === 'forceslash') return value === 'true' ? { scope } : { scope, refused: `stripPrefix.forceSlash=false ${NOT_IMPLEMENTED}: a stripped path always keeps its "/"` };
      return { scope, refused: `stripPrefix.${opt} is unknown` };
    case 'headers':
      if (option[0] === 'customrequestheaders' && option.length === 2) return { scope };
      return { scope, refused: `headers.${opt} ${NOT_IMPLEMENTED} (only customRequestHeaders is)` };
  }
  if (type && (MIDDLEWARE_TYPES as readonly string[]).includes(type)) return { scope, refused: `the ${type} middleware ${NOT_IMPLEMENTED}` };
  return { scope, refused: `unknown middleware type ${JSON.stringify(type ?? '')}` };
}

const V1_BACKEND_OK = new Set(['backend.loadbalancer.stickiness', 'backend.loadbalancer.stickiness.cookiename', 'backend.loadbalancer.sticky']);

function v1Key(parts: readonly string[], lower: readonly string[], value: string): Verdict {
  const key = lower.join('.');
  switch (key) {
    // `tags` is read only by Traefik's constraints, which this proxy has none of: no effect in
    // either. `backend` names the backend in Traefik's own configuration; routing ignores it.
    case 'enable':
    case 'weight':
    case 'tags':
    case 'backend':
    case 'domain':
      return { scope: { kind: 'backend' } };
    case 'port':
      return /^\d{1,5}$/.test(value) && Number(value) <= 65535 ? { scope: { kind: 'backend' } } : { scope: { kind: 'backend' }, refused: `not a port: ${JSON.stringify(value)}` };
    case 'protocol':
      return value === 'http' || value === 'https' ? { scope: { kind: 'backend' } } : { scope: { kind: 'backend' }, refused: `protocol ${JSON.stringify(value)} ${NOT_IMPLEMENTED} (http or https)` };
    case 'backend.loadbalancer.method':
      return value === 'wrr' || value === 'drr' ? { scope: { kind: 'backend' } } : { scope: { kind: 'backend' }, refused: `load-balancer method ${JSON.stringify(value)} is not wrr or drr` };
  }
  if (V1_BACKEND_OK.has(key)) return { scope: { kind: 'backend' } };
  if (lower[0] === 'backend') return { scope: { kind: 'backend' }, refused: `v1 ${parts.join('.')} ${NOT_IMPLEMENTED}` };
  const frontend = lower[0] === 'frontend' ? 'frontend' : lower[0] === 'frontends' && parts[1] ? `frontends.${parts[1]}` : undefined;
  if (frontend) {
    const field = (lower[0] === 'frontend' ? lower.slice(1) : lower.slice(2)).join('.');
    const scope: Scope = { kind: 'frontend', name: frontend };
    if (field === 'priority') return priority(scope, value);
    if (field === 'rule' || field === 'entrypoints') return { scope };
    if (field === 'passhostheader') return value === 'true' ? { scope } : { scope, refused: `passHostHeader=false ${NOT_IMPLEMENTED}: the client's Host is always sent` };
    return { scope, refused: `v1 ${frontend}.${field} ${NOT_IMPLEMENTED}` };
  }
  return { scope: { kind: 'all' }, refused: 'unknown key' };
}
