import type { ServiceInstance } from '@signpost/core';
import { fabioRoutes } from './fabio.js';
import type { Middleware } from './middlewares.js';
import { compileRule, parseRule, parseV1Rule, RuleError, type RequestFacts, type Rule } from './rules.js';
import { DEFAULT_COOKIE, type CookieAttributes } from './sticky.js';
import { classifyKey, normalizeKey, type Scope } from './tag-keys.js';
import { DEFAULT_TRANSPORT, transportName } from './transports.js';

export type { Middleware } from './middlewares.js';

/*
 * From service tags to routers and backends, as Traefik's Consul Catalog provider
 * reads them (v1 `traefik.frontend.*`, v2/v3 `traefik.http.*`) and as Fabio reads
 * `urlprefix-` tags. Pure: instances in, a route table and the problems found out.
 * Every key is classified by tag-keys.ts first; a router any refused key configures
 * (itself, its service, one of its middlewares) is not built.
 */

export interface RouteOptions {
  /** Tag prefix (default `traefik`). */
  readonly prefix: string;
  /** Route services without `<prefix>.enable=true` too (default false, as Traefik's safe default). */
  readonly exposedByDefault: boolean;
  /** Rule of a service's default router; `{{ name }}` and `{{ domain }}` are filled in. */
  readonly defaultRule: string;
  readonly domain: string;
  /** Entry points a router without `entrypoints` listens on. */
  readonly entrypoints: readonly string[];
  /** Load balancing when the tags do not choose (v1's `backend.loadbalancer.method` does). */
  readonly loadBalancer?: 'wrr' | 'leastconn';
  /** Names of the configured serversTransports a service may select (`default` always exists). */
  readonly transports?: readonly string[];
}

export interface Backend {
  /** The instance's catalog key. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly scheme: 'http' | 'https';
  /** The serversTransport verifying it when its scheme is https. */
  readonly transport: string;
  readonly weight: number;
}

export interface Router {
  /** `<router>@<service>`: names are per Consul service, as in Traefik's provider. */
  readonly name: string;
  readonly service: string;
  readonly rule: string;
  readonly matches: (req: RequestFacts) => boolean;
  readonly priority: number;
  readonly entrypoints: readonly string[];
  readonly middlewares: readonly Middleware[];
  readonly backends: readonly Backend[];
  readonly loadBalancer: 'wrr' | 'leastconn';
  readonly stickyCookie?: string;
  readonly stickyCookieAttributes?: CookieAttributes;
}

export interface RouteProblem {
  readonly service: string;
  readonly instances: readonly string[];
  /** The router not built, when the problem is one router's. */
  readonly router?: string;
  /** The tag key (prefix included) that was refused. */
  readonly key?: string;
  readonly reason: string;
}

export interface RouteTable {
  /** Highest priority first. */
  readonly routers: readonly Router[];
  readonly problems: readonly RouteProblem[];
}

type Labels = Map<string, string>;
interface Refusal {
  readonly key: string;
  readonly reason: string;
}

function scopeId(s: Scope): string {
  return 'name' in s ? `${s.kind}:${s.name}` : s.kind;
}

