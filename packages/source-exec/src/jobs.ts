import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  check,
  ConfigError,
  MetaSchema,
  parseDuration,
  readYaml,
  Type,
  type CheckInput,
  type InstanceInput,
  type Issue,
  type Static,
} from '@signpost/core';

/*
 * The jobs file: what to run, how many, and the service each instance registers.
 * Shaped after a Nomad job's group (count, network ports, service, restart) so a
 * Nomad user reads it at once; ports are dynamic, as Nomad's `port "http" {}`.
 */

const Label = Type.String({ pattern: '^[A-Za-z0-9_]+$', description: 'port label: letters, digits and _ (it becomes NOMAD_PORT_<label>)' });
const Duration = Type.String({ format: 'duration' });

const CheckDef = Type.Object(
  {
    type: Type.Unsafe<'http' | 'tcp'>({ type: 'string', enum: ['http', 'tcp'] }),
    /** HTTP path on the instance's address and port (Nomad's check `path`). */
    path: Type.Optional(Type.String({ pattern: '^/' })),
    method: Type.Optional(Type.String({ minLength: 1 })),
    interval: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
    success_before_passing: Type.Optional(Type.Integer({ minimum: 0 })),
    failures_before_critical: Type.Optional(Type.Integer({ minimum: 0 })),
    failures_before_warning: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

const ServiceDef = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Label),
    tags: Type.Optional(Type.Array(Type.String())),
    meta: Type.Optional(MetaSchema),
    check: Type.Optional(CheckDef),
  },
  { additionalProperties: false },
);

const JobDef = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_-]+$' }),
    command: Type.String({ minLength: 1 }),
    args: Type.Optional(Type.Array(Type.String())),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
    count: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    ports: Type.Optional(Type.Array(Label, { minItems: 1 })),
    service: Type.Optional(ServiceDef),
    restart: Type.Optional(
      Type.Object(
        {
          delay: Type.Optional(Duration),
          maxDelay: Type.Optional(Duration),
          attempts: Type.Optional(Type.Integer({ minimum: 0, description: 'restarts before giving up; 0 = never give up' })),
        },
        { additionalProperties: false },
      ),
    ),
    killTimeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const JobsFileSchema = Type.Object({ jobs: Type.Array(JobDef) }, { additionalProperties: false });
type JobDefinition = Static<typeof JobDef>;

/** A job with every default filled in. */
export interface Job {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Absolute. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly count: number;
  readonly ports: readonly string[];
  readonly service?: {
    readonly name: string;
    readonly port: string;
    readonly tags: readonly string[];
    readonly meta: Readonly<Record<string, string>>;
    readonly check?: Static<typeof CheckDef>;
  };
  readonly restart: { readonly delayMs: number; readonly maxDelayMs: number; readonly attempts: number };
  readonly killTimeoutMs: number;
}

/**
 * Parses a jobs file (YAML or JSON). Throws a ConfigError naming the file and, for
 * each problem, the line, the key path and the reason.
 */
export function parseJobsFile(text: string, file: string, baseDir: string): Job[] {
  const doc = readYaml(text, file);
  const value = doc.value ?? { jobs: [] };
  const shape = check(JobsFileSchema, value);
  if (shape.length) throw new ConfigError(file, shape.map(doc.locate));
  const defs = (value as { jobs: JobDefinition[] }).jobs;
  const issues: Issue[] = [];
  const seen = new Map<string, number>();
  const jobs: Job[] = [];
  for (const [n, def] of defs.entries()) {
    const at = ['jobs', n];
    const first = seen.get(def.name);
    if (first !== undefined) issues.push({ path: [...at, 'name'], message: `duplicate job "${def.name}" (jobs[${first}] has it)` });
    seen.set(def.name, n);
    const ports = def.ports ?? (def.service ? [def.service.port ?? 'http'] : []);
    const label = def.service?.port ?? ports[0];
    if (def.service && label && !ports.includes(label)) {
      issues.push({ path: [...at, 'service', 'port'], message: `port label "${label}" is not among the job's ports (${ports.join(', ')})` });
    }
    if (def.service?.check?.type === 'tcp' && def.service.check.path) {
      issues.push({ path: [...at, 'service', 'check', 'path'], message: 'a tcp check has no path' });
    }
    const delayMs = parseDuration(def.restart?.delay ?? '1s');
    const maxDelayMs = parseDuration(def.restart?.maxDelay ?? '30s');
    if (maxDelayMs < delayMs) issues.push({ path: [...at, 'restart', 'maxDelay'], message: `must not be shorter than delay (${def.restart?.delay ?? '1s'})` });
    jobs.push({
      name: def.name,
      command: def.command,
      args: def.args ?? [],
      cwd: resolve(baseDir, def.cwd ?? '.'),
      env: def.env ?? {},
      count: def.count ?? 1,
      ports,
      ...(def.service
        ? {
            service: {
              name: def.service.name ?? def.name,
              port: label ?? 'http',
              tags: def.service.tags ?? [],
              meta: def.service.meta ?? {},
              ...(def.service.check ? { check: def.service.check } : {}),
            },
          }
        : {}),
      restart: { delayMs, maxDelayMs, attempts: def.restart?.attempts ?? 0 },
      killTimeoutMs: parseDuration(def.killTimeout ?? '5s'),
    });
  }
  if (issues.length) throw new ConfigError(file, issues.map(doc.locate));
  return jobs;
}

