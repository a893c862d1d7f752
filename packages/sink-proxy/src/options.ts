import { isIP } from 'node:net';
import { DEFAULT_CONNECTION_LIMITS, parseDuration, Type, validate, ValidationError, type ConnectionLimits, type Issue, type Static } from '@signpost/core';

const Duration = Type.String({ format: 'duration' });
const Name = Type.String({ pattern: '^[A-Za-z0-9_-]+$' });

/** Traefik's `entryPoints.<name>.forwardedHeaders`: whose X-Forwarded-* (and Forwarded) headers are believed. */
const ForwardedHeaders = Type.Object(
  {
    trustedIPs: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 1024, description: 'Addresses or CIDR ranges whose forwarded headers are kept.' })),
    insecure: Type.Optional(Type.Boolean({ description: 'Keep every client\'s forwarded headers (default false).' })),
  },
  { additionalProperties: false },
);

/** Traefik's `entryPoints.<name>.transport.respondingTimeouts`. */
const RespondingTimeouts = Type.Object(
  {
    readTimeout: Type.Optional(Type.String({ format: 'duration', description: 'Whole request, body included (default 60s; 0 = none).' })),
    writeTimeout: Type.Optional(Type.String({ format: 'duration', description: 'From the request\'s headers to the end of the response (default 0 = none).' })),
    idleTimeout: Type.Optional(Type.String({ format: 'duration', description: 'Keep-alive connection idle between requests (default 180s).' })),
  },
  { additionalProperties: false },
);

const EntryPoint = Type.Union([
  Type.String({ format: 'listen' }),
  Type.Object(
    {
      address: Type.String({ format: 'listen' }),
      forwardedHeaders: Type.Optional(ForwardedHeaders),
      transport: Type.Optional(Type.Object({ respondingTimeouts: Type.Optional(RespondingTimeouts) }, { additionalProperties: false })),
      maxConnsPerClient: Type.Optional(
        Type.Integer({
          minimum: 0,
          description: 'Open connections one client address may hold (default 200; 0 = no cap). Behind a load balancer that connects from few addresses, raise it or set 0.',
        }),
      ),
      maxConns: Type.Optional(Type.Integer({ minimum: 0, description: 'Open connections in all on this entry point (default 4096; 0 = no cap).' })),
    },
    { additionalProperties: false },
  ),
]);

/** Traefik's serversTransport: how TLS backends are verified. */
const ServersTransport = Type.Object(
  {
    insecureSkipVerify: Type.Optional(Type.Boolean({ description: 'Accept any certificate (default false).' })),
    rootCAs: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 64, description: 'CA certificates: PEM text or file paths (relative to the config file).' })),
    serverName: Type.Optional(Type.String({ minLength: 1, description: 'Name sent as SNI and checked against the certificate (default: the backend\'s host).' })),
  },
  { additionalProperties: false },
);

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1 })),
    entrypoints: Type.Optional(Type.Record(Name, EntryPoint, { description: 'Listeners by name: an address, or { address, forwardedHeaders, transport } (default { web: 127.0.0.1:8080 }).' })),
    admin: Type.Optional(Type.String({ format: 'listen', description: 'Admin endpoint (routers, backends and errors as JSON); off by default.' })),
    exposedByDefault: Type.Optional(Type.Boolean()),
    defaultRule: Type.Optional(Type.String({ minLength: 1 })),
    domain: Type.Optional(Type.String({ minLength: 1 })),
    prefix: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' })),
    includeWarning: Type.Optional(Type.Boolean({ description: 'Route to warning instances too (default true, as Consul DNS).' })),
    loadBalancer: Type.Optional(Type.Unsafe<'wrr' | 'leastconn'>({ type: 'string', enum: ['wrr', 'leastconn'], description: 'Weighted round robin (default) or least connections.' })),
    connectTimeout: Type.Optional(Duration),
    responseTimeout: Type.Optional(Duration),
    ejectFor: Type.Optional(Duration),
    serversTransport: Type.Optional(ServersTransport),
    serversTransports: Type.Optional(Type.Record(Name, ServersTransport, { description: 'Named transports a service selects with loadbalancer.serverstransport=<name>.' })),
    connectionsPerBackend: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'Pooled connections per backend (default 256).' })),
    streamingBodiesPerBackend: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'Of those, how many may carry a request body still arriving from its client (default half the pool).' })),
    requestBodyBuffer: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024, description: 'Bodies up to this many bytes are read whole before a backend connection is taken (default 65536).' })),
  },
  { additionalProperties: false },
);
export type ProxySinkOptions = Static<typeof optionsSchema>;
export type ServersTransportOptions = Static<typeof ServersTransport>;

export function parseOptions(input: unknown): ProxySinkOptions {
  const opts = validate(optionsSchema, input ?? {}, 'plugin proxy');
  const issues: Issue[] = [];
  for (const [name, ep] of Object.entries(opts.entrypoints ?? {})) {
    if (typeof ep === 'string') continue;
    (ep.forwardedHeaders?.trustedIPs ?? []).forEach((cidr, n) => {
      if (!isCidr(cidr)) issues.push({ path: ['entrypoints', name, 'forwardedHeaders', 'trustedIPs', n], message: 'must be an IP address or a CIDR range such as 10.0.0.0/8' });
    });
  }
  const connections = opts.connectionsPerBackend ?? 256;
  if (opts.streamingBodiesPerBackend !== undefined && opts.streamingBodiesPerBackend > connections) {
    issues.push({ path: ['streamingBodiesPerBackend'], message: `must not exceed connectionsPerBackend (${connections})` });
  }
  if (issues.length) throw new ValidationError('plugin proxy', issues);
  return opts;
}

export function isCidr(text: string): boolean {
  const [ip, bits, extra] = text.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** One entry point with every default filled in. */
export interface EntryPointConfig {
  readonly name: string;
  readonly address: string;
  readonly trustedIPs: readonly string[];
  readonly insecure: boolean;
  readonly readTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connectionLimits: ConnectionLimits;
}

/** Traefik's defaults (v3 "EntryPoints": readTimeout 60s, writeTimeout 0, idleTimeout 180s). */
export function entryPointConfigs(opts: ProxySinkOptions): EntryPointConfig[] {
  return Object.entries(opts.entrypoints ?? { web: '127.0.0.1:8080' }).map(([name, ep]) => {
    const full = typeof ep === 'string' ? { address: ep } : ep;
    const t = typeof ep === 'string' ? undefined : ep.transport?.respondingTimeouts;
    return {
      name,
      address: full.address,
      trustedIPs: (typeof ep === 'string' ? undefined : ep.forwardedHeaders?.trustedIPs) ?? [],
      insecure: (typeof ep === 'string' ? undefined : ep.forwardedHeaders?.insecure) ?? false,
      readTimeoutMs: parseDuration(t?.readTimeout ?? '60s'),
      writeTimeoutMs: parseDuration(t?.writeTimeout ?? '0'),
      idleTimeoutMs: parseDuration(t?.idleTimeout ?? '180s'),
      connectionLimits: {
        perClient: (typeof ep === 'string' ? undefined : ep.maxConnsPerClient) ?? DEFAULT_CONNECTION_LIMITS.perClient,
        total: (typeof ep === 'string' ? undefined : ep.maxConns) ?? DEFAULT_CONNECTION_LIMITS.total,
      },
    };
  });
}
