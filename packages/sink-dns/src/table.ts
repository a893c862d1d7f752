import { instanceHealth, type CatalogEvent, type CatalogReader, type ServiceInstance } from '@signpost/core';
import { canonicalIp, hexOf, ipBytes, wireSafe } from './names.js';
import { dnsName, type DnsName, type Labels } from './wire.js';

/** An SRV target: the node (`<node>.node.<dc>`) or the service's own address (`<hex>.addr.<dc>`). */
export interface Target {
  /** Labels before the domain. */
  readonly prefix: Labels;
  /** The full name under each served domain (index as in `domains`); a host-name target is the same under all. */
  readonly names: readonly DnsName[];
  /** Its address for the ADDITIONAL section (absent for a host-name target). */
  readonly ip?: Buffer;
}

/** One instance as DNS hands it out, precomputed when the catalog changes. */
export interface Member {
  readonly tags: ReadonlySet<string>;
  /** Index of its target in the entry's `targets` (instances on one node share one). */
  readonly targetIndex: number;
  /** 4 or 16 bytes; absent when the address is a host name. */
  readonly ip?: Buffer;
  readonly port: number;
  readonly weight: number;
  readonly target: Target;
}

export interface ServiceEntry {
  readonly members: readonly Member[];
  /** The distinct SRV targets of the members. */
  readonly targets: readonly Target[];
  readonly ttl: number;
}

export interface NodeEntry {
  readonly ip?: Buffer;
  /** TXT rdata, one per meta pair (RFC 1464 `key=value`; `rfc1035-` keys give the value alone). */
  readonly txt: readonly Buffer[];
}

export interface TableOptions {
  readonly datacenter: string;
  /** Served domains as labels (`domain`, then `altDomain`). */
  readonly domains: readonly (readonly string[])[];
  /** Drop warning instances too (critical ones are never answered). */
  readonly onlyPassing: boolean;
  /** TTL in seconds for a service name (exact, then longest `prefix*`, then `*`). */
  readonly serviceTtl: (service: string) => number;
}

/**
 * Everything DNS answers from, derived from the catalog and kept in step with it
 * incrementally: a change recomputes only the touched service, node and reverse
 * entries, once per commit, so queries never wait on a rebuild and a catalog of
 * 100,000 instances costs a query nothing.
 */
export class DnsTable {
  readonly #services = new Map<string, ServiceEntry>();
  readonly #nodes = new Map<string, NodeEntry>();
  /** ip → name prefixes (node or service) with a reference count each. */
  readonly #ptr = new Map<string, Map<string, { prefix: Labels; refs: number }>>();
  readonly #datacenters = new Map<string, number>();
  readonly #dirtyServices = new Set<string>();
  readonly #dirtyNodes = new Set<string>();
  #flushScheduled = false;

  constructor(
    private readonly catalog: CatalogReader,
    private readonly options: TableOptions,
  ) {}

  get datacenter(): string {
    return this.options.datacenter;
  }

