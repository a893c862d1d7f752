/*
 * DNS wire format for the hot path: a query parser that reads only what a query
 * needs (header, one question, EDNS OPT), and a response writer that compresses
 * names (RFC 1035 4.1.4) so answers are as small as those of knot or dnsmasq.
 * dns-packet decodes what this parser declines (unusual but legal packets), and
 * the tests check every response this writer makes with dns-packet's decoder.
 */

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** Extended RCODE 16 (BADVERS) is carried as 1 in the OPT record's upper bits. */
export const BADVERS_UPPER = 1;

export interface Query {
  readonly id: number;
  /** The RD bit, echoed in the response. */
  readonly rd: boolean;
  readonly opcode: number;
  readonly qtype: number;
  readonly qclass: number;
  /** The packet; its question (case preserved, echoed byte for byte) runs from offset 12 to `questionEnd`. */
  readonly packet: Buffer;
  readonly questionEnd: number;
  /** EDNS: absent when the query had no OPT record. */
  readonly edns?: { readonly udpSize: number; readonly version: number; readonly do: boolean };
}

/** Not a query we can answer: the header fields let us send an error; `drop` means send nothing. */
export interface ParseError {
  readonly error: true;
  readonly rcode: number;
  readonly id: number;
  readonly rd: boolean;
  readonly opcode: number;
  readonly packet?: Buffer;
  readonly questionEnd?: number;
  readonly drop?: boolean;
}

export type ParseResult = Query | ParseError;

export function isParseError(r: ParseResult): r is ParseError {
  return (r as ParseError).error === true;
}

/** Parses a DNS query. Never throws: anything malformed comes back as FORMERR (or dropped). */
export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < 12) return { error: true, rcode: RCODE.FORMERR, id: 0, rd: false, opcode: 0, drop: true };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const rd = (flags & 0x0100) !== 0;
  const opcode = (flags >> 11) & 0xf;
  if (flags & 0x8000) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode, drop: true }; // a response: never answer one
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  if (opcode !== 0) return { error: true, rcode: RCODE.NOTIMP, id, rd, opcode };
  if (qdcount !== 1) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode };

  let off = 12;
  let nameLength = 1;
  for (;;) {
    if (off >= buf.length) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode };
    const len = buf[off]!;
    if (len === 0) {
      off++;
      break;
    }
    // A compressed or extended label in a question is legal but unheard of from
    // real resolvers; refusing it keeps the hot path simple.
    if (len > 63) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode };
    if (off + 1 + len > buf.length) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode };
    nameLength += len + 1;
    if (nameLength > 255) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode };
    off += 1 + len;
  }
  if (off + 4 > buf.length) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode };
  const qtype = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  off += 4;
  const questionEnd = off;

  // Queries carry no answers or authority; skip them if present, then look for OPT.
  let edns: Query['edns'];
  const records = ancount + nscount + arcount;
  for (let n = 0; n < records; n++) {
    const nameEnd = skipName(buf, off);
    if (nameEnd < 0 || nameEnd + 10 > buf.length) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode, packet: buf, questionEnd };
    const type = buf.readUInt16BE(nameEnd);
    const rdlen = buf.readUInt16BE(nameEnd + 8);
    if (nameEnd + 10 + rdlen > buf.length) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode, packet: buf, questionEnd };
    if (type === TYPE.OPT && n >= ancount + nscount) {
      if (edns) return { error: true, rcode: RCODE.FORMERR, id, rd, opcode, packet: buf, questionEnd }; // RFC 6891: one OPT at most
      edns = {
        udpSize: buf.readUInt16BE(nameEnd + 2),
        version: buf[nameEnd + 5]!,
        do: (buf.readUInt16BE(nameEnd + 6) & 0x8000) !== 0,
      };
    }
    off = nameEnd + 10 + rdlen;
  }
  return edns ? { id, rd, opcode, qtype, qclass, packet: buf, questionEnd, edns } : { id, rd, opcode, qtype, qclass, packet: buf, questionEnd };
}

