import type { ServiceInstance } from '@signpost/core';
import { compileRule, parseRule, parseV1Rule, RuleError, type RequestFacts, type Rule } from './rules.js';

/*
 * From service tags to routers and backends, as Traefik's Consul Catalog provider
 * reads them (v1 `traefik.frontend.*`, v2/v3 `traefik.http.*`) and as Fabio reads
 * `urlprefix-` tags. Pure: instances in, a route table and the problems found out.
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
}

export interface Middleware {
  readonly stripPrefixes?: readonly string[];
  readonly addPrefix?: string;
  readonly requestHeaders?: Readonly<Record<string, string>>;
}

export interface Backend {
  /** The instance's catalog key. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly scheme: 'http' | 'https';
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
}

export interface RouteProblem {
  readonly service: string;
  readonly instances: readonly string[];
  readonly reason: string;
}

export interface RouteTable {
  /** Highest priority first. */
  readonly routers: readonly Router[];
  readonly problems: readonly RouteProblem[];
}

type Labels = Map<string, string>;

/** Builds every router of one Consul service from its routable instances. */
export function serviceRoutes(service: string, instances: readonly ServiceInstance[], options: RouteOptions): { routers: Router[]; problems: RouteProblem[] } {
  const problems: RouteProblem[] = [];
  const routers: Router[] = [];
  const p = options.prefix;
  const enabled = instances.filter((i) => {
    const flag = label(i, `${p}.enable`);
    return flag === undefined ? options.exposedByDefault : flag === 'true';
  });
  const fabio = instances.flatMap((i) => fabioRoutes(i, service));

  if (enabled.length) {
    // Each router and service definition must read the same on every instance that gives it.
    const defs = new Map<string, { value: string; from: string }>();
    const conflicts = new Map<string, Set<string>>();
    for (const i of enabled) {
      for (const [k, v] of labelsOf(i, p)) {
        const seen = defs.get(k);
        if (!seen) defs.set(k, { value: v, from: i.id });
        else if (seen.value !== v) {
          const top = k.split('.').slice(0, 3).join('.');
          if (!conflicts.has(top)) conflicts.set(top, new Set([seen.from]));
          conflicts.get(top)!.add(i.id);
        }
      }
    }
    for (const [top, ids] of conflicts) {
      problems.push({ service, instances: [...ids].sort(), reason: `the instances define ${p}.${top} differently; the router is dropped` });
    }
    const labels: Labels = new Map([...defs].map(([k, v]) => [k, v.value]));
    const dropped = (key: string): boolean => [...conflicts.keys()].some((c) => key.startsWith(c));

    const backends = (port: string | undefined, scheme: string | undefined): Backend[] =>
      enabled.map((i) => ({
        key: `${i.node}\u0000${i.id}`,
        host: i.address || i.nodeAddress,
        port: port ? Number(port) : i.port,
        scheme: scheme === 'https' ? 'https' : 'http',
        weight: Number(label(i, `${p}.weight`) ?? i.weights.passing) || 1,
      }));

    const v1 = v1Routers(service, labels, options, backends(undefined, undefined), dropped, problems, enabled);
    const v2 = v2Routers(service, labels, options, backends, dropped, problems, enabled);
    routers.push(...v1, ...v2);
    if (v1.length === 0 && v2.length === 0 && !hasV2Routers(labels)) {
      const rule = options.defaultRule.replace(/\{\{\s*name\s*\}\}/g, service).replace(/\{\{\s*domain\s*\}\}/g, options.domain);
      const r = makeRouter(`${service}@${service}`, service, rule, 'v2', undefined, options.entrypoints, [], backends(undefined, undefined), options.loadBalancer ?? 'wrr', undefined, problems, enabled);
      if (r) routers.push(r);
    }
  }
  routers.push(...fabio);
  return { routers, problems };
}