  /** Applies one catalog event (the plugin follows `ctx.catalog.watch()` with this). */
  onEvent(event: CatalogEvent): void {
    if (event.type === 'snapshot') {
      this.#services.clear();
      this.#nodes.clear();
      this.#ptr.clear();
      this.#datacenters.clear();
      for (const i of event.instances) this.#touch(i, +1);
    } else {
      if (event.type === 'upsert' && event.previous) this.#touch(event.previous, -1);
      this.#touch(event.instance, event.type === 'upsert' ? +1 : -1);
    }
    // The deltas of one commit arrive back to back: recompute once, after the last.
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Recomputes what changed. Runs by itself after each commit; tests call it directly. */
  flush(): void {
    this.#flushScheduled = false;
    for (const key of this.#dirtyServices) this.#rebuildService(key);
    for (const key of this.#dirtyNodes) this.#rebuildNode(key);
    this.#dirtyServices.clear();
    this.#dirtyNodes.clear();
  }

  service(dc: string, name: string): ServiceEntry | undefined {
    return this.#services.get(serviceKey(dc, name));
  }

  /** As service(), with a key made once by serviceKey() (the responder caches it per question). */
  serviceByKey(key: string): ServiceEntry | undefined {
    return this.#services.get(key);
  }

  node(dc: string, name: string): NodeEntry | undefined {
    return this.#nodes.get(`${dc}\u0000${name}`);
  }

  /** Name prefixes (before the domain) that point back at this address. */
  reverse(ip: string): readonly Labels[] {
    const names = this.#ptr.get(ip);
    return names ? [...names.values()].map((n) => n.prefix) : [];
  }

  knowsDatacenter(dc: string): boolean {
    return dc === this.options.datacenter || this.#datacenters.has(dc);
  }

  #touch(i: ServiceInstance, delta: 1 | -1): void {
    const dc = i.datacenter.toLowerCase();
    this.#dirtyServices.add(`${dc}\u0000${i.service}`);
    this.#dirtyNodes.add(`${dc}\u0000${i.node}`);
    this.#datacenters.set(dc, (this.#datacenters.get(dc) ?? 0) + delta);
    if (this.#datacenters.get(dc)! <= 0) this.#datacenters.delete(dc);
    const nodeIp = canonicalIp(i.nodeAddress);
    if (nodeIp && wireSafe(labelsOf(i.node))) this.#ref(nodeIp, [...labelsOf(i.node), 'node', dc], delta);
    const own = i.address && i.address !== i.nodeAddress ? canonicalIp(i.address) : undefined;
    if (own && wireSafe([i.service.toLowerCase()])) this.#ref(own, [i.service.toLowerCase(), 'service', dc], delta);
  }

  #ref(ip: string, prefix: Labels, delta: 1 | -1): void {
    let names = this.#ptr.get(ip);
    if (!names) this.#ptr.set(ip, (names = new Map()));
    const key = prefix.join('.');
    const entry = names.get(key) ?? { prefix, refs: 0 };
    entry.refs += delta;
    if (entry.refs > 0) names.set(key, entry);
    else names.delete(key);
    if (names.size === 0) this.#ptr.delete(ip);
  }

  #rebuildService(key: string): void {
    const cut = key.indexOf('\u0000');
    const dc = key.slice(0, cut);
    const name = key.slice(cut + 1);
    const members: Member[] = [];
    const targets: Target[] = [];
    const targetAt = new Map<string, number>();
    for (const i of this.catalog.instances(name)) {
      if (i.datacenter.toLowerCase() !== dc) continue;
      const status = instanceHealth(i);
      if (status === 'critical' || (status === 'warning' && this.options.onlyPassing)) continue;
      const m = memberOf(i, dc, status === 'passing' ? i.weights.passing : i.weights.warning, this.options.domains);
      // No name this instance could be answered by: a host name that is not a DNS name.
      if (!m) continue;
      const tkey = m.target.prefix.join('.');
      let at = targetAt.get(tkey);
      if (at === undefined) {
        at = targets.push(m.target) - 1;
        targetAt.set(tkey, at);
      }
      members.push({ ...m, targetIndex: at });
    }
    const dnsKey = serviceKey(dc, name.toLowerCase());
    if (members.length) this.#services.set(dnsKey, { members, targets, ttl: this.options.serviceTtl(name) });
    else this.#services.delete(dnsKey);
  }

  #rebuildNode(key: string): void {
    const cut = key.indexOf('\u0000');
    const dc = key.slice(0, cut);
    const name = key.slice(cut + 1);
    const found = this.catalog.node(name);
    const dnsKey = `${dc}\u0000${name.toLowerCase()}`;
    if (!found || found.node.datacenter.toLowerCase() !== dc) {
      this.#nodes.delete(dnsKey);
      return;
    }
    const ip = ipBytes(found.node.address);
    const txt = Object.entries(found.node.meta).map(([k, v]) => txtRdata(k.startsWith('rfc1035-') ? v : `${k}=${v}`));
    this.#nodes.set(dnsKey, { ...(ip ? { ip } : {}), txt });
  }
}

function memberOf(i: ServiceInstance, dc: string, weight: number, domains: readonly (readonly string[])[]): Omit<Member, 'targetIndex'> | undefined {
  const address = i.address || i.nodeAddress;
  const ip = ipBytes(address);
  const under = (prefix: Labels): DnsName[] => domains.map((d) => dnsName([...prefix, ...d]));
  let target: Target;
  // A node whose name cannot go on the wire is named by its address instead, as one with its own address is.
  if ((!i.address || i.address === i.nodeAddress) && wireSafe(labelsOf(i.node))) {
    const nodeIp = ipBytes(i.nodeAddress);
    const prefix = [...labelsOf(i.node), 'node', dc];
    target = { prefix, names: under(prefix), ...(nodeIp ? { ip: nodeIp } : {}) };
  } else if (ip) {
    const prefix = [hexOf(ip), 'addr', dc];
    target = { prefix, names: under(prefix), ip };
  } else {
    // A host name: the SRV target is the name itself (resolved elsewhere).
    if (!wireSafe(labelsOf(address))) return undefined;
    const own = dnsName(labelsOf(address));
    target = { prefix: own.labels, names: domains.map(() => own) };
  }
  return { tags: new Set(i.tags.map((t) => t.toLowerCase())), ...(ip ? { ip } : {}), port: i.port, weight, target };
}

/** The table's key for a service in a datacenter (both lowercased). */
export function serviceKey(dc: string, service: string): string {
  return `${dc}\u0000${service}`;
}

function labelsOf(name: string): string[] {
  return name.toLowerCase().replace(/\.$/, '').split('.');
}

/** TXT rdata: character-strings of at most 255 bytes each. */
function txtRdata(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let off = 0; off < bytes.length || parts.length === 0; off += 255) {
    const chunk = bytes.subarray(off, off + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