/** The question's name as lowercased labels (the packet was validated by parseQuery). */
export function questionLabels(packet: Buffer): string[] {
  const labels: string[] = [];
  for (let off = 12; packet[off]! !== 0; off += packet[off]! + 1) {
    labels.push(packet.toString('latin1', off + 1, off + 1 + packet[off]!).toLowerCase());
  }
  return labels;
}

/** The offset after a (possibly compressed) name, or -1 when malformed. */
function skipName(buf: Buffer, start: number): number {
  let off = start;
  for (let hops = 0; hops < 128; hops++) {
    if (off >= buf.length) return -1;
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (len > 63) return -1;
    off += 1 + len;
  }
  return -1;
}

/** A name as wire-format labels, e.g. `web.node.dc1.consul` → ['web','node','dc1','consul']. */
export type Labels = readonly string[];

/**
 * A name prepared once (when the catalog changes), so writing it costs no string
 * work per query: its labels, the key of every suffix (for compression), and its
 * uncompressed wire form.
 */
export interface DnsName {
  readonly labels: Labels;
  readonly keys: readonly string[];
  readonly wire: Buffer;
}

export function dnsName(labels: Labels): DnsName {
  return { labels, keys: labels.map((_, i) => suffixKey(labels, i)), wire: encodeName(labels) };
}

/** Uncompressed wire form of a name (SRV targets must not be compressed: RFC 2782). */
export function encodeName(labels: Labels): Buffer {
  const out = Buffer.allocUnsafe(labels.reduce((n, l) => n + l.length + 1, 1));
  let off = 0;
  for (const l of labels) {
    out[off++] = l.length;
    off += out.write(l, off, 'latin1');
  }
  out[off] = 0;
  return out;
}

/**
 * Builds one response into a reused scratch buffer. Names are compressed against
 * every name already written (the question first); records that do not fit the
 * size limit are not written, and `truncated` tells the caller to set TC.
 */
export class ResponseWriter {
  #buf: Buffer;
  #off = 0;
  #limit = 512;
  #names = new Map<string, number>();
  #counts = [0, 0, 0];
  #questions = 0;
  #question: Buffer | undefined;
  truncated = false;

  constructor(capacity = 65535) {
    this.#buf = Buffer.alloc(capacity);
  }

  /** Starts a response to `q`: header and the question echoed as asked. */
  begin(q: { id: number; rd: boolean; opcode: number; packet?: Buffer | undefined; questionEnd?: number | undefined }, limit: number): void {
    this.#off = 12;
    this.#limit = Math.min(limit, this.#buf.length);
    this.#names.clear();
    this.#counts = [0, 0, 0];
    const hasQuestion = q.packet !== undefined && q.questionEnd !== undefined;
    this.#questions = hasQuestion ? 1 : 0;
    this.truncated = false;
    this.#buf.writeUInt16BE(q.id, 0);
    if (hasQuestion) {
      // A byte loop: Buffer#copy costs more than the copy for a few dozen bytes.
      const src = q.packet!;
      const dst = this.#buf;
      const end = q.questionEnd!;
      for (let i = 12; i < end; i++) dst[i] = src[i]!;
      this.#off = end;
    }
    // The question's suffixes become pointer targets only when a name needs them.
    this.#question = hasQuestion ? q.packet : undefined;
  }

