import { parseName, type Lookup } from './names.js';
import type { ResolvedOptions } from './options.js';
import type { DnsTable, Member } from './table.js';
import { BADVERS_UPPER, CLASS_ANY, CLASS_IN, encodeName, parseQuery, RCODE, ResponseWriter, TYPE, type Labels, type Query } from './wire.js';

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
  readonly #targets = new Map<string, { labels: Labels; wire: Buffer }>();
  readonly #nsIp: Buffer | undefined;

  constructor(
    private readonly table: DnsTable,
    private readonly options: ResolvedOptions,
    nsAddress: Buffer | undefined,
    private readonly random: () => number = Math.random,
  ) {
    this.#nsIp = nsAddress;
  }

  respond(packet: Buffer, transport: 'udp' | 'tcp'): Reply {
    const parsed = parseQuery(packet);
    if (!parsed.ok) {
      if (parsed.drop) return { kind: 'drop' };
      return this.#error(parsed, parsed.rcode, transport === 'tcp' ? 65535 : 512);
    }
    const q = parsed.query;
    const limit = transport === 'tcp' ? 65535 : q.edns ? Math.max(512, Math.min(q.edns.udpSize, MAX_UDP)) : 512;
    if (q.edns && q.edns.version !== 0) return this.#error(q, 0, limit, BADVERS_UPPER); // RFC 6891 6.1.3
    if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) return this.#error(q, RCODE.NOTIMP, limit);
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return this.#error(q, RCODE.REFUSED, limit);

    const lookup = parseName(q.labels, this.options.domains);
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

  #error(q: { id: number; rd: boolean; opcode: number; question?: Buffer | undefined; edns?: Query['edns'] }, rcode: number, limit: number, extUpper = 0): Reply {
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

  #answer(q: Query, lookup: Exclude<Lookup, { kind: 'outside' }>): number | 'forward' {
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

  #service(q: Query, l: Extract<Lookup, { kind: 'service' }>): number {
    const dc = this.#dc(l.dc);
    const entry = dc === undefined ? undefined : this.table.service(dc, l.service);
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
      const seen = new Set<Member['target']>();
      const written: Member[] = [];
      for (const n of order) {
        const m = members[n]!;
        const target = this.#target(m.target.prefix, l.domain);
        if (!w.record(0, null, TYPE.SRV, ttl, (x) => {
          x.u16(1);
          x.u16(m.weight);
          x.u16(m.port);
          x.nameUncompressed(target.labels, target.wire);
        }))
          break;
        wrote++;
        written.push(m);
      }
      if (!w.truncated) {
        for (const m of written) {
          if (!m.target.ip || seen.has(m.target)) continue;
          seen.add(m.target);
          const ip = m.target.ip;
          if (!w.record(2, this.#target(m.target.prefix, l.domain).labels, ip.length === 4 ? TYPE.A : TYPE.AAAA, ttl, (x) => x.bytes(ip))) break;
        }
      }
    } else if (wantA || wantAAAA) {
      const cap = this.options.aRecordLimit || Infinity;
      for (const n of order) {
        if (wrote >= cap) break;
        const ip = members[n]!.ip;
        if (!ip || !((ip.length === 4 && wantA) || (ip.length === 16 && wantAAAA))) continue;
        if (!w.record(0, null, ip.length === 4 ? TYPE.A : TYPE.AAAA, ttl, (x) => x.bytes(ip))) break;
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
      const ns = ['ns', ...this.options.domains[domain]!];
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
    const apex = this.options.domains[domain]!;
    const { minTtl, refresh, retry, expire } = this.options.soa;
    this.#writer.record(section, apex, TYPE.SOA, minTtl, (x) => {
      x.name(['ns', ...apex]);
      x.name(['hostmaster', ...apex]);
      x.u32(Math.floor(Date.now() / 1000));
      x.u32(refresh);
      x.u32(retry);
      x.u32(expire);
      x.u32(minTtl);
    });
  }

  #target(prefix: Labels, domain: number): { labels: Labels; wire: Buffer } {
    const key = `${domain}|${prefix.join('.')}`;
    let t = this.#targets.get(key);
    if (!t) {
      // Names are a pure function of the prefix; the cache only needs a bound.
      if (this.#targets.size > 100_000) this.#targets.clear();
      const labels = [...prefix, ...this.options.domains[domain]!];
      t = { labels, wire: encodeName(labels) };
      this.#targets.set(key, t);
    }
    return t;
  }

  /** A random order of `n` indexes (Fisher–Yates): answers are shuffled per query. */
  #shuffle(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    return order;
  }
}
