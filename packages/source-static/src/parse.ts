import {
  check,
  ConfigError,
  DurationSchema,
  formatPath,
  HealthStatusSchema,
  MetaSchema,
  readYaml,
  Type,
  type CheckInput,
  type ConfigIssue,
  type InstanceInput,
  type Issue,
  type Static,
} from '@signpost/core';

/*
 * The file is Consul's service-definition shape (snake_case keys, as in Consul's
 * agent config files), plus `nodes` and a per-service `node` so one file can
 * describe a fleet. Check types Signpost runs: http, tcp and ttl.
 */

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Address = Type.String({ format: 'address' });

const CheckDef = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1 })),
    name: Type.Optional(Type.String({ minLength: 1 })),
    notes: Type.Optional(Type.String()),
    http: Type.Optional(Type.String({ minLength: 1 })),
    method: Type.Optional(Type.String({ minLength: 1 })),
    header: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
    body: Type.Optional(Type.String()),
    tls_skip_verify: Type.Optional(Type.Boolean()),
    disable_redirects: Type.Optional(Type.Boolean()),
    tls_server_name: Type.Optional(Type.String({ minLength: 1 })),
    tcp: Type.Optional(Type.String({ minLength: 1 })),
    tcp_use_tls: Type.Optional(Type.Boolean()),
    ttl: Type.Optional(DurationSchema),
    interval: Type.Optional(DurationSchema),
    timeout: Type.Optional(DurationSchema),
    status: Type.Optional(HealthStatusSchema),
    success_before_passing: Type.Optional(Type.Integer({ minimum: 0 })),
    failures_before_critical: Type.Optional(Type.Integer({ minimum: 0 })),
    failures_before_warning: Type.Optional(Type.Integer({ minimum: 0 })),
    output_max_size: Type.Optional(Type.Integer({ minimum: 1 })),
    deregister_critical_service_after: Type.Optional(DurationSchema),
  },
  { additionalProperties: false },
);

const ServiceDef = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    id: Type.Optional(Type.String({ minLength: 1 })),
    node: Type.Optional(Type.String({ minLength: 1 })),
    address: Type.Optional(Address),
    port: Type.Optional(Port),
    tags: Type.Optional(Type.Array(Type.String())),
    meta: Type.Optional(MetaSchema),
    weights: Type.Optional(Type.Object({ passing: Type.Integer({ minimum: 1 }), warning: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
    tagged_addresses: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Object({ address: Address, port: Port }, { additionalProperties: false }))),
    enable_tag_override: Type.Optional(Type.Boolean()),
    kind: Type.Optional(Type.String()),
    check: Type.Optional(CheckDef),
    checks: Type.Optional(Type.Array(CheckDef)),
  },
  { additionalProperties: false },
);

const NodeDef = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    address: Type.String({ format: 'address', minLength: 1 }),
    meta: Type.Optional(MetaSchema),
  },
  { additionalProperties: false },
);

export const ServicesFileSchema = Type.Object(
  {
    nodes: Type.Optional(Type.Array(NodeDef)),
    services: Type.Optional(Type.Array(ServiceDef)),
    service: Type.Optional(ServiceDef),
  },
  { additionalProperties: false },
);
export type ServicesFile = Static<typeof ServicesFileSchema>;
type ServiceDefinition = Static<typeof ServiceDef>;
type CheckDefinitionInput = Static<typeof CheckDef>;

/**
 * Parses a services file (JSON or YAML, told by the extension) into instances.
 * Throws a ConfigError naming the file and, for each problem, the line, the key
 * path and the reason. Nothing is dropped silently: duplicate ids, unknown keys,
 * unknown nodes, bad ports and addresses are all errors.
 */