/** Builds every router of one Consul service from its routable instances. */
export function serviceRoutes(service: string, instances: readonly ServiceInstance[], options: RouteOptions): { routers: Router[]; problems: RouteProblem[] } {
  const problems: RouteProblem[] = [];
  const routers: Router[] = [];
  const p = options.prefix;
  const enabled = instances.filter((i) => {
    const flag = label(i, `${p}.enable`);
    return flag === undefined ? options.exposedByDefault : flag === 'true';
  });
  const fabio = instances.flatMap((i) => fabioRoutes(i, service, problems));
  if (enabled.length === 0) return { routers: fabio, problems };
  const ids = enabled.map((i) => i.id);

  // Each router and service definition must read the same on every instance that gives it.
  const defs = new Map<string, { value: string; from: string }>();
  // Keyed by what the key configures: `http.<kind>.<name>`, `frontend`, `frontends.<name>`, or `backend` (v1's).
  const conflicts = new Map<string, Set<string>>();
  const shown = new Map<string, string>();
  const spelled = new Map<string, string>();
  for (const i of enabled) {
    for (const [k, v, as] of labelsOf(i, p)) {
      if (!spelled.has(k)) spelled.set(k, as);
      const seen = defs.get(k);
      if (!seen) defs.set(k, { value: v, from: i.id });
      else if (seen.value !== v) {
        const parts = k.split('.');
        const top = ['http', 'tcp', 'udp'].includes(parts[0]!) ? parts.slice(0, 3).join('.') : parts[0] === 'frontend' ? 'frontend' : parts[0] === 'frontends' ? parts.slice(0, 2).join('.') : 'backend';
        if (!conflicts.has(top)) {
          conflicts.set(top, new Set([seen.from]));
          shown.set(top, top === 'backend' ? as : top);
        }
        conflicts.get(top)!.add(i.id);
      }
    }
  }
  for (const [top, ids] of conflicts) problems.push({ service, instances: [...ids].sort(), reason: `the instances define ${p}.${shown.get(top) ?? top} differently; the router is dropped` });
  const labels: Labels = new Map([...defs].map(([k, v]) => [k, v.value]));
  const conflicted = (top: string): boolean => conflicts.has(top);

  // The first refused key of each scope; a router is built only if none of its scopes has one.
  const refused = new Map<string, Refusal>();
  const used = new Set<string>();
  /** Each scope's first key, as spelled. */
  const seen = new Map<string, string>();
  // A tag whose prefix is spelled in another case (`Traefik.`) is not read as one: refused, for every router.
  const misspelled = enabled.flatMap((i) => i.tags.filter((t) => t.toLowerCase().startsWith(`${p.toLowerCase()}.`) && !t.startsWith(`${p}.`)));
  if (misspelled[0] !== undefined) {
    const key = misspelled[0].split('=')[0]!;
    refused.set('all', { key, reason: `tag prefix must be spelled \`${p}\`` });
    seen.set('all', key);
  }
  for (const [k, v] of labels) {
    const verdict = classifyKey(k, v);
    // TCP and UDP keys configure nothing here: each is said on its own.
    const id = verdict.scope.kind === 'other' ? `other:${k}` : scopeId(verdict.scope);
    if (!seen.has(id)) seen.set(id, `${p}.${spelled.get(k) ?? k}`);
    if (verdict.refused && !refused.has(id)) refused.set(id, { key: `${p}.${spelled.get(k) ?? k}`, reason: verdict.refused });
  }
  /** The first refusal among `scopes`, marking them as used by some router. */
  const blocker = (...scopes: string[]): Refusal | undefined => {
    for (const s of scopes) used.add(s);
    for (const s of scopes) if (refused.has(s)) return refused.get(s);
    return undefined;
  };
  const drop = (router: string, why: Refusal): void => {
    problems.push({ service, instances: ids, router, key: why.key, reason: `${why.key}: ${why.reason}; the router is dropped` });
  };
  const build = (b: RouterSpec): void => {
    const r = makeRouter(b, service, problems, ids);
    if (r) routers.push(r);
  };

  const v1Port = labels.get('port');
  const v1Scheme = labels.get('protocol') === 'https' ? 'https' : 'http';
  const backendsFor = (port: string | undefined, scheme: 'http' | 'https', transport: string, weight: string | undefined): Backend[] =>
    enabled.map((i) => ({
      key: `${i.node}\u0000${i.id}`,
      host: i.address || i.nodeAddress,
      port: port ? Number(port) : i.port,
      scheme,
      transport,
      weight: Number(weight ?? label(i, `${p}.weight`) ?? i.weights.passing) || 1,
    }));
  const domain = labels.get('domain') ?? options.domain;
  const defaultRule = options.defaultRule.replace(/\{\{\s*name\s*\}\}/g, service).replace(/\{\{\s*domain\s*\}\}/g, domain);

  // Traefik v1: `frontend.rule` and `frontends.<name>.rule`, over the one v1 backend.
  const method = labels.get('backend.loadbalancer.method');
  const lb = method === 'drr' ? 'leastconn' : method === 'wrr' ? 'wrr' : (options.loadBalancer ?? 'wrr');
  const v1Sticky = labels.get('backend.loadbalancer.stickiness') === 'true' || labels.get('backend.loadbalancer.sticky') === 'true';
  const frontends: string[] = [...new Set([...labels.keys()].flatMap((k) => (k === 'frontend.rule' ? ['frontend'] : /^frontends\.([^.]+)\.rule$/.test(k) ? [`frontends.${k.split('.')[1]}`] : [])))];
  for (const name of frontends) {
    if (conflicted(name) || conflicted('backend')) {
      used.add(`frontend:${name}`);
      continue;
    }
    const why = blocker(`frontend:${name}`, 'backend', 'all');
    if (why) {
      drop(`${name}@${service}`, why);
      continue;
    }
    const ep = labels.get(`${name}.entrypoints`);
    build({
      name: `${name}@${service}`,
      rule: labels.get(`${name}.rule`)!,
      syntax: 'v1',
      priority: labels.get(`${name}.priority`),
      entrypoints: ep ? list(ep) : options.entrypoints,
      middlewares: [],
      backends: backendsFor(v1Port, v1Scheme, DEFAULT_TRANSPORT, undefined),
      loadBalancer: lb,
      ...(v1Sticky ? { stickyCookie: labels.get('backend.loadbalancer.stickiness.cookiename') ?? `_signpost_${service}` } : {}),
    });
  }

  // Traefik v2/v3: `http.routers.<r>.*` over `http.services.<s>.*`, with `http.middlewares.<m>.*`.
  // Names are folded to lower case (as Traefik merges them); each shows as first spelled.
  const routerNames = new Set<string>();
  const serviceNames = new Set<string>();
  const middlewareNames = new Set<string>();
  const display = new Map<string, string>();
  for (const k of labels.keys()) {
    const m = /^http\.(routers|services|middlewares)\.([^.]+)\./.exec(k);
    if (!m) continue;
    (m[1] === 'routers' ? routerNames : m[1] === 'services' ? serviceNames : middlewareNames).add(m[2]!);
    if (!display.has(`${m[1]}.${m[2]}`)) display.set(`${m[1]}.${m[2]}`, (spelled.get(k) ?? k).split('.')[2]!);
  }
  const routerDisplay = (r: string): string => display.get(`routers.${r}`) ?? r;
  const transports = new Set(options.transports ?? [DEFAULT_TRANSPORT]);
  const v2 = (name: string, target: string, rule: string, priority: string | undefined, entrypoints: readonly string[], middlewareList: readonly string[], extra: string[]): void => {
    const mws = middlewareList.map((m) => middlewareRef(m));
    // Anything the instances define differently was reported, and drops every router it configures.
    for (const e of extra) used.add(e);
    if (conflicted(`http.services.${target}`) || mws.some((m) => conflicted(`http.middlewares.${m.name}`))) return;
    if ((!serviceNames.has(target) || extra.includes('backend')) && conflicted('backend')) return;
    if (extra.includes('frontend:frontend') && conflicted('frontend')) return;
    const why = blocker(...extra, `service:${target}`, ...mws.flatMap((m) => (m.name ? [`middleware:${m.name}`] : [])), 'all');
    if (why) return drop(name, why);
    for (const m of mws) {
      if (m.foreign) return drop(name, { key: `${p}.http.routers.${name.split('@')[0]}.middlewares`, reason: `middleware ${JSON.stringify(m.ref)} comes from provider ${JSON.stringify(m.foreign)}, which this proxy does not have` });
      if (!middlewareNames.has(m.name)) return drop(name, { key: `${p}.http.routers.${name.split('@')[0]}.middlewares`, reason: `middleware ${JSON.stringify(m.ref)} is not defined by any tag` });
    }
    const sbase = `http.services.${target}.loadbalancer`;
    const transportRef = labels.get(`${sbase}.serverstransport`);
    const transport = transportRef === undefined ? DEFAULT_TRANSPORT : transportName(transportRef, transports);
    if (!transport) return drop(name, { key: `${p}.${sbase}.serverstransport`, reason: `no serversTransport named ${JSON.stringify(transportRef)} is configured (known: ${[...transports].join(', ')})` });
    const scheme = labels.get(`${sbase}.server.scheme`) === 'https' ? 'https' : serviceNames.has(target) ? 'http' : v1Scheme;
    const cookie = labels.get(`${sbase}.sticky.cookie.name`) ?? (labels.get(`${sbase}.sticky.cookie`) === 'true' || labels.get(`${sbase}.sticky`) === 'true' ? `_signpost_${target}` : undefined);
    build({
      name,
      rule,
      syntax: 'v2',
      priority,
      entrypoints,
      middlewares: mws.map((m) => middleware(labels, m.name)),
      backends: backendsFor(labels.get(`${sbase}.server.port`) ?? (serviceNames.has(target) ? undefined : v1Port), scheme, transport, labels.get(`${sbase}.server.weight`)),
      loadBalancer: options.loadBalancer ?? 'wrr',
      ...(cookie ? { stickyCookie: cookie, stickyCookieAttributes: cookieAttributes(labels, sbase) } : {}),
    });
  };
  for (const r of routerNames) {
    const base = `http.routers.${r}`;
    if (conflicted(base)) continue;
    const ref = labels.get(`${base}.service`);
    let target = serviceNames.size === 1 ? [...serviceNames][0]! : service.toLowerCase();
    if (ref !== undefined) {
      // Only a service these tags define (or, when they define none, the one Traefik makes for the Consul service).
      const why = blocker(`router:${r}`, 'all');
      if (why) {
        drop(`${routerDisplay(r)}@${service}`, why);
        continue;
      }
      const key = `${p}.${spelled.get(`${base}.service`) ?? `${base}.service`}`;
      const s = middlewareRef(ref);
      if (s.foreign) {
        drop(`${routerDisplay(r)}@${service}`, { key, reason: `service ${JSON.stringify(ref)} comes from provider ${JSON.stringify(s.foreign)}, which this proxy does not route to` });
        continue;
      }
      if (!serviceNames.has(s.name) && !(serviceNames.size === 0 && s.name === service.toLowerCase())) {
        drop(`${routerDisplay(r)}@${service}`, { key, reason: `service ${JSON.stringify(ref)} is not defined by any tag` });
        continue;
      }
      target = s.name;
    }
    const ep = labels.get(`${base}.entrypoints`);
    const mw = labels.get(`${base}.middlewares`);
    v2(`${routerDisplay(r)}@${service}`, target, labels.get(`${base}.rule`) ?? defaultRule, labels.get(`${base}.priority`), ep ? list(ep) : options.entrypoints, mw ? list(mw) : [], [`router:${r}`]);
  }
  // No router in the tags: Traefik makes one with the default rule, to the one service the tags define if they define one.
  if (frontends.length === 0 && routerNames.size === 0) {
    const target = serviceNames.size === 1 ? [...serviceNames][0]! : service.toLowerCase();
    // Traefik 1.7 applies `frontend.*` keys without a `frontend.rule` to the default frontend.
    const v1Default = [...labels.keys()].some((k) => k.startsWith('frontend.'));
    const ep = labels.get('frontend.entrypoints');
    v2(`${service}@${service}`, target, defaultRule, labels.get('frontend.priority'), ep ? list(ep) : options.entrypoints, [], v1Default ? ['frontend:frontend', 'backend'] : ['backend']);
  }
  // A v1 frontend's keys that no router took (no rule, and no default router): said, not ignored.
  for (const [id, key] of seen) {
    if (id.startsWith('frontend:') && !used.has(id) && !refused.has(id)) problems.push({ service, instances: ids, key, reason: `${key}: v1 ${id.slice('frontend:'.length)} has no rule and no default router takes it; not applied` });
  }

  // Refused keys no router uses are still said: nothing was built with them, nothing is ignored quietly.
  for (const [id, why] of refused) if (!used.has(id)) problems.push({ service, instances: ids, key: why.key, reason: `${why.key}: ${why.reason}` });
  routers.push(...fabio);
  return { routers, problems };
}

