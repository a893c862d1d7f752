import { timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Subscription } from 'rxjs';
import {
  defaultCheckId,
  DEFAULT_CONNECTION_LIMITS,
  limitConnections,
  formatIssue,
  formatListen,
  instanceHealth,
  isStoreUnavailable,
  normalizeInstance,
  parseDuration,
  parseListen,
  ValidationError,
  wellFormed,
  type Catalog,
  type ConnectionLimiter,
  type CheckInput,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type ServiceInstance,
  type SourceEvent,
} from '@signpost/core';
import { AgentState, withChecks, type Registration } from './agent-state.js';
import type { CompactionStep, LogStats } from './registration-log.js';
import { Waiters } from './blocking.js';
import { decodeAgentCheck, decodeAgentService, decodeCatalogDeregistration, decodeCatalogRegistration, DecodeError } from './decode.js';
import { compileFilter, FilterError } from './filter.js';
import { agentCheck, agentService, catalogServiceEntry, checkObject, healthEntry, nodeId, nodeObject, serviceObject } from './format.js';
import { optionsSchema, parseOptions, type HttpSinkOptions } from './options.js';
import { Reaper } from './reaper.js';
import { TtlTimers, ttlOutput } from './ttl.js';

/** The Consul version `/v1/agent/self` reports (clients check features by it). */
export const CONSUL_VERSION = '1.21.0';
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;

export interface HttpSink extends Plugin {
  /** Where it listens once started. */
  address(): { host: string; port: number } | undefined;
  /** Requests blocked in a blocking query right now. */
  blockedRequests(): number;
  /** Connections open now, and refused by `maxConnsPerClient` / `maxConns` since start. */
  connections(): { open: number; refused: number };
  /** The registrations log's counters (records, appends, fsyncs, compactions, sizes) while it runs with a data directory. */
  persistence(): LogStats | undefined;
}

/** Knobs for tests and benchmarks, not for configs: a small log compacts often. */
export interface HttpSinkTuning {
  /** Compact once the log is past this and twice the live registrations (default 4 MiB). */
  readonly compactMinBytes?: number;
  readonly onCompactionStep?: (step: CompactionStep) => void | Promise<void>;
}

/** A plain-text error with Consul's status code. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Query = Record<string, string | string[] | undefined>;

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[v.length - 1] : v);
const all = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Consul's HTTP API over the catalog: reads with blocking queries (sink), and
 * agent and catalog registrations (source, through `ctx.publish`).
 */