export function parseServicesFile(text: string, file: string): InstanceInput[] {
  const json = /\.json$/i.test(file);
  let value: unknown;
  let located: ReturnType<typeof readYaml> | undefined;
  const locateAll = (issues: readonly Issue[]): ConfigIssue[] => {
    // Positions cost a second parse; JSON files (often large, generated) pay it only on error.
    located ??= readYaml(text, file);
    return issues.map(located.locate);
  };
  if (json) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(file, [jsonSyntaxIssue(text, err as Error)]);
    }
  } else {
    located = readYaml(text, file);
    value = located.value;
  }
  if (value === null || value === undefined) value = {};

  const shapeIssues = check(ServicesFileSchema, value);
  if (shapeIssues.length) throw new ConfigError(file, locateAll(shapeIssues));
  const doc = value as ServicesFile;

  const issues: Issue[] = [];
  if (doc.service && doc.services) issues.push({ path: ['service'], message: 'use either `service` or `services`, not both' });
  const nodes = new Map<string, { address: string; meta: Record<string, string>; at: number }>();
  for (const [n, node] of (doc.nodes ?? []).entries()) {
    const first = nodes.get(node.name);
    if (first) issues.push({ path: ['nodes', n, 'name'], message: `duplicate node "${node.name}" (nodes[${first.at}] has it)` });
    else nodes.set(node.name, { address: node.address, meta: node.meta ?? {}, at: n });
  }

  const defs: Array<[ServiceDefinition, (string | number)[]]> = doc.service
    ? [[doc.service, ['service']]]
    : (doc.services ?? []).map((s, n) => [s, ['services', n]]);
  const seen = new Map<string, string>();
  const instances: InstanceInput[] = [];
  for (const [def, at] of defs) {
    const id = def.id ?? def.name;
    const where = `${def.node ?? ''}\u0000${id}`;
    const dup = seen.get(where);
    if (dup) {
      issues.push({ path: [...at, def.id ? 'id' : 'name'], message: `duplicate id "${id}"${def.node ? ` on node "${def.node}"` : ''} (${dup} has it)` });
      continue;
    }
    seen.set(where, formatPath(at));
    const node = def.node === undefined ? undefined : nodes.get(def.node);
    if (def.node !== undefined && !node) {
      issues.push({ path: [...at, 'node'], message: `unknown node "${def.node}" (declare it under \`nodes\`)` });
      continue;
    }
    const checks: CheckInput[] = [];
    const checkDefs: Array<[CheckDefinitionInput, (string | number)[]]> = [
      ...(def.check ? [[def.check, [...at, 'check']] as [CheckDefinitionInput, (string | number)[]]] : []),
      ...(def.checks ?? []).map((c, n): [CheckDefinitionInput, (string | number)[]] => [c, [...at, 'checks', n]]),
    ];
    for (const [c, cat] of checkDefs) {
      const mapped = mapCheck(c, cat, issues);
      if (mapped) checks.push(mapped);
    }
    instances.push(
      compact({
        id: def.id,
        service: def.name,
        node: def.node,
        nodeAddress: node?.address,
        nodeMeta: node?.meta,
        address: def.address,
        port: def.port,
        tags: def.tags,
        meta: def.meta,
        weights: def.weights,
        taggedAddresses: def.tagged_addresses,
        enableTagOverride: def.enable_tag_override,
        kind: def.kind,
        checks: checks.length ? checks : undefined,
      }),
    );
  }
  if (issues.length) throw new ConfigError(file, locateAll(issues));
  return instances;
}

function mapCheck(c: CheckDefinitionInput, at: (string | number)[], issues: Issue[]): CheckInput | undefined {
  const kinds = (['http', 'tcp', 'ttl'] as const).filter((k) => c[k] !== undefined);
  if (kinds.length !== 1) {
    issues.push({ path: at, message: kinds.length ? `a check has one type; this one sets ${kinds.join(' and ')}` : 'a check needs one of http, tcp or ttl' });
    return undefined;
  }
  const type = kinds[0]!;
  if (type !== 'ttl' && c.interval === undefined) {
    issues.push({ path: [...at, 'interval'], message: `is required for ${type} checks` });
    return undefined;
  }
  return compact({
    id: c.id,
    name: c.name,
    notes: c.notes,
    type,
    status: c.status,
    definition: compact({
      http: c.http,
      method: c.method,
      header: c.header,
      body: c.body,
      tlsSkipVerify: c.tls_skip_verify,
      disableRedirects: c.disable_redirects,
      tlsServerName: c.tls_server_name,
      tcp: c.tcp,
      tcpUseTls: c.tcp_use_tls,
      ttl: c.ttl,
      interval: c.interval,
      timeout: c.timeout,
      successBeforePassing: c.success_before_passing,
      failuresBeforeCritical: c.failures_before_critical,
      failuresBeforeWarning: c.failures_before_warning,
      outputMaxSize: c.output_max_size,
      deregisterCriticalServiceAfter: c.deregister_critical_service_after,
    }),
  });
}

/** Drops undefined fields, so the instance validates with `additionalProperties: false` semantics intact. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function jsonSyntaxIssue(text: string, err: Error): ConfigIssue {
  const m = /position (\d+)/.exec(err.message);
  const message = `invalid JSON: ${err.message.replace(/ in JSON at position \d+.*$/, '')}`;
  if (!m) return { path: [], message };
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return { path: [], message, line, column: Number(m[1]) - before.lastIndexOf('\n') };
}