interface RouterSpec {
  readonly name: string;
  readonly rule: string;
  readonly syntax: 'v1' | 'v2';
  readonly priority: string | undefined;
  readonly entrypoints: readonly string[];
  readonly middlewares: readonly Middleware[];
  readonly backends: readonly Backend[];
  readonly loadBalancer: 'wrr' | 'leastconn';
  readonly stickyCookie?: string;
  readonly stickyCookieAttributes?: CookieAttributes;
}

/** A middleware's or service's reference: `name`, `name@consulcatalog` (this provider's), or another provider's, which is refused. */
function middlewareRef(ref: string): { ref: string; name: string; foreign?: string } {
  const at = ref.indexOf('@');
  if (at < 0) return { ref, name: ref.toLowerCase() };
  const provider = ref.slice(at + 1);
  const name = ref.slice(0, at).toLowerCase();
  return provider === 'consulcatalog' ? { ref, name } : { ref, name, foreign: provider };
}

function middleware(labels: Labels, name: string): Middleware {
  const base = `http.middlewares.${name}.`;
  const headers: Record<string, string> = {};
  let strip: string | undefined;
  let add: string | undefined;
  for (const [k, v] of labels) {
    if (!k.startsWith(base)) continue;
    const rest = k.slice(base.length);
    if (rest.startsWith('headers.customrequestheaders.')) headers[rest.slice('headers.customrequestheaders.'.length)] = v;
    else if (rest === 'stripprefix.prefixes') strip = v;
    else if (rest === 'addprefix.prefix') add = v;
  }
  return {
    ...(strip ? { stripPrefixes: list(strip) } : {}),
    ...(add ? { addPrefix: add } : {}),
    ...(Object.keys(headers).length ? { requestHeaders: headers } : {}),
  };
}

