import { isAddress, isDuration, type CheckInput, type HealthStatus, type InstanceInput } from '@signpost/core';

/**
 * Registration bodies as Consul decodes them: field names match case-insensitively
 * and snake_case is accepted (`enable_tag_override` = `EnableTagOverride`); fields
 * Signpost does not use (Proxy, Connect, Namespace…) are accepted and ignored, as
 * Go's JSON decoder ignores them. User-chosen keys (Meta, TaggedAddresses, Header)
 * are kept exactly. Every error names the field.
 */
export class DecodeError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = 'DecodeError';
  }
}

type Json = Record<string, unknown>;

const fold = (key: string): string => key.replace(/_/g, '').toLowerCase();

/** Reads fields of a JSON object by Consul's folded names. */
class Fields {
  readonly #map = new Map<string, unknown>();
  constructor(
    readonly value: Json,
    readonly at: string,
  ) {
    for (const [k, v] of Object.entries(value)) this.#map.set(fold(k), v);
  }

  #path(name: string): string {
    return this.at ? `${this.at}.${name}` : name;
  }

  raw(...names: string[]): unknown {
    for (const n of names) {
      const v = this.#map.get(fold(n));
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  }

  string(name: string, ...aliases: string[]): string | undefined {
    const v = this.raw(name, ...aliases);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new DecodeError(this.#path(name), `must be a string, not ${JSON.stringify(v)}`);
    return v;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new DecodeError(this.#path(name), `must be an integer, not ${JSON.stringify(v)}`);
    if (v < min || v > max) throw new DecodeError(this.#path(name), `must be between ${min} and ${max}, not ${v}`);
    return v;
  }

  boolean(name: string): boolean | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new DecodeError(this.#path(name), `must be true or false, not ${JSON.stringify(v)}`);
    return v;
  }

  duration(name: string, ...aliases: string[]): string | undefined {
    const v = this.raw(name, ...aliases);
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !isDuration(v)) throw new DecodeError(this.#path(name), `must be a duration such as 10s or 1m30s, not ${JSON.stringify(v)}`);
    return v;
  }

  strings(name: string): string[] | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((t) => typeof t !== 'string')) throw new DecodeError(this.#path(name), 'must be a list of strings');
    return v as string[];
  }

  stringMap(name: string): Record<string, string> | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v) || Object.values(v as Json).some((x) => typeof x !== 'string')) {
      throw new DecodeError(this.#path(name), 'must be an object of string values');
    }
    return { ...(v as Record<string, string>) };
  }

  object(name: string, ...aliases: string[]): Fields | undefined {
    const v = this.raw(name, ...aliases);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(this.#path(name), 'must be an object');
    return new Fields(v as Json, this.#path(name));
  }

  objects(name: string): Fields[] | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'object' || x === null || Array.isArray(x))) throw new DecodeError(this.#path(name), 'must be a list of objects');
    return (v as Json[]).map((x, n) => new Fields(x, `${this.#path(name)}[${n}]`));
  }

  address(name: string, ...aliases: string[]): string | undefined {
    const v = this.string(name, ...aliases);
    if (v !== undefined && v !== '' && !isAddress(v)) throw new DecodeError(this.#path(name), `must be an IP address or a host name, not ${JSON.stringify(v)}`);
    return v;
  }
}

function asFields(body: unknown, what: string): Fields {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DecodeError('', `${what} must be a JSON object`);
  return new Fields(body as Json, '');
}

/** A check in a registration, as Signpost's model holds it (`ServiceID` returned apart). */
export interface DecodedCheck {
  readonly check: CheckInput;
  readonly serviceId?: string;
}

const UNSUPPORTED = ['Args', 'ScriptArgs', 'GRPC', 'DockerContainerID', 'AliasService', 'AliasNode', 'H2PING', 'UDP', 'OSService'];

export function decodeCheck(f: Fields): DecodedCheck {
  for (const name of UNSUPPORTED) {
    if (f.raw(name) !== undefined) throw new DecodeError(f.at ? `${f.at}.${name}` : name, `${name} checks are not supported (Signpost runs HTTP, TCP and TTL checks)`);
  }
  const http = f.string('HTTP');
  const tcp = f.string('TCP');
  const ttl = f.duration('TTL');
  const kinds = [http !== undefined && 'HTTP', tcp !== undefined && 'TCP', ttl !== undefined && 'TTL'].filter(Boolean);
  if (kinds.length !== 1) {
    throw new DecodeError(f.at, kinds.length ? `a check has one type; this one sets ${kinds.join(' and ')}` : 'a check needs one of HTTP, TCP or TTL');
  }
  const interval = f.duration('Interval');
  if (ttl === undefined && interval === undefined) throw new DecodeError(f.at ? `${f.at}.Interval` : 'Interval', `is required for ${kinds[0]} checks`);
  const status = f.string('Status');
  if (status !== undefined && status !== '' && !['passing', 'warning', 'critical'].includes(status)) {
    throw new DecodeError(f.at ? `${f.at}.Status` : 'Status', `must be passing, warning or critical, not ${JSON.stringify(status)}`);
  }
  const headerRaw = f.raw('Header');
  let header: Record<string, string[]> | undefined;
  if (headerRaw !== undefined) {
    if (typeof headerRaw !== 'object' || Array.isArray(headerRaw) || Object.values(headerRaw as Json).some((v) => !Array.isArray(v) || v.some((s) => typeof s !== 'string'))) {
      throw new DecodeError(f.at ? `${f.at}.Header` : 'Header', 'must be an object of string lists');
    }
    header = headerRaw as Record<string, string[]>;
  }
  const definition = compact({
    http,
    method: f.string('Method'),
    header,
    body: f.string('Body'),
    tlsSkipVerify: f.boolean('TLSSkipVerify'),
    disableRedirects: f.boolean('DisableRedirects'),
    tlsServerName: f.string('TLSServerName') || undefined,
    tcp,
    tcpUseTls: f.boolean('TCPUseTLS'),
    ttl,
    interval,
    timeout: f.duration('Timeout'),
    successBeforePassing: f.integer('SuccessBeforePassing', 0, 1_000_000),
    failuresBeforeCritical: f.integer('FailuresBeforeCritical', 0, 1_000_000),
    failuresBeforeWarning: f.integer('FailuresBeforeWarning', 0, 1_000_000) || undefined,
    // Consul takes 0 (and, at the agent, anything above its own limit) as "the agent's limit".
    outputMaxSize: f.integer('OutputMaxSize', 0, 1_000_000_000) || undefined,
    deregisterCriticalServiceAfter: f.duration('DeregisterCriticalServiceAfter'),
  });
  const check = compact({
    id: f.string('CheckID', 'ID') || undefined,
    name: f.string('Name') || undefined,
    notes: f.string('Notes'),
    type: (http !== undefined ? 'http' : tcp !== undefined ? 'tcp' : 'ttl') as CheckInput['type'],
    definition,
    status: (status || undefined) as HealthStatus | undefined,
  }) as CheckInput;
  const serviceId = f.string('ServiceID') || undefined;
  return serviceId ? { check, serviceId } : { check };
}

/** `PUT /v1/agent/service/register`: the service (without node, the agent's), and its checks. */
export function decodeAgentService(body: unknown): { instance: InstanceInput; checks: CheckInput[] } {
  const f = asFields(body, 'the service definition');
  const name = f.string('Name');
  if (!name) throw new DecodeError('Name', 'missing service name');
  return decodeService(f, name);
}

function decodeService(f: Fields, name: string): { instance: InstanceInput; checks: CheckInput[] } {
  const weights = f.object('Weights');
  const tagged = f.object('TaggedAddresses');
  const checks = [...(f.object('Check') ? [f.object('Check')!] : []), ...(f.objects('Checks') ?? [])].map((c) => decodeCheck(c).check);
  const instance = compact({
    id: f.string('ID') || undefined,
    service: name,
    address: f.address('Address'),
    port: f.integer('Port', 0, 65535),
    tags: f.strings('Tags') ?? [],
    meta: f.stringMap('Meta') ?? {},
    kind: f.string('Kind'),
    enableTagOverride: f.boolean('EnableTagOverride'),
    weights: weights
      ? { passing: weights.integer('Passing', 1, 65535) ?? 1, warning: weights.integer('Warning', 0, 65535) ?? 1 }
      : undefined,
    taggedAddresses: tagged
      ? Object.fromEntries(
          Object.keys(tagged.value).map((k) => {
            const t = tagged.object(k)!;
            return [k, { address: t.address('Address') ?? '', port: t.integer('Port', 0, 65535) ?? 0 }];
          }),
        )
      : undefined,
  }) as InstanceInput;
  return { instance, checks };
}

/** `PUT /v1/catalog/register`: a node and optionally one service on it with checks. */
export function decodeCatalogRegistration(body: unknown): {
  node: string;
  address: string;
  datacenter?: string;
  nodeMeta: Record<string, string>;
  service?: { instance: InstanceInput; checks: CheckInput[] };
  checks: DecodedCheck[];
} {
  const f = asFields(body, 'the registration');
  const node = f.string('Node');
  if (!node) throw new DecodeError('Node', 'missing node name');
  const address = f.address('Address');
  if (!address) throw new DecodeError('Address', 'missing node address');
  const svc = f.object('Service');
  let service: { instance: InstanceInput; checks: CheckInput[] } | undefined;
  if (svc) {
    const name = svc.string('Service', 'Name');
    if (!name) throw new DecodeError('Service.Service', 'missing service name');
    service = decodeService(svc, name);
  }
  const checks = [...(f.object('Check') ? [f.object('Check')!] : []), ...(f.objects('Checks') ?? [])].map(decodeCheck);
  const datacenter = f.string('Datacenter') || undefined;
  return { node, address, ...(datacenter ? { datacenter } : {}), nodeMeta: f.stringMap('NodeMeta') ?? {}, ...(service ? { service } : {}), checks };
}

/** `PUT /v1/catalog/deregister`. */
export function decodeCatalogDeregistration(body: unknown): { node: string; serviceId?: string; checkId?: string } {
  const f = asFields(body, 'the deregistration');
  const node = f.string('Node');
  if (!node) throw new DecodeError('Node', 'missing node name');
  const serviceId = f.string('ServiceID') || undefined;
  const checkId = f.string('CheckID') || undefined;
  return { node, ...(serviceId ? { serviceId } : {}), ...(checkId ? { checkId } : {}) };
}

/** `PUT /v1/agent/check/register`: a check, attached to a service by ServiceID. */
export function decodeAgentCheck(body: unknown): DecodedCheck {
  const f = asFields(body, 'the check definition');
  const decoded = decodeCheck(f);
  if (!decoded.check.name) throw new DecodeError('Name', 'missing check name');
  return decoded;
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