function v1Routers(
  service: string,
  labels: Labels,
  options: RouteOptions,
  backends: Backend[],
  dropped: (key: string) => boolean,
  problems: RouteProblem[],
  instances: readonly ServiceInstance[],
): Router[] {
  const out: Router[] = [];
  const method = labels.get('backend.loadbalancer.method');
  const lb = method === 'drr' ? 'leastconn' : method === 'wrr' ? 'wrr' : (options.loadBalancer ?? 'wrr');
  const sticky = labels.get('backend.loadbalancer.stickiness') === 'true' ? (labels.get('backend.loadbalancer.stickiness.cookieName') ?? `_signpost_${service}`) : undefined;
  const frontends: Array<[string, string, string | undefined, string | undefined]> = [];
  if (labels.has('frontend.rule')) frontends.push([`frontend`, labels.get('frontend.rule')!, labels.get('frontend.priority'), labels.get('frontend.entryPoints')]);
  for (const [k, v] of labels) {
    const m = /^frontends\.([^.]+)\.rule$/.exec(k);
    if (m) frontends.push([`frontends.${m[1]}`, v, labels.get(`frontends.${m[1]}.priority`), labels.get(`frontends.${m[1]}.entryPoints`)]);
  }
  for (const [name, rule, priority, entrypoints] of frontends) {
    if (dropped(`${name}.`) || dropped(name)) continue;
    const r = makeRouter(`${name}@${service}`, service, rule, 'v1', priority, entrypoints ? list(entrypoints) : options.entrypoints, [], backends, lb, sticky, problems, instances);
    if (r) out.push(r);
  }
  return out;
}

function hasV2Routers(labels: Labels): boolean {
  return [...labels.keys()].some((k) => k.startsWith('http.routers.'));
}

function v2Routers(
  service: string,
  labels: Labels,
  options: RouteOptions,
  backends: (port: string | undefined, scheme: string | undefined) => Backend[],
  dropped: (key: string) => boolean,
  problems: RouteProblem[],
  instances: readonly ServiceInstance[],
): Router[] {
  const routerNames = new Set<string>();
  const serviceNames = new Set<string>();
  for (const k of labels.keys()) {
    const r = /^http\.routers\.([^.]+)\./.exec(k);
    if (r) routerNames.add(r[1]!);
    const s = /^http\.services\.([^.]+)\./.exec(k);
    if (s) serviceNames.add(s[1]!);
  }
  const middlewares = (names: string): Middleware[] =>
    list(names).map((m) => {
      const base = `http.middlewares.${m.replace(/@.*$/, '')}`;
      const headers: Record<string, string> = {};
      for (const [k, v] of labels) {
        const h = new RegExp(`^${escape(base)}\\.headers\\.customrequestheaders\\.(.+)$`, 'i').exec(k);
        if (h) headers[h[1]!] = v;
      }
      const strip = labels.get(`${base}.stripprefix.prefixes`);
      const add = labels.get(`${base}.addprefix.prefix`);
      return {
        ...(strip ? { stripPrefixes: list(strip) } : {}),
        ...(add ? { addPrefix: add } : {}),
        ...(Object.keys(headers).length ? { requestHeaders: headers } : {}),
      };
    });
  const out: Router[] = [];
  for (const name of routerNames) {
    const base = `http.routers.${name}`;
    if (dropped(`${base}.`)) continue;
    const target = labels.get(`${base}.service`) ?? (serviceNames.size === 1 ? [...serviceNames][0]! : service);
    const sbase = `http.services.${target}.loadbalancer`;
    const rule = labels.get(`${base}.rule`) ?? options.defaultRule.replace(/\{\{\s*name\s*\}\}/g, service).replace(/\{\{\s*domain\s*\}\}/g, options.domain);
    const r = makeRouter(
      `${name}@${service}`,
      service,
      rule,
      'v2',
      labels.get(`${base}.priority`),
      labels.has(`${base}.entrypoints`) ? list(labels.get(`${base}.entrypoints`)!) : options.entrypoints,
      labels.has(`${base}.middlewares`) ? middlewares(labels.get(`${base}.middlewares`)!) : [],
      backends(labels.get(`${sbase}.server.port`), labels.get(`${sbase}.server.scheme`)),
      options.loadBalancer ?? 'wrr',
      labels.get(`${sbase}.sticky.cookie.name`) ?? (labels.get(`${sbase}.sticky.cookie`) === 'true' ? `_signpost_${target}` : undefined),
      problems,
      instances,
    );
    if (r) out.push(r);
  }
  return out;
}