function cookieAttributes(labels: Labels, sbase: string): CookieAttributes {
  const get = (k: string): string | undefined => labels.get(`${sbase}.sticky.cookie.${k}`);
  const sameSite = get('samesite')?.toLowerCase() as CookieAttributes['sameSite'];
  const maxAge = get('maxage');
  return {
    httpOnly: get('httponly') === undefined ? DEFAULT_COOKIE.httpOnly : get('httponly') === 'true',
    secure: get('secure') === 'true',
    path: get('path') ?? DEFAULT_COOKIE.path,
    ...(sameSite ? { sameSite } : {}),
    ...(maxAge !== undefined ? { maxAge: Number(maxAge) } : {}),
  };
}

function makeRouter(spec: RouterSpec, service: string, problems: RouteProblem[], instances: readonly string[]): Router | undefined {
  let parsed: Rule;
  const extra: Middleware[] = [];
  try {
    if (spec.syntax === 'v1') {
      const v1 = parseV1Rule(spec.rule);
      parsed = v1.rule;
      if (v1.stripPrefixes.length) extra.push({ stripPrefixes: v1.stripPrefixes });
    } else parsed = parseRule(spec.rule);
  } catch (err) {
    if (!(err instanceof RuleError)) throw err;
    problems.push({ service, instances, router: spec.name, reason: `router ${spec.name}: ${err.message}` });
    return undefined;
  }
  let matches: Router['matches'];
  try {
    matches = compileRule(parsed);
  } catch (err) {
    problems.push({ service, instances, router: spec.name, reason: `router ${spec.name}: the rule could not be compiled: ${(err as Error).message}` });
    return undefined;
  }
  const explicit = spec.priority === undefined ? undefined : Number(spec.priority);
  return {
    name: spec.name,
    service,
    rule: spec.rule,
    matches,
    // Traefik's default priority is the rule's length: longer rules are more specific.
    priority: explicit !== undefined && Number.isSafeInteger(explicit) && explicit !== 0 ? explicit : spec.rule.length,
    entrypoints: spec.entrypoints,
    middlewares: [...extra, ...spec.middlewares],
    backends: spec.backends,
    loadBalancer: spec.loadBalancer,
    ...(spec.stickyCookie ? { stickyCookie: spec.stickyCookie, ...(spec.stickyCookieAttributes ? { stickyCookieAttributes: spec.stickyCookieAttributes } : {}) } : {}),
  };
}