  #registerQuestion(): void {
    if (!this.#question) return;
    const labels = questionLabels(this.#question);
    this.#question = undefined;
    let at = 12;
    for (let i = 0; i < labels.length; i++) {
      this.#names.set(suffixKey(labels, i), at);
      at += labels[i]!.length + 1;
    }
  }

  get length(): number {
    return this.#off;
  }

  /** Changes the size limit (room is kept for the OPT record until the end). */
  setLimit(limit: number): void {
    this.#limit = Math.min(limit, this.#buf.length);
  }

  /**
   * Writes one record in `section` (0 answer, 1 authority, 2 additional); false if
   * it did not fit. `owner` null means the question's name (a pointer to offset 12).
   */
  record(section: 0 | 1 | 2, owner: Labels | DnsName | null, type: number, ttl: number, rdata: (w: ResponseWriter) => void): boolean {
    const start = this.#off;
    const names = this.#names.size;
    try {
      if (owner === null) {
        this.#ensure(2);
        this.#buf.writeUInt16BE(0xc00c, this.#off);
        this.#off += 2;
      } else this.name(owner);
      this.#ensure(10);
      this.#buf.writeUInt16BE(type, this.#off);
      this.#buf.writeUInt16BE(CLASS_IN, this.#off + 2);
      this.#buf.writeUInt32BE(ttl >>> 0, this.#off + 4);
      const rdlenAt = this.#off + 8;
      this.#off += 10;
      rdata(this);
      this.#buf.writeUInt16BE(this.#off - rdlenAt - 2, rdlenAt);
    } catch (err) {
      if (err !== FULL) throw err;
      this.#off = start;
      if (this.#names.size !== names) for (const [k, v] of this.#names) if (v >= start) this.#names.delete(k);
      this.truncated = true;
      return false;
    }
    this.#counts[section]!++;
    return true;
  }

  /** The OPT pseudo-record (RFC 6891); `extRcodeUpper` carries BADVERS. */
  opt(udpSize: number, extRcodeUpper = 0): boolean {
    if (this.#off + 11 > this.#limit) return false;
    const b = this.#buf;
    b[this.#off] = 0;
    b.writeUInt16BE(TYPE.OPT, this.#off + 1);
    b.writeUInt16BE(udpSize, this.#off + 3);
    b[this.#off + 5] = extRcodeUpper;
    b[this.#off + 6] = 0; // version 0
    b.writeUInt16BE(0, this.#off + 7); // flags: DO clear, we do not sign
    b.writeUInt16BE(0, this.#off + 9);
    this.#off += 11;
    this.#counts[2]!++;
    return true;
  }

  /** Writes a name, compressed against what was written before. */
  name(name: Labels | DnsName): void {
    if (this.#question) {
      const full = Array.isArray(name) ? undefined : this.#names.get((name as DnsName).keys[0]!);
      if (full !== undefined) {
        this.#ensure(2);
        this.#buf.writeUInt16BE(0xc000 | full, this.#off);
        this.#off += 2;
        return;
      }
      this.#registerQuestion();
    }
    // Array.isArray, not `'keys' in name`: arrays have a keys() method.
    const labels = Array.isArray(name) ? (name as Labels) : (name as DnsName).labels;
    const keys = Array.isArray(name) ? undefined : (name as DnsName).keys;
    for (let i = 0; i < labels.length; i++) {
      const key = keys ? keys[i]! : suffixKey(labels, i);
      const at = this.#names.get(key);
      if (at !== undefined) {
        this.#ensure(2);
        this.#buf.writeUInt16BE(0xc000 | at, this.#off);
        this.#off += 2;
        return;
      }
      const label = labels[i]!;
      this.#ensure(label.length + 1);
      if (this.#off < 0x3fff) this.#names.set(key, this.#off);
      this.#buf[this.#off++] = label.length;
      this.#off += this.#buf.write(label, this.#off, 'latin1');
    }
    this.#ensure(1);
    this.#buf[this.#off++] = 0;
  }

  /** Writes a name uncompressed, but lets later names point into it. */
  nameUncompressed(name: DnsName): void {
    this.#ensure(name.wire.length);
    let at = this.#off;
    for (let i = 0; i < name.labels.length; i++) {
      if (at >= 0x3fff) break;
      if (!this.#names.has(name.keys[i]!)) this.#names.set(name.keys[i]!, at);
      at += name.labels[i]!.length + 1;
    }
    name.wire.copy(this.#buf, this.#off);
    this.#off += name.wire.length;
  }

  /** Hot path: an A/AAAA answer owned by the question's name. False (and TC) if it did not fit. */
  answerIp(ttl: number, ip: Buffer): boolean {
    if (this.#ipRecord(0, 12, ttl, ip)) return true;
    this.truncated = true;
    return false;
  }

  /**
   * Hot path: an SRV answer owned by the question's name, its target uncompressed
   * (RFC 2782). Returns the target's offset, for ADDITIONAL owners to point at, or -1 if it did not fit.
   */
  answerSrv(ttl: number, weight: number, port: number, target: DnsName): number {
    const end = this.#off + 18 + target.wire.length;
    if (end > this.#limit) {
      this.truncated = true;
      return -1;
    }
    const b = this.#buf;
    const o = this.#off;
    b[o] = 0xc0;
    b[o + 1] = 0x0c;
    b.writeUInt16BE(TYPE.SRV, o + 2);
    b.writeUInt16BE(CLASS_IN, o + 4);
    b.writeUInt32BE(ttl >>> 0, o + 6);
    b.writeUInt16BE(6 + target.wire.length, o + 10);
    b.writeUInt16BE(1, o + 12);
    b.writeUInt16BE(weight, o + 14);
    b.writeUInt16BE(port, o + 16);
    target.wire.copy(b, o + 18);
    this.#off = end;
    this.#counts[0]!++;
    return o + 18;
  }

  /** Hot path: an A/AAAA record in ADDITIONAL whose owner is a name already written at `ownerAt`. */
  additionalIp(ownerAt: number, ttl: number, ip: Buffer): boolean {
    return this.#ipRecord(2, ownerAt, ttl, ip);
  }

  /** An A/AAAA record whose owner is a pointer to `ownerAt` (12: the question's name). */
  #ipRecord(section: 0 | 2, ownerAt: number, ttl: number, ip: Buffer): boolean {
    const end = this.#off + 12 + ip.length;
    if (end > this.#limit || ownerAt >= 0x3fff) return false;
    const b = this.#buf;
    const o = this.#off;
    b.writeUInt16BE(0xc000 | ownerAt, o);
    b.writeUInt16BE(ip.length === 4 ? TYPE.A : TYPE.AAAA, o + 2);
    b.writeUInt16BE(CLASS_IN, o + 4);
    b.writeUInt32BE(ttl >>> 0, o + 6);
    b.writeUInt16BE(ip.length, o + 10);
    ip.copy(b, o + 12);
    this.#off = end;
    this.#counts[section]!++;
    return true;
  }

  bytes(data: Buffer | Uint8Array): void {
    this.#ensure(data.length);
    this.#buf.set(data, this.#off);
    this.#off += data.length;
  }

  u16(n: number): void {
    this.#ensure(2);
    this.#buf.writeUInt16BE(n, this.#off);
    this.#off += 2;
  }

  u32(n: number): void {
    this.#ensure(4);
    this.#buf.writeUInt32BE(n >>> 0, this.#off);
    this.#off += 4;
  }

  /** Finishes the header and returns a copy of the response (the scratch buffer is reused). */
  finish(flags: { rcode: number; aa: boolean; ra: boolean; rd: boolean; opcode: number }): Buffer {
    const b = this.#buf;
    const hi = 0x80 | (flags.opcode << 3) | (flags.aa ? 0x04 : 0) | (this.truncated ? 0x02 : 0) | (flags.rd ? 0x01 : 0);
    const lo = (flags.ra ? 0x80 : 0) | (flags.rcode & 0xf);
    b[2] = hi;
    b[3] = lo;
    b.writeUInt16BE(this.#questions, 4);
    b.writeUInt16BE(this.#counts[0]!, 6);
    b.writeUInt16BE(this.#counts[1]!, 8);
    b.writeUInt16BE(this.#counts[2]!, 10);
    const n = this.#off;
    const out = Buffer.allocUnsafe(n);
    if (n <= 512) for (let i = 0; i < n; i++) out[i] = b[i]!;
    else b.copy(out, 0, 0, n);
    return out;
  }

  /** Marks the response truncated without writing more (TC for UDP). */
  markTruncated(): void {
    this.truncated = true;
  }

  #ensure(n: number): void {
    if (this.#off + n > this.#limit) throw FULL;
  }
}

const FULL = Symbol('response full');

function suffixKey(labels: Labels, from: number): string {
  let key = labels[from]!;
  for (let i = from + 1; i < labels.length; i++) key += `.${labels[i]}`;
  return key;
}
