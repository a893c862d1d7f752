import { parseName, type Lookup } from './names.js';
import type { ResolvedOptions } from './options.js';
import { serviceKey, type DnsTable } from './table.js';
import { BADVERS_UPPER, CLASS_ANY, CLASS_IN, dnsName, isParseError, parseQuery, questionLabels, RCODE, ResponseWriter, TYPE, type DnsName, type Query } from './wire.js';

/** A parsed question name, with the table key of a service lookup made once. */
type Plan = Lookup & { readonly key?: string };

/** How many distinct question names keep their parse; past it the cache starts over. */
const PLAN_CACHE = 10_000;

/** The largest UDP answer we send, whatever a client's EDNS buffer says (and what our OPT advertises). */
export const MAX_UDP = 4096;

export type Reply =
  /** Send these bytes back. */
  | { readonly kind: 'answer'; readonly bytes: Buffer; readonly rcode: number; readonly truncated: boolean }
  /** Not ours: forward the query to the recursors (SERVFAIL if they all fail). */
  | { readonly kind: 'forward'; readonly query: Query }
  /** Send nothing (a response, or too short to carry an id). */
  | { readonly kind: 'drop' };

/**
 * Answers DNS queries from a DnsTable, as Consul's DNS interface does. Pure but
 * for the clock (SOA serial) and the shuffle: bytes in, bytes out, no I/O.
 */
export class Responder {
  readonly #writer = new ResponseWriter();
  readonly #nsIp: Buffer | undefined;
  /** Per served domain: the apex, `ns.<domain>` and `hostmaster.<domain>`. */
  readonly #apexNames: readonly { apex: DnsName; ns: DnsName; hostmaster: DnsName }[];
  #order: number[] = [];
  #targetAt = new Int32Array(64);
  readonly #plans = new Map<string, Plan>();

  constructor(
    private readonly table: DnsTable,
    private readonly options: ResolvedOptions,
    nsAddress: Buffer | undefined,
    private readonly random: () => number = Math.random,
  ) {
    this.#nsIp = nsAddress;
    this.#apexNames = options.domains.map((d) => ({ apex: dnsName(d), ns: dnsName(['ns', ...d]), hostmaster: dnsName(['hostmaster', ...d]) }));
  }

  respond(packet: Buffer, transport: 'udp' | 'tcp'): Reply {
    const q = parseQuery(packet);
    if (isParseError(q)) {
      if (q.drop) return { kind: 'drop' };
      return this.#error(q, q.rcode, transport === 'tcp' ? 65535 : 512);
    }
    const limit = transport === 'tcp' ? 65535 : q.edns ? Math.max(512, Math.min(q.edns.udpSize, MAX_UDP)) : 512;
    if (q.edns && q.edns.version !== 0) return this.#error(q, 0, limit, BADVERS_UPPER); // RFC 6891 6.1.3
    if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) return this.#error(q, RCODE.NOTIMP, limit);
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return this.#error(q, RCODE.REFUSED, limit);

    // Parse each distinct name once: the same few names are asked over and over.
    const name = packet.toString('latin1', 12, q.questionEnd - 4);
    let lookup = this.#plans.get(name);
    if (!lookup) {
      const parsed = parseName(questionLabels(packet), this.options.domains);
      lookup = parsed.kind === 'service' ? { ...parsed, key: serviceKey(parsed.dc ?? this.table.datacenter, parsed.service) } : parsed;
      if (this.#plans.size >= PLAN_CACHE) this.#plans.clear();
      this.#plans.set(name, lookup);
    }
    if (lookup.kind === 'outside') {
      return this.options.recursors.length ? { kind: 'forward', query: q } : this.#error(q, RCODE.REFUSED, limit);
    }
    const w = this.#writer;
    w.begin(q, limit - (q.edns ? 11 : 0));
    const rcode = this.#answer(q, lookup);
    if (rcode === 'forward') return { kind: 'forward', query: q };
    return this.#finish(q, rcode, limit, true);
  }

  /** The answer to send when every recursor failed. */
  servfail(q: Query, transport: 'udp' | 'tcp'): Buffer {
    const limit = transport === 'tcp' ? 65535 : 512;
    const reply = this.#error(q, RCODE.SERVFAIL, limit);
    return reply.kind === 'answer' ? reply.bytes : Buffer.alloc(0);
  }