export function httpSink(options: HttpSinkOptions = {}, tuning: HttpSinkTuning = {}): HttpSink {
  const opts = parseOptions(options);
  const name = opts.name ?? 'http';
  let app: FastifyInstance | undefined;
  let subscription: Subscription | undefined;
  let waiters: Waiters | undefined;
  let bound: { host: string; port: number } | undefined;
  let ttl: TtlTimers | undefined;
  let reap: Reaper | undefined;
  let limiter: ConnectionLimiter | undefined;
  let agentState: AgentState | undefined;

  const serve = async (ctx: PluginContext, state: AgentState): Promise<void> => {
    // Re-assert what clients registered before a restart: one reset replaces whatever this source owned.
    await ctx.publish([{ type: 'reset', instances: state.instances() }]);
    const catalog = ctx.catalog;
    const w = new Waiters((key) => indexOf(catalog, key));
    waiters = w;
    const reaper = new Reaper(ctx.owner, async (i) => {
      ctx.logger.info({ service: i.service, id: i.id, node: i.node }, 'deregistering a service critical for longer than its deregisterCriticalServiceAfter');
      const removed = i.node === ctx.node ? state.deleteAgentService(i.id) : state.deleteCatalogService(i.node, i.id);
      if (!removed) return;
      // Its TTL checks go with it: a deadline left armed would expire a check no longer there.
      if (i.node === ctx.node) for (const c of i.checks) ttl?.disarm(c.id);
      await ctx.publish([{ type: 'remove', ref: { node: i.node, id: i.id } }]);
      await state.sync();
    });
    reap = reaper;
    subscription = catalog.follow((event) => {
      reaper.onEvent(event);
      const touched = event.type === 'snapshot' ? [] : [event.instance, ...(event.type === 'upsert' && event.previous ? [event.previous] : [])];
      for (const i of touched) {
        w.touch(`service:${i.service}`);
        w.touch(`node:${i.node}`);
      }
      for (const key of ['services', 'nodes', 'global']) w.touch(key);
    });

    app = Fastify({ logger: false, bodyLimit: opts.maxBodyBytes ?? 1024 * 1024, maxParamLength: 1024, forceCloseConnections: true });
    limiter = limitConnections(
      app.server,
      { perClient: opts.maxConnsPerClient ?? DEFAULT_CONNECTION_LIMITS.perClient, total: opts.maxConns ?? DEFAULT_CONNECTION_LIMITS.total },
      ctx.logger,
      'http api',
    );
    ttl = new TtlTimers(ctx);
    // Registered before a restart, their deadlines run again from now, as Consul's agent restarts its checks.
    ttl.armChecks(state.agentChecks());
    build(app, ctx, state, w, opts, ttl);
    const { host, port } = parseListen(opts.listen ?? '127.0.0.1:8500');
    await app.listen({ host, port });
    const address = app.server.address();
    bound = { host, port: typeof address === 'object' && address ? address.port : port };
    ctx.logger.info({ listen: formatListen(bound) }, 'http api listening');
  };

  return {
    name,
    // What clients register here is this replica's, as a Consul agent's services are its own:
    // its start-up reset must never replace what another replica's API registered.
    ownership: 'replica',
    async start(ctx) {
      // The log and its snapshots in <dataDir>/<name>-registrations/; <name>-registrations.json
      // is where earlier versions kept them, moved into the log once.
      const state = new AgentState(
        ctx.dataDir
          ? { dir: join(ctx.dataDir, `${name}-registrations`), legacyFile: join(ctx.dataDir, `${name}-registrations.json`), fsync: opts.fsync ?? 'always', logger: ctx.logger, validate: publishable(ctx), ...tuning }
          : undefined,
      );
      await state.load();
      agentState = state;
      try {
        await serve(ctx, state);
      } catch (err) {
        // The directory's lock goes with it, so that a start that failed (a port in use) holds nothing.
        await app?.close().catch(() => undefined);
        await state.close().catch(() => undefined);
        agentState = undefined;
        throw err;
      }
    },
    async stop() {
      subscription?.unsubscribe();
      ttl?.close();
      reap?.close();
      waiters?.close();
      await app?.close();
      app = undefined;
      // What the requests answered before the close wrote is on disk once this settles.
      await agentState?.close();
      agentState = undefined;
    },
    address: () => bound,
    blockedRequests: () => waiters?.size ?? 0,
    connections: () => ({ open: limiter?.open ?? 0, refused: limiter?.refused ?? 0 }),
    persistence: () => agentState?.stats(),
  };
}

/** Why a saved registration would be refused by `ctx.publish` (checked at start, so that one bad record cannot stop it), if it would. */
function publishable(ctx: PluginContext): (reg: Registration) => string | undefined {
  const defaults = { node: ctx.node, nodeAddress: ctx.nodeAddress, datacenter: ctx.datacenter };
  return (reg) => {
    try {
      normalizeInstance(withChecks(reg), ctx.owner, defaults);
      return undefined;
    } catch (err) {
      return err instanceof ValidationError ? err.issues.map(formatIssue).join('; ') : (err as Error).message;
    }
  };
}

/** The index a resource key answers with (never 0). */
function indexOf(catalog: Catalog, key: string): number {
  if (key === 'services') return catalog.servicesIndex;
  if (key === 'nodes') return catalog.nodesIndex;
  if (key.startsWith('service:')) return catalog.serviceIndex(key.slice(8));
  if (key.startsWith('node:')) return catalog.nodeIndex(key.slice(5));
  return catalog.index;
}