/** Merges Fabio routes that share a rule into one router over all their backends. */
export function mergeRouters(routers: readonly Router[]): Router[] {
  const byKey = new Map<string, Router>();
  const out: Router[] = [];
  for (const r of routers) {
    if (!r.name.startsWith('fabio-')) {
      out.push(r);
      continue;
    }
    const key = `${r.service}|${r.rule}|${JSON.stringify(r.middlewares)}|${r.backends[0]?.scheme}`;
    const seen = byKey.get(key);
    if (seen) byKey.set(key, { ...seen, backends: [...seen.backends, ...r.backends] });
    else byKey.set(key, { ...r, name: `fabio@${r.service}` });
  }
  return [...out, ...byKey.values()];
}

/** Sorts routers as Traefik does: highest priority first, then by name for a stable order. */
export function byPriority(a: Router, b: Router): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** The instance's keys under the prefix; `enable` and `weight` are read per instance instead. */
function labelsOf(i: ServiceInstance, prefix: string): Array<[key: string, value: string, as: string]> {
  return i.tags.flatMap((t) => {
    if (!t.startsWith(`${prefix}.`)) return [];
    const eq = t.indexOf('=');
    const as = t.slice(prefix.length + 1, eq < 0 ? undefined : eq);
    const key = normalizeKey(as);
    return key === 'enable' || key === 'weight' ? [] : [[key, eq < 0 ? '' : t.slice(eq + 1), as] as [string, string, string]];
  });
}

function label(i: ServiceInstance, key: string): string | undefined {
  const tag = i.tags.find((t) => t.startsWith(`${key}=`));
  return tag?.slice(key.length + 1);
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}
