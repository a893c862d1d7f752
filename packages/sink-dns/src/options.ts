import { DEFAULT_CONNECTION_LIMITS, parseDuration, Type, validate, ValidationError, type ConnectionLimits, type Static } from '@signpost/core';

const Duration = Type.String({ format: 'duration' });

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Plugin name (default "dns").' })),
    listen: Type.Optional(Type.String({ format: 'listen', description: 'UDP and TCP address (default 127.0.0.1:8600).' })),
    domain: Type.Optional(Type.String({ minLength: 1, pattern: '^([A-Za-z0-9_-]+\\.)*[A-Za-z0-9_-]+\\.?$', description: 'Default consul.' })),
    altDomain: Type.Optional(Type.String({ minLength: 1, pattern: '^([A-Za-z0-9_-]+\\.)*[A-Za-z0-9_-]+\\.?$' })),
    onlyPassing: Type.Optional(Type.Boolean({ description: 'Answer passing instances only (warning ones too by default).' })),
    nodeTtl: Type.Optional(Duration),
    serviceTtl: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Duration)),
    aRecordLimit: Type.Optional(Type.Integer({ minimum: 0, description: 'At most this many A/AAAA answers (0 = no limit).' })),
    recursors: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    recursorTimeout: Type.Optional(Duration),
    soa: Type.Optional(
      Type.Object(
        { minTtl: Type.Optional(Duration), refresh: Type.Optional(Duration), retry: Type.Optional(Duration), expire: Type.Optional(Duration) },
        { additionalProperties: false },
      ),
    ),
    tcpIdleTimeout: Type.Optional(Duration),
    maxConnsPerClient: Type.Optional(Type.Integer({ minimum: 0, description: 'Open TCP connections one client address may hold (default 200, as Consul\'s http_max_conns_per_client; 0 = no cap).' })),
    maxConns: Type.Optional(Type.Integer({ minimum: 0, description: 'Open TCP connections in all (default 4096; 0 = no cap).' })),
  },
  { additionalProperties: false },
);
export type DnsSinkOptions = Static<typeof optionsSchema>;

/** Options with defaults applied and durations in seconds (TTLs) or ms (timeouts). */
export interface ResolvedOptions {
  readonly name: string;
  readonly listen: string;
  readonly domains: readonly (readonly string[])[];
  readonly onlyPassing: boolean;
  readonly nodeTtl: number;
  readonly serviceTtl: (service: string) => number;
  readonly aRecordLimit: number;
  readonly recursors: readonly { readonly host: string; readonly port: number }[];
  readonly recursorTimeoutMs: number;
  readonly soa: { readonly minTtl: number; readonly refresh: number; readonly retry: number; readonly expire: number };
  readonly tcpIdleTimeoutMs: number;
  readonly connectionLimits: ConnectionLimits;
}

export function parseOptions(input: unknown): DnsSinkOptions {
  const options = validate(optionsSchema, input ?? {}, 'plugin dns');
  const issues = (options.recursors ?? []).flatMap((r, n) => (parseHostPort(r, 53) ? [] : [{ path: ['recursors', n], message: 'must be an IP address, optionally with :port' }]));
  if (issues.length) throw new ValidationError('plugin dns', issues);
  return options;
}

const seconds = (d: string | undefined, fallback: number): number => (d === undefined ? fallback : Math.floor(parseDuration(d) / 1000));

export function resolveOptions(options: DnsSinkOptions): ResolvedOptions {
  const labels = (d: string): string[] => d.toLowerCase().replace(/\.$/, '').split('.');
  const domains = [labels(options.domain ?? 'consul.')];
  if (options.altDomain) domains.push(labels(options.altDomain));
  return {
    name: options.name ?? 'dns',
    listen: options.listen ?? '127.0.0.1:8600',
    domains,
    onlyPassing: options.onlyPassing ?? false,
    nodeTtl: seconds(options.nodeTtl, 0),
    serviceTtl: ttlRules(options.serviceTtl ?? {}),
    aRecordLimit: options.aRecordLimit ?? 0,
    recursors: (options.recursors ?? []).map((r) => parseHostPort(r, 53)!),
    recursorTimeoutMs: options.recursorTimeout ? parseDuration(options.recursorTimeout) : 2000,
    soa: {
      minTtl: seconds(options.soa?.minTtl, 0),
      refresh: seconds(options.soa?.refresh, 3600),
      retry: seconds(options.soa?.retry, 600),
      expire: seconds(options.soa?.expire, 86400),
    },
    tcpIdleTimeoutMs: options.tcpIdleTimeout ? parseDuration(options.tcpIdleTimeout) : 10_000,
    connectionLimits: {
      perClient: options.maxConnsPerClient ?? DEFAULT_CONNECTION_LIMITS.perClient,
      total: options.maxConns ?? DEFAULT_CONNECTION_LIMITS.total,
    },
  };
}

/**
 * Consul's service_ttl rules: an exact name wins, then the longest `prefix*`,
 * then `*`; without a match the TTL is 0 (hashicorp/consul#4605 added prefixes).
 */
export function ttlRules(rules: Readonly<Record<string, string>>): (service: string) => number {
  const exact = new Map<string, number>();
  const prefixes: Array<[string, number]> = [];
  let wildcard = 0;
  for (const [key, value] of Object.entries(rules)) {
    const ttl = seconds(value, 0);
    if (key === '*') wildcard = ttl;
    else if (key.endsWith('*')) prefixes.push([key.slice(0, -1), ttl]);
    else exact.set(key, ttl);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  return (service) => exact.get(service) ?? prefixes.find(([p]) => service.startsWith(p))?.[1] ?? wildcard;
}

/** `10.0.0.1`, `10.0.0.1:5353`, `[::1]:53`, `::1`. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } | undefined {
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracket) return valid(bracket[1]!, bracket[2] ? Number(bracket[2]) : defaultPort);
  if ((text.match(/:/g) ?? []).length > 1) return valid(text, defaultPort);
  const [host, port] = text.split(':') as [string, string | undefined];
  return valid(host, port === undefined ? defaultPort : /^\d{1,5}$/.test(port) ? Number(port) : -1);
}

function valid(host: string, port: number): { host: string; port: number } | undefined {
  const isIp = /^[\d.]+$/.test(host) ? host.split('.').length === 4 && host.split('.').every((o) => Number(o) <= 255) : host.includes(':');
  return isIp && port > 0 && port <= 65535 ? { host, port } : undefined;
}