function makeRouter(
  name: string,
  service: string,
  rule: string,
  syntax: 'v1' | 'v2',
  priority: string | undefined,
  entrypoints: readonly string[],
  middlewares: Middleware[],
  backends: Backend[],
  loadBalancer: 'wrr' | 'leastconn',
  stickyCookie: string | undefined,
  problems: RouteProblem[],
  instances: readonly ServiceInstance[],
): Router | undefined {
  let parsed: Rule;
  const extra: Middleware[] = [];
  try {
    if (syntax === 'v1') {
      const v1 = parseV1Rule(rule);
      parsed = v1.rule;
      if (v1.stripPrefixes.length) extra.push({ stripPrefixes: v1.stripPrefixes });
    } else parsed = parseRule(rule);
  } catch (err) {
    if (!(err instanceof RuleError)) throw err;
    problems.push({ service, instances: instances.map((i) => i.id), reason: `router ${name}: ${err.message}` });
    return undefined;
  }
  const explicit = priority === undefined ? undefined : Number(priority);
  return {
    name,
    service,
    rule,
    matches: compileRule(parsed),
    // Traefik's default priority is the rule's length: longer rules are more specific.
    priority: explicit !== undefined && Number.isFinite(explicit) && explicit > 0 ? explicit : rule.length,
    entrypoints,
    middlewares: [...extra, ...middlewares],
    backends,
    loadBalancer,
    ...(stickyCookie ? { stickyCookie } : {}),
  };
}

/** Fabio: `urlprefix-host/path strip=/path prepend=/x weight=0.5` (one tag, one route). */
function fabioRoutes(i: ServiceInstance, service: string): Router[] {
  return i.tags.flatMap((tag, n) => {
    const m = /^urlprefix-(\S*)(.*)$/.exec(tag);
    if (!m) return [];
    const target = m[1]!;
    const opts = new Map(m[2]!.trim().split(/\s+/).filter(Boolean).map((o) => o.split('=', 2) as [string, string]));
    const slash = target.indexOf('/');
    const host = slash < 0 ? target : target.slice(0, slash);
    const path = slash < 0 ? '/' : target.slice(slash);
    const parts = [host ? `Host(\`${host}\`)` : '', `PathPrefix(\`${path}\`)`].filter(Boolean);
    const rule = parts.join(' && ');
    const middlewares: Middleware[] = [];
    if (opts.get('strip')) middlewares.push({ stripPrefixes: [opts.get('strip')!] });
    if (opts.get('prepend')) middlewares.push({ addPrefix: opts.get('prepend')! });
    return [
      {
        name: `fabio-${i.id}-${n}@${service}`,
        service,
        rule,
        matches: compileRule(parseRule(rule)),
        priority: rule.length,
        entrypoints: [],
        middlewares,
        backends: [{ key: `${i.node}\u0000${i.id}`, host: i.address || i.nodeAddress, port: i.port, scheme: opts.get('proto') === 'https' ? 'https' : 'http', weight: Math.max(1, Math.round(Number(opts.get('weight') ?? 1) * 100)) }],
        loadBalancer: 'wrr' as const,
      },
    ];
  });
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
    const key = `${r.service}|${r.rule}|${JSON.stringify(r.middlewares)}`;
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

function labelsOf(i: ServiceInstance, prefix: string): Array<[string, string]> {
  return i.tags.flatMap((t) => {
    if (!t.startsWith(`${prefix}.`)) return [];
    const eq = t.indexOf('=');
    if (eq < 0) return [];
    const key = t.slice(prefix.length + 1, eq);
    return key === 'enable' || key === 'tags' || key === 'weight' ? [] : [[key, t.slice(eq + 1)] as [string, string]];
  });
}

function label(i: ServiceInstance, key: string): string | undefined {
  const tag = i.tags.find((t) => t.startsWith(`${key}=`));
  return tag?.slice(key.length + 1);
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