/** Two versions of a job run the same processes when everything but `count` is equal. */
export function sameProcess(a: Job, b: Job): boolean {
  return isDeepStrictEqual({ ...a, count: 0 }, { ...b, count: 0 });
}

/** One running instance of a job, as the scheduler placed it. */
export interface Placement {
  readonly job: Job;
  /** 0 … count-1: which of the job's instances this is (NOMAD_ALLOC_INDEX). */
  readonly index: number;
  /** A fresh id for every start, as Nomad gives a rescheduled allocation a new one. */
  readonly allocId: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly address: string;
}

/** The environment a placed process gets: the job's, then Nomad's variables for its ports. */
export function environment(p: Placement): Record<string, string> {
  const env: Record<string, string> = { ...p.job.env };
  for (const [label, port] of Object.entries(p.ports)) {
    env[`NOMAD_PORT_${label}`] = String(port);
    env[`NOMAD_HOST_PORT_${label}`] = String(port);
    env[`NOMAD_IP_${label}`] = p.address;
    env[`NOMAD_ADDR_${label}`] = `${p.address}:${port}`;
  }
  const main = p.job.service?.port ?? p.job.ports[0];
  if (main !== undefined && p.ports[main] !== undefined) env['PORT'] = String(p.ports[main]);
  env['NOMAD_ALLOC_ID'] = p.allocId;
  env['NOMAD_ALLOC_INDEX'] = String(p.index);
  env['NOMAD_JOB_NAME'] = p.job.name;
  env['NOMAD_TASK_NAME'] = p.job.name;
  return env;
}

/** What a placed instance registers, or nothing for a job without a service. */
export function registration(p: Placement): InstanceInput | undefined {
  const svc = p.job.service;
  if (!svc) return undefined;
  const port = p.ports[svc.port]!;
  const checks: CheckInput[] = [];
  if (svc.check) {
    const c = svc.check;
    const common = {
      interval: c.interval ?? '10s',
      ...(c.timeout ? { timeout: c.timeout } : {}),
      ...(c.success_before_passing !== undefined ? { successBeforePassing: c.success_before_passing } : {}),
      ...(c.failures_before_critical !== undefined ? { failuresBeforeCritical: c.failures_before_critical } : {}),
      ...(c.failures_before_warning !== undefined ? { failuresBeforeWarning: c.failures_before_warning } : {}),
    };
    checks.push(
      c.type === 'http'
        ? { name: `service: "${svc.name}" check`, type: 'http', definition: { http: `http://${hostPort(p.address, port)}${c.path ?? '/'}`, ...(c.method ? { method: c.method } : {}), ...common } }
        : { name: `service: "${svc.name}" check`, type: 'tcp', definition: { tcp: hostPort(p.address, port), ...common } },
    );
  }
  return {
    // Nomad's own form is _nomad-task-<alloc>-<group>-<task>-<service>-<port label>.
    id: `_exec-${p.allocId}-${p.job.name}-${svc.name}-${svc.port}`,
    service: svc.name,
    address: p.address,
    port,
    tags: [...svc.tags],
    meta: { ...svc.meta, 'external-source': 'exec', 'exec-job': p.job.name, 'exec-alloc-id': p.allocId, 'exec-alloc-index': String(p.index) },
    checks,
  };
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

