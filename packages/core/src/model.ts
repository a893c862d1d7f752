import { Type, type Static } from '@sinclair/typebox';

/**
 * The catalog model, one JSON schema per type. The schemas validate at run time
 * (sources, config files, HTTP bodies) and give the static types below, so the
 * two never drift apart. Field names are Consul's concepts in camelCase; sinks
 * that speak Consul's wire format map them to Consul's exact names.
 */

/** A string enum as one JSON-schema `enum`, so a bad value gets one error listing the choices. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

export const HEALTH_STATUSES = ['passing', 'warning', 'critical'] as const;
export const HealthStatusSchema = StringEnum(HEALTH_STATUSES, {
  description: 'Consul check status; an instance is as healthy as its worst check.',
});
export type HealthStatus = Static<typeof HealthStatusSchema>;

/** A Go/Consul duration such as `10s`, `1m30s` or `500ms` (validated by the `duration` format). */
export const DurationSchema = Type.String({ format: 'duration', description: 'Go duration: 10s, 1m30s, 500ms' });

export const CheckTypeSchema = StringEnum(['http', 'tcp', 'ttl']);
export type CheckType = Static<typeof CheckTypeSchema>;

/** How a check is run; running it is the health plugin's job, the catalog only stores it. */
export const CheckDefinitionSchema = Type.Object(
  {
    http: Type.Optional(Type.String({ minLength: 1 })),
    method: Type.Optional(Type.String({ minLength: 1 })),
    header: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
    body: Type.Optional(Type.String()),
    tlsSkipVerify: Type.Optional(Type.Boolean()),
    /** The name an HTTPS check sends for SNI and checks the certificate against, instead of the URL's host (Consul's TLSServerName). */
    tlsServerName: Type.Optional(Type.String({ minLength: 1 })),
    /** HTTP checks follow redirects (as Consul's, through Go's client) unless this is true. */
    disableRedirects: Type.Optional(Type.Boolean()),
    tcp: Type.Optional(Type.String({ minLength: 1 })),
    /** A TCP check that also completes a TLS handshake, held to `tlsSkipVerify` and `tlsServerName` as HTTPS checks are (Consul 1.17's TCPUseTLS). */
    tcpUseTls: Type.Optional(Type.Boolean()),
    ttl: Type.Optional(DurationSchema),
    interval: Type.Optional(DurationSchema),
    timeout: Type.Optional(DurationSchema),
    successBeforePassing: Type.Optional(Type.Integer({ minimum: 0 })),
    failuresBeforeCritical: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Consecutive failures that turn the check warning before `failuresBeforeCritical` turns it critical (Consul 1.14); unset or 0 means the same as `failuresBeforeCritical`. */
    failuresBeforeWarning: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The most bytes of output kept for this check, below the 4 KB every check is held to (Consul's OutputMaxSize: it can only lower the agent's limit). */
    outputMaxSize: Type.Optional(Type.Integer({ minimum: 1 })),
    deregisterCriticalServiceAfter: Type.Optional(DurationSchema),
  },
  { additionalProperties: false },
);
export type CheckDefinition = Static<typeof CheckDefinitionSchema>;

export const CheckSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1 }),
    type: CheckTypeSchema,
    definition: CheckDefinitionSchema,
    status: HealthStatusSchema,
    output: Type.String(),
    notes: Type.String(),
  },
  { additionalProperties: false },
);
/** A check attached to a service instance. `status` starts `critical` (Consul's default) until it runs. */
export type Check = Static<typeof CheckSchema>;

/** Consul's limits on service and node meta: 64 pairs, keys of [A-Za-z0-9_-] up to 128, values up to 512. */
export const MetaSchema = Type.Unsafe<Record<string, string>>({
  type: 'object',
  propertyNames: { pattern: '^[A-Za-z0-9_-]{1,128}$' },
  additionalProperties: { type: 'string', maxLength: 512 },
  maxProperties: 64,
});

export const WeightsSchema = Type.Object(
  { passing: Type.Integer({ minimum: 1 }), warning: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
export type Weights = Static<typeof WeightsSchema>;

export const TaggedAddressSchema = Type.Object(
  { address: Type.String({ format: 'address' }), port: Type.Integer({ minimum: 0, maximum: 65535 }) },
  { additionalProperties: false },
);

/**
 * What a source says about one instance. Everything but `service` has a default,
 * filled in by `normalizeInstance` (node and datacenter come from the agent).
 */
export const InstanceInputSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    service: Type.String({ minLength: 1, maxLength: 255 }),
    node: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    nodeAddress: Type.Optional(Type.String({ format: 'address' })),
    nodeMeta: Type.Optional(MetaSchema),
    datacenter: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' })),
    address: Type.Optional(Type.String({ format: 'address' })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    tags: Type.Optional(Type.Array(Type.String())),
    meta: Type.Optional(MetaSchema),
    weights: Type.Optional(WeightsSchema),
    taggedAddresses: Type.Optional(Type.Record(Type.String({ minLength: 1 }), TaggedAddressSchema)),
    enableTagOverride: Type.Optional(Type.Boolean()),
    kind: Type.Optional(Type.String()),
    checks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.Optional(Type.String({ minLength: 1 })),
            name: Type.Optional(Type.String({ minLength: 1 })),
            type: CheckTypeSchema,
            definition: CheckDefinitionSchema,
            status: Type.Optional(HealthStatusSchema),
            output: Type.Optional(Type.String()),
            notes: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
export type InstanceInput = Static<typeof InstanceInputSchema>;
export type CheckInput = NonNullable<InstanceInput['checks']>[number];

/**
 * A fully specified instance as a source owns it, before the store stamps indexes.
 * The node's address and meta travel with each instance (as in Consul's catalog
 * entries), so a node is whatever its instances say it is.
 */
export interface InstanceSpec {
  readonly id: string;
  readonly service: string;
  readonly node: string;
  readonly nodeAddress: string;
  readonly nodeMeta: Readonly<Record<string, string>>;
  readonly datacenter: string;
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly weights: Weights;
  readonly taggedAddresses: Readonly<Record<string, { readonly address: string; readonly port: number }>>;
  readonly enableTagOverride: boolean;
  readonly kind: string;
  readonly checks: readonly Check[];
  /** The owner: the id of the source that registered it. Stamped by the registry. */
  readonly source: string;
}

/** An instance as committed to the catalog, with Consul's create/modify indexes. */
export interface ServiceInstance extends InstanceSpec {
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** A node, derived from the instances placed on it. */
export interface Node {
  readonly name: string;
  readonly address: string;
  readonly datacenter: string;
  readonly meta: Readonly<Record<string, string>>;
}

/** Instances are keyed by node and id: Consul's service ids are unique per node only. */
export interface InstanceRef {
  readonly node: string;
  readonly id: string;
}

export function instanceKey(ref: InstanceRef): string {
  return `${ref.node}\u0000${ref.id}`;
}
