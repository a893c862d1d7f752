import type { ServiceInstance } from '@signpost/core';
import type { Middleware } from './middlewares.js';
import type { Router, RouteProblem } from './routes.js';
import { compileRule, parseRule, RuleError } from './rules.js';
import { DEFAULT_TRANSPORT } from './transports.js';

/*
 * Fabio: `urlprefix-host/path strip=/path prepend=/x weight=0.5 proto=https`, one tag,
 * one route. Options this proxy does not implement (tlsskipverify, host, redirect,
 * auth, allow, deny, register, ...) drop the route with the reason: none is ignored.
 */

const FABIO_OPTIONS = new Set(['strip', 'prepend', 'weight', 'proto']);

export function fabioRoutes(i: ServiceInstance, service: string, problems: RouteProblem[]): Router[] {
  return i.tags.flatMap((tag, n) => {
    const m = /^urlprefix-(\S*)(.*)$/.exec(tag);
    if (!m) return [];
    const name = `fabio-${i.id}-${n}@${service}`;
    const refuse = (reason: string): Router[] => {
      problems.push({ service, instances: [i.id], router: name, key: tag, reason: `${reason}; the route is dropped` });
      return [];
    };
    const target = m[1]!;
    const opts = new Map<string, string>();
    for (const o of m[2]!.trim().split(/\s+/).filter(Boolean)) {
      const eq = o.indexOf('=');
      const key = eq < 0 ? o : o.slice(0, eq);
      if (!FABIO_OPTIONS.has(key)) return refuse(`Fabio option ${JSON.stringify(key)} is not implemented by this proxy`);
      opts.set(key, eq < 0 ? '' : o.slice(eq + 1));
    }
    const proto = opts.get('proto') ?? 'http';
    if (proto !== 'http' && proto !== 'https') return refuse(`Fabio proto=${proto} is not implemented by this proxy (http or https)`);
    const weight = Number(opts.get('weight') ?? 1);
    if (!Number.isFinite(weight) || weight <= 0) return refuse(`weight=${opts.get('weight')} is not a positive number`);
    const slash = target.indexOf('/');
    const host = slash < 0 ? target : target.slice(0, slash);
    const path = slash < 0 ? '/' : target.slice(slash);
    const rule = [host ? `Host(\`${host}\`)` : '', `PathPrefix(\`${path}\`)`].filter(Boolean).join(' && ');
    let matches: Router['matches'];
    try {
      matches = compileRule(parseRule(rule));
    } catch (err) {
      if (!(err instanceof RuleError)) throw err;
      return refuse(err.message);
    }
    const middlewares: Middleware[] = [];
    if (opts.get('strip')) middlewares.push({ stripPrefixes: [opts.get('strip')!] });
    if (opts.get('prepend')) middlewares.push({ addPrefix: opts.get('prepend')! });
    return [
      {
        name,
        service,
        rule,
        matches,
        priority: rule.length,
        entrypoints: [],
        middlewares,
        backends: [{ key: `${i.node}\u0000${i.id}`, host: i.address || i.nodeAddress, port: i.port, scheme: proto, transport: DEFAULT_TRANSPORT, weight: Math.max(1, Math.round(weight * 100)) }],
        loadBalancer: 'wrr' as const,
      },
    ];
  });
}