  #error(q: { id: number; rd: boolean; opcode: number; packet?: Buffer | undefined; questionEnd?: number | undefined; edns?: Query['edns'] }, rcode: number, limit: number, extUpper = 0): Reply {
    const w = this.#writer;
    w.begin(q, limit);
    if (q.edns) w.opt(MAX_UDP, extUpper);
    const bytes = w.finish({ rcode, aa: false, ra: this.options.recursors.length > 0, rd: q.rd, opcode: q.opcode });
    return { kind: 'answer', bytes, rcode: extUpper ? 16 : rcode, truncated: false };
  }

  #finish(q: Query, rcode: number, limit: number, aa: boolean): Reply {
    const w = this.#writer;
    if (q.edns) {
      w.setLimit(limit);
      w.opt(MAX_UDP);
    }
    const truncated = w.truncated;
    const bytes = w.finish({ rcode, aa, ra: this.options.recursors.length > 0, rd: q.rd, opcode: q.opcode });
    return { kind: 'answer', bytes, rcode, truncated };
  }

  #answer(q: Query, lookup: Exclude<Plan, { kind: 'outside' }>): number | 'forward' {
    switch (lookup.kind) {
      case 'apex':
        return this.#apex(q, lookup.domain);
      case 'ns':
        return this.#ns(q, lookup.domain);
      case 'service':
        return this.#service(q, lookup);
      case 'node':
        return this.#node(q, lookup);
      case 'addr':
        return this.#addr(q, lookup);
      case 'ptr':
        return this.#ptr(q, lookup.ip);
      case 'unknown':
        return this.#negative(RCODE.NXDOMAIN, lookup.domain);
    }
  }

  #dc(dc: string | undefined): string | undefined {
    const name = dc ?? this.table.datacenter;
    return this.table.knowsDatacenter(name) ? name : undefined;
  }

  #service(q: Query, l: Extract<Lookup, { kind: 'service' }> & { readonly key?: string }): number {
    const dc = this.#dc(l.dc);
    const entry = dc === undefined ? undefined : l.key ? this.table.serviceByKey(l.key) : this.table.service(dc, l.service);
    let members = entry?.members ?? [];
    if (l.tag !== undefined) members = members.filter((m) => m.tags.has(l.tag!));
    // No instance that passes the health filter is an unknown name, as in Consul.
    if (!entry || members.length === 0) return this.#negative(RCODE.NXDOMAIN, l.domain);
    const order = this.#shuffle(members.length);
    const w = this.#writer;
    const ttl = entry.ttl;
    let wrote = 0;
    const wantA = q.qtype === TYPE.A || q.qtype === TYPE.ANY;
    const wantAAAA = q.qtype === TYPE.AAAA || q.qtype === TYPE.ANY;
    if (q.qtype === TYPE.SRV) {
      // Where each target was first written, so ADDITIONAL owners point at it (-1: not yet).
      if (this.#targetAt.length < entry.targets.length) this.#targetAt = new Int32Array(entry.targets.length * 2);
      const targetAt = this.#targetAt;
      targetAt.fill(-1, 0, entry.targets.length);
      const count = order.length;
      for (let k = 0; k < count; k++) {
        const m = members[order[k]!]!;
        const at = w.answerSrv(ttl, m.weight, m.port, entry.targets[m.targetIndex]!.names[l.domain]!);
        if (at < 0) break;
        if (targetAt[m.targetIndex]! < 0) targetAt[m.targetIndex] = at;
        wrote++;
      }
      // The targets' addresses, once each, unless the answers were already cut short.
      if (!w.truncated) {
        for (let t = 0; t < entry.targets.length; t++) {
          const at = targetAt[t]!;
          const ip = entry.targets[t]!.ip;
          if (at < 0 || !ip) continue;
          if (!w.additionalIp(at, ttl, ip)) break;
        }
      }
    } else if (wantA || wantAAAA) {
      const cap = this.options.aRecordLimit || Infinity;
      for (const n of order) {
        if (wrote >= cap) break;
        const ip = members[n]!.ip;
        if (!ip || !((ip.length === 4 && wantA) || (ip.length === 16 && wantAAAA))) continue;
        if (!w.answerIp(ttl, ip)) break;
        wrote++;
      }
    }
    if (wrote === 0 && !w.truncated) return this.#negative(RCODE.NOERROR, l.domain);
    return RCODE.NOERROR;
  }

  #node(q: Query, l: Extract<Lookup, { kind: 'node' }>): number {
    const dc = this.#dc(l.dc);
    const entry = dc === undefined ? undefined : this.table.node(dc, l.node);
    if (!entry) return this.#negative(RCODE.NXDOMAIN, l.domain);
    const w = this.#writer;
    const ttl = this.options.nodeTtl;
    let wrote = 0;
    const ip = entry.ip;
    if (ip && (q.qtype === TYPE.ANY || (q.qtype === TYPE.A && ip.length === 4) || (q.qtype === TYPE.AAAA && ip.length === 16))) {
      if (w.record(0, null, ip.length === 4 ? TYPE.A : TYPE.AAAA, ttl, (x) => x.bytes(ip))) wrote++;
    }
    if (q.qtype === TYPE.TXT || q.qtype === TYPE.ANY) {
      for (const txt of entry.txt) if (w.record(0, null, TYPE.TXT, ttl, (x) => x.bytes(txt))) wrote++;
    }
    return wrote || w.truncated ? RCODE.NOERROR : this.#negative(RCODE.NOERROR, l.domain);
  }

  #addr(q: Query, l: Extract<Lookup, { kind: 'addr' }>): number {
    if (this.#dc(l.dc) === undefined || !/^([0-9a-f]{8}|[0-9a-f]{32})$/.test(l.hex)) return this.#negative(RCODE.NXDOMAIN, l.domain);
    const ip = Buffer.from(l.hex, 'hex');
    const type = ip.length === 4 ? TYPE.A : TYPE.AAAA;
    if (q.qtype !== type && q.qtype !== TYPE.ANY) return this.#negative(RCODE.NOERROR, l.domain);
    this.#writer.record(0, null, type, this.options.nodeTtl, (x) => x.bytes(ip));
    return RCODE.NOERROR;
  }

  #ptr(q: Query, ip: string): number | 'forward' {
    const names = this.table.reverse(ip);
    if (names.length === 0) return this.options.recursors.length ? 'forward' : this.#negative(RCODE.NXDOMAIN, 0);
    if (q.qtype !== TYPE.PTR && q.qtype !== TYPE.ANY) return this.#negative(RCODE.NOERROR, 0);
    for (const prefix of names) {
      const target = [...prefix, ...this.options.domains[0]!];
      if (!this.#writer.record(0, null, TYPE.PTR, this.options.nodeTtl, (x) => x.name(target))) break;
    }
    return RCODE.NOERROR;
  }

  #apex(q: Query, domain: number): number {
    const w = this.#writer;
    const wantSoa = q.qtype === TYPE.SOA || q.qtype === TYPE.ANY;
    const wantNs = q.qtype === TYPE.NS || q.qtype === TYPE.ANY;
    if (!wantSoa && !wantNs) return this.#negative(RCODE.NOERROR, domain);
    if (wantSoa) this.#soa(0, domain);
    if (wantNs) {
      const ns = this.#apexNames[domain]!.ns;
      w.record(0, null, TYPE.NS, this.options.soa.minTtl, (x) => x.name(ns));
      const ip = this.#nsIp;
      if (ip) w.record(2, ns, ip.length === 4 ? TYPE.A : TYPE.AAAA, this.options.soa.minTtl, (x) => x.bytes(ip));
    }
    return RCODE.NOERROR;
  }

  #ns(q: Query, domain: number): number {
    const ip = this.#nsIp;
    const type = ip?.length === 16 ? TYPE.AAAA : TYPE.A;
    if (!ip || (q.qtype !== type && q.qtype !== TYPE.ANY)) return this.#negative(RCODE.NOERROR, domain);
    this.#writer.record(0, null, type, this.options.soa.minTtl, (x) => x.bytes(ip));
    return RCODE.NOERROR;
  }

  /** NXDOMAIN or NODATA: the SOA in AUTHORITY; its minimum is the negative TTL (RFC 2308). */
  #negative(rcode: number, domain: number): number {
    this.#soa(1, domain);
    return rcode;
  }

  #soa(section: 0 | 1, domain: number): void {
    const names = this.#apexNames[domain]!;
    const { minTtl, refresh, retry, expire } = this.options.soa;
    this.#writer.record(section, names.apex, TYPE.SOA, minTtl, (x) => {
      x.name(names.ns);
      x.name(names.hostmaster);
      x.u32(Math.floor(Date.now() / 1000));
      x.u32(refresh);
      x.u32(retry);
      x.u32(expire);
      x.u32(minTtl);
    });
  }

  /** A random order of `n` indexes (Fisher–Yates): answers are shuffled per query. */
  #shuffle(n: number): number[] {
    // One scratch array, reused: a query allocates nothing for its order.
    const order = this.#order;
    order.length = n;
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    return order;
  }
}