function build(app: FastifyInstance, ctx: PluginContext, state: AgentState, waiters: Waiters, opts: HttpSinkOptions, ttl: TtlTimers): void {
  const { catalog } = ctx;
  // Serialized bodies by request (blocking parameters aside), reused while the
  // catalog has not changed: a hot read costs a map lookup, not a JSON.stringify.
  const bodies = new Map<string, { index: number; body: string }>();
  const BODY_CACHE = 1000;
  // A write is answered once its change is on disk: appended to the registrations log with the
  // others of its turn, one fdatasync for them all. The log logs a failure once; each request says it.
  const persist = (): Promise<void> =>
    state.sync().catch((err: unknown) => {
      throw new HttpError(500, `could not persist the registration: ${(err as Error).message}`);
    });

  // Consul's clients PUT JSON with or without a content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      // A "\ud800" escape decodes to a lone surrogate, which no UTF-8 answer could carry: U+FFFD, as Go's decoder.
      done(null, /\\u[dD][89a-fA-F]/.test(text) ? wellFormed(JSON.parse(text)) : JSON.parse(text));
    } catch (err) {
      done(new HttpError(400, `Request decode failed: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).type('text/plain; charset=utf-8').send(err.message);
    // A filter can fail while it runs too (a value too long to match a pattern against).
    if (err instanceof FilterError) return reply.code(400).type('text/plain; charset=utf-8').send(`Failed to evaluate the filter: ${err.message}`);
    if (err instanceof DecodeError) return reply.code(400).type('text/plain; charset=utf-8').send(`Request decode failed: ${err.message}`);
    if (err instanceof ValidationError) return reply.code(400).type('text/plain; charset=utf-8').send(err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).type('text/plain; charset=utf-8').send('Request body too large');
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).type('text/plain; charset=utf-8').send(err.message);
    // Not written: the client should retry (a registration is idempotent).
    if (isStoreUnavailable(err)) return reply.code(503).type('text/plain; charset=utf-8').send(err.message);
    ctx.logger.error({ err }, 'http api request failed');
    return reply.code(500).type('text/plain; charset=utf-8').send(err.message);
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).type('text/plain; charset=utf-8').send('404 page not found\n'));

  // ACL: every request needs read rights, every write (PUT) write rights.
  if (opts.acl) {
    const acl = opts.acl;
    const tokens = acl.tokens.map((t) => ({ secret: Buffer.from(t.token), rights: t.rights }));
    const rank = { none: 0, read: 1, write: 2 } as const;
    app.addHook('onRequest', async (req) => {
      const header = req.headers['x-consul-token'];
      const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const token = (Array.isArray(header) ? header[0] : header) ?? bearer ?? one((req.query as Query)['token']);
      let rights: 'none' | 'read' | 'write' = acl.anonymous ?? 'read';
      if (token) {
        const given = Buffer.from(token);
        const match = tokens.find((t) => t.secret.length === given.length && timingSafeEqual(t.secret, given));
        if (!match) throw new HttpError(403, 'ACL not found');
        rights = match.rights;
      }
      const needed = req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write';
      if (rank[rights] < rank[needed]) throw new HttpError(403, 'Permission denied');
    });
  }

  /** A read: consistency and datacenter checks, then a blocking wait on `key`, then the body. */
  const read =
    (key: (req: FastifyRequest) => string, render: (req: FastifyRequest) => unknown, fields?: readonly string[]) =>
    async (req: FastifyRequest, reply: FastifyReply): Promise<string> => {
      const q = req.query as Query;
      if (q['stale'] !== undefined && q['consistent'] !== undefined) throw new HttpError(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
      const dc = one(q['dc']);
      if (dc && dc !== ctx.datacenter) throw new HttpError(500, 'No path to datacenter');
      // Consul refuses a consistent read without a leader; a default or stale read still answers.
      if (q['consistent'] !== undefined && !catalog.contact().knownLeader) throw new HttpError(500, 'No cluster leader');
      const filterText = one(q['filter']) ?? '';
      let keep: ((item: unknown) => boolean) | undefined;
      if (filterText !== '') {
        if (!fields) throw new HttpError(400, 'filtering is not supported on this endpoint');
        try {
          keep = compileFilter(filterText, fields);
        } catch (err) {
          if (err instanceof FilterError) throw new HttpError(400, `Failed to create boolean expression evaluator: ${err.message}`);
          throw err;
        }
      }
      const resource = key(req);
      const index = one(q['index']);
      if (index !== undefined && index !== '') {
        if (!/^\d+$/.test(index)) throw new HttpError(400, 'Invalid index');
        const min = Number(index);
        const waitText = one(q['wait']);
        let ms = DEFAULT_WAIT_MS;
        if (waitText) {
          try {
            ms = Math.min(MAX_WAIT_MS, parseDuration(waitText));
          } catch {
            throw new HttpError(400, 'Invalid wait time');
          }
        }
        // Consul adds up to wait/16 of jitter so that watchers do not return in lockstep.
        ms += Math.random() * (ms / 16);
        const { done, cancel } = waiters.wait(resource, min, ms);
        // The response's close (not the request's, already read by now) tells a client went away.
        reply.raw.once('close', cancel);
        await done;
      }
      // Reads are served from this replica's view; while its store cannot reach its backend they are
      // stale and say so, as a Consul follower without a leader does for ?stale reads.
      const contact = catalog.contact();
      reply.headers({
        'content-type': 'application/json',
        'x-consul-index': String(Math.max(1, indexOf(catalog, resource))),
        'x-consul-knownleader': String(contact.knownLeader),
        'x-consul-lastcontact': String(Math.round(contact.lastContactMs)),
        'x-consul-effective-consistency': q['stale'] !== undefined || !contact.knownLeader ? 'stale' : q['consistent'] !== undefined ? 'consistent' : 'leader',
      });
      const cacheKey = req.url.includes('?') ? req.url.replace(/([?&])(index|wait)=[^&]*/g, '$1') : req.url;
      const cached = bodies.get(cacheKey);
      if (cached && cached.index === catalog.index) return cached.body;
      const value = render(req);
      const body = JSON.stringify(keep ? applyFilter(value, keep) : value);
      if (bodies.size >= BODY_CACHE) bodies.clear();
      bodies.set(cacheKey, { index: catalog.index, body });
      return body;
    };

  const params = (req: FastifyRequest): Record<string, string> => req.params as Record<string, string>;
  const tagged = (req: FastifyRequest, instances: readonly ServiceInstance[]): readonly ServiceInstance[] => {
    const tags = all((req.query as Query)['tag']);
    return tags.length ? instances.filter((i) => tags.every((t) => i.tags.includes(t))) : instances;
  };
  const local = (instances: Iterable<ServiceInstance>): ServiceInstance[] => [...instances].filter((i) => i.node === ctx.node);

  // --- catalog ---------------------------------------------------------------------
  app.get('/v1/catalog/datacenters', read(() => 'global', () => [...new Set([ctx.datacenter, ...catalog.nodes().map((n) => n.datacenter)])].sort()));
  app.get('/v1/catalog/services', read(() => 'services', () => Object.fromEntries(catalog.services())));
  app.get('/v1/catalog/service/:service', read((r) => `service:${params(r)['service']}`, (r) => tagged(r, catalog.instances(params(r)['service']!)).map(catalogServiceEntry), FIELDS.catalogService));
  app.get('/v1/catalog/nodes', read(() => 'nodes', () => catalog.nodes().map((n) => nodeObject(n, nodeIndexes(catalog.node(n.name)?.instances ?? []))), FIELDS.node));
  app.get(
    '/v1/catalog/node/:node',
    read(
      (r) => `node:${params(r)['node']}`,
      (r) => {
        const found = catalog.node(params(r)['node']!);
        if (!found) return null;
        return { Node: nodeObject(found.node, nodeIndexes(found.instances)), Services: Object.fromEntries(found.instances.map((i) => [i.id, serviceObject(i)])) };
      },
    ),
  );

  // --- health ----------------------------------------------------------------------
  app.get(
    '/v1/health/service/:service',
    read(
      (r) => `service:${params(r)['service']}`,
      (r) => {
        const passing = passingParam((r.query as Query)['passing']);
        return tagged(r, catalog.instances(params(r)['service']!))
          .filter((i) => !passing || instanceHealth(i) === 'passing')
          .map(healthEntry);
      },
      FIELDS.health,
    ),
  );
  app.get('/v1/health/checks/:service', read((r) => `service:${params(r)['service']}`, (r) => catalog.instances(params(r)['service']!).flatMap((i) => i.checks.map((c) => checkObject(i, c))), FIELDS.check));
  app.get(
    '/v1/health/state/:state',
    read(
      () => 'global',
      (r) => {
        const wanted = params(r)['state']!;
        if (!['any', 'passing', 'warning', 'critical'].includes(wanted)) throw new HttpError(400, 'Invalid state');
        return sortedInstances(catalog).flatMap((i) => i.checks.filter((c) => wanted === 'any' || c.status === wanted).map((c) => checkObject(i, c)));
      },
      FIELDS.check,
    ),
  );
  app.get('/v1/health/node/:node', read((r) => `node:${params(r)['node']}`, (r) => (catalog.node(params(r)['node']!)?.instances ?? []).flatMap((i) => i.checks.map((c) => checkObject(i, c))), FIELDS.check));

  // --- agent and status --------------------------------------------------------------
  app.get('/v1/agent/self', read(() => 'global', () => agentSelf(ctx)));
  app.get('/v1/agent/services', read(() => 'global', () => Object.fromEntries(local(catalog.allInstances()).map((i) => [i.id, agentService(i)])), FIELDS.agentService));
  app.get('/v1/agent/service/:id', read(() => 'global', (r) => {
    const i = catalog.instance({ node: ctx.node, id: params(r)['id']! });
    if (!i) throw new HttpError(404, `unknown service ID: ${params(r)['id']}`);
    return agentService(i);
  }));
  app.get('/v1/agent/checks', read(() => 'global', () => Object.fromEntries(local(catalog.allInstances()).flatMap((i) => i.checks.map((c) => [c.id, agentCheck(i, c)]))), FIELDS.check));
  app.get('/v1/agent/members', read(() => 'global', () => [member(ctx)]));
  app.get('/v1/status/leader', read(() => 'global', () => `${ctx.nodeAddress}:8300`));
  app.get('/v1/status/peers', read(() => 'global', () => [`${ctx.nodeAddress}:8300`]));

  // --- writes ------------------------------------------------------------------------
  /** Publishes as this plugin; a rejection by the store is the client's fault (400). */
  const publish = async (events: SourceEvent[]): Promise<void> => {
    const result = await ctx.publish(events);
    if (result.rejected.length) throw new HttpError(400, result.rejected.map((r) => r.reason).join('; '));
  };
  /** Publishes a registration, and only once the store took it, remembers and persists it. */
  const saveAgentService = async (id: string, registration: Registration): Promise<void> => {
    await publish([{ type: 'upsert', instance: withChecks(registration) }]);
    state.setAgentService(id, registration);
    await persist();
  };
  const saveCatalogService = async (node: string, id: string, registration: Registration): Promise<void> => {
    await publish([{ type: 'upsert', instance: withChecks(registration) }]);
    state.setCatalogService(node, id, registration);
    await persist();
  };
  const withIds = (serviceId: string, checks: readonly CheckInput[]): CheckInput[] =>
    checks.map((c, n) => (c.id ? c : { ...c, id: defaultCheckId(serviceId, checks.length > 1 ? n + 1 : 0) }));

  app.put('/v1/agent/service/register', async (req, reply) => {
    const { instance, checks } = decodeAgentService(req.body);
    const id = instance.id ?? instance.service;
    const replace = (req.query as Query)['replace-existing-checks'] !== undefined;
    const fresh = withIds(id, checks);
    const before = state.agentService(id)?.checks ?? [];
    const kept = replace ? [] : before.filter((c) => !fresh.some((f) => f.id === c.id));
    const registration: Registration = { instance: { ...instance, id, node: ctx.node }, checks: [...kept, ...fresh] };
    await saveAgentService(id, registration);
    for (const c of before) if (c.id && !registration.checks.some((r) => r.id === c.id)) ttl.disarm(c.id);
    ttl.armChecks(fresh);
    return reply.code(200).send('');
  });

  app.put('/v1/agent/service/deregister/:id', async (req, reply) => {
    const id = params(req)['id']!;
    if (!state.agentService(id)) throw new HttpError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
    for (const c of catalog.instance({ node: ctx.node, id })?.checks ?? []) ttl.disarm(c.id);
    await publish([{ type: 'remove', ref: { node: ctx.node, id } }]);
    state.deleteAgentService(id);
    await persist();
    return reply.code(200).send('');
  });

  app.put('/v1/agent/check/register', async (req, reply) => {
    const { check, serviceId } = decodeAgentCheck(req.body);
    if (!serviceId) throw new HttpError(400, 'ServiceID is required: Signpost attaches checks to services');
    const current = state.agentService(serviceId);
    if (!current) throw new HttpError(400, `ServiceID "${serviceId}" does not exist`);
    const id = check.id ?? check.name!;
    const registration: Registration = { instance: current.instance, checks: [...current.checks.filter((c) => c.id !== id), { ...check, id }] };
    await saveAgentService(serviceId, registration);
    ttl.armChecks([{ ...check, id }]);
    return reply.code(200).send('');
  });

  app.put('/v1/agent/check/deregister/:id', async (req, reply) => {
    const id = params(req)['id']!;
    const owner = catalog.instanceByCheck(ctx.node, id);
    const current = owner ? state.agentService(owner.id) : undefined;
    if (!owner || !current) throw new HttpError(404, `Unknown check ID "${id}"`);
    const registration: Registration = { instance: current.instance, checks: current.checks.filter((c) => c.id !== id) };
    await saveAgentService(owner.id, registration);
    ttl.disarm(id);
    return reply.code(200).send('');
  });

  const ttlUpdate = (status: 'passing' | 'warning' | 'critical') => async (req: FastifyRequest, reply: FastifyReply) => {
    const id = params(req)['id']!;
    const owner = catalog.instanceByCheck(ctx.node, id);
    const check = owner?.checks.find((c) => c.id === id);
    if (!check) throw new HttpError(404, `Unknown check ID "${id}"`);
    if (check.type !== 'ttl') throw new HttpError(500, `CheckID "${id}" does not have associated TTL`);
    const body = req.body as { Status?: unknown; Output?: unknown } | undefined;
    const output = ttlOutput(one((req.query as Query)['note']) ?? (typeof body?.Output === 'string' ? body.Output : ''), check.definition);
    await publish([{ type: 'checkStatus', node: ctx.node, checkId: id, status, output }]);
    if (check.definition.ttl) ttl.arm(id, parseDuration(check.definition.ttl), output);
    return reply.code(200).send('');
  };
  app.put('/v1/agent/check/pass/:id', ttlUpdate('passing'));
  app.put('/v1/agent/check/warn/:id', ttlUpdate('warning'));
  app.put('/v1/agent/check/fail/:id', ttlUpdate('critical'));
  app.put('/v1/agent/check/update/:id', async (req, reply) => {
    const body = req.body as { Status?: unknown } | undefined;
    const status = body?.Status;
    if (status !== 'passing' && status !== 'warning' && status !== 'critical') throw new HttpError(400, 'Status: must be passing, warning or critical');
    return ttlUpdate(status)(req, reply);
  });

  app.put('/v1/catalog/register', async (req, reply) => {
    const reg = decodeCatalogRegistration(req.body);
    if (reg.datacenter && reg.datacenter !== ctx.datacenter) throw new HttpError(500, 'No path to datacenter');
    if (!reg.service) return reply.type('application/json').send('true'); // a node alone: nodes exist through their services here
    const id = reg.service.instance.id ?? reg.service.instance.service;
    const extra = reg.checks.filter((c) => !c.serviceId || c.serviceId === id).map((c) => c.check);
    const checks = withIds(id, [...reg.service.checks, ...extra]);
    const registration: Registration = {
      instance: { ...reg.service.instance, id, node: reg.node, nodeAddress: reg.address, nodeMeta: reg.nodeMeta, datacenter: ctx.datacenter },
      checks,
    };
    await saveCatalogService(reg.node, id, registration);
    return reply.type('application/json').send('true');
  });

  app.put('/v1/catalog/deregister', async (req, reply) => {
    const dereg = decodeCatalogDeregistration(req.body);
    const ids = dereg.serviceId ? [dereg.serviceId] : dereg.checkId ? [] : state.catalogServicesOn(dereg.node);
    if (dereg.checkId && !dereg.serviceId) {
      const owner = catalog.instanceByCheck(dereg.node, dereg.checkId);
      const current = owner ? state.catalogService(dereg.node, owner.id) : undefined;
      if (owner && current) {
        const registration = { instance: current.instance, checks: current.checks.filter((c) => c.id !== dereg.checkId) };
        await saveCatalogService(dereg.node, owner.id, registration);
      }
    } else {
      if (!dereg.serviceId && !ids.length) {
        // Nothing of ours on the node: services another replica of this plugin registered there are its to remove, as with a ServiceID.
        const others = [...new Set(catalog.node(dereg.node)?.instances.map((i) => i.source).filter((s) => s !== ctx.owner && s.startsWith(`${ctx.owner.split('@')[0]}@`)))];
        if (others.length) throw new HttpError(400, `services on node "${dereg.node}" are registered through ${others.join(', ')}: deregister them there`);
      }
      await publish(ids.map((id) => ({ type: 'remove', ref: { node: dereg.node, id } })));
      for (const id of ids) state.deleteCatalogService(dereg.node, id);
    }
    await persist();
    return reply.type('application/json').send('true');
  });

}

/** Top-level fields of each kind of entry, for validating filter selectors (taken from the formatters themselves). */
const SAMPLE: ServiceInstance = {
  id: 's', service: 's', node: 'n', nodeAddress: '', nodeMeta: {}, datacenter: 'dc1', address: '', port: 0, tags: [], meta: {},
  weights: { passing: 1, warning: 1 }, taggedAddresses: {}, enableTagOverride: false, kind: 'k', checks: [], source: 's', createIndex: 1, modifyIndex: 1,
};
const SAMPLE_CHECK = { id: 'c', name: 'c', type: 'ttl' as const, definition: {}, status: 'passing' as const, output: '', notes: '' };
const FIELDS = {
  catalogService: Object.keys(catalogServiceEntry(SAMPLE)),
  health: Object.keys(healthEntry(SAMPLE)),
  check: Object.keys(checkObject(SAMPLE, SAMPLE_CHECK)),
  node: Object.keys(nodeObject({ name: 'n', address: '', datacenter: 'dc1', meta: {} }, { create: 1, modify: 1 })),
  agentService: Object.keys(agentService(SAMPLE)),
};

/** Filters a list, or the values of a map (agent endpoints answer maps). */
function applyFilter(body: unknown, keep: (item: unknown) => boolean): unknown {
  if (Array.isArray(body)) return body.filter(keep);
  if (body && typeof body === 'object') return Object.fromEntries(Object.entries(body).filter(([, v]) => keep(v)));
  return body;
}

function passingParam(v: string | string[] | undefined): boolean {
  if (v === undefined) return false;
  const text = one(v) ?? '';
  if (text === '') return true;
  if (/^(1|t|true|TRUE|True)$/.test(text)) return true;
  if (/^(0|f|false|FALSE|False)$/.test(text)) return false;
  throw new HttpError(400, 'Invalid value for ?passing');
}

function nodeIndexes(instances: readonly ServiceInstance[]): { create: number; modify: number } {
  let create = Infinity;
  let modify = 1;
  for (const i of instances) {
    create = Math.min(create, i.createIndex);
    modify = Math.max(modify, i.modifyIndex);
  }
  return { create: Number.isFinite(create) ? create : 1, modify };
}

function sortedInstances(catalog: Catalog): ServiceInstance[] {
  return [...catalog.services().keys()].flatMap((s) => catalog.instances(s));
}

function member(ctx: PluginContext): Record<string, unknown> {
  return { Name: ctx.node, Addr: ctx.nodeAddress, Port: 8301, Tags: { dc: ctx.datacenter, role: 'consul', build: CONSUL_VERSION }, Status: 1 };
}

function agentSelf(ctx: PluginContext): Record<string, unknown> {
  return {
    Config: {
      Datacenter: ctx.datacenter,
      PrimaryDatacenter: ctx.datacenter,
      NodeName: ctx.node,
      NodeID: nodeId(ctx.node),
      Revision: 'signpost',
      Server: true,
      Version: CONSUL_VERSION,
    },
    Member: member(ctx),
    Meta: {},
    Coord: null,
    Stats: {},
  };
}

/** Config entry: `plugins: [{ plugin: http, listen: 127.0.0.1:8500 }]`. */
export const plugin: PluginModule<HttpSinkOptions, Plugin> = {
  name: 'http',
  kind: 'source+sink',
  optionsSchema,
  parseOptions,
  create: httpSink,
};
