import { isIP } from 'node:net';

/** What a question name asks for, once our domain is taken off. */
export type Lookup =
  | { readonly kind: 'apex'; readonly domain: number }
  | { readonly kind: 'ns'; readonly domain: number }
  | { readonly kind: 'service'; readonly domain: number; readonly service: string; readonly tag?: string; readonly dc?: string; readonly rfc2782: boolean }
  | { readonly kind: 'node'; readonly domain: number; readonly node: string; readonly dc?: string }
  | { readonly kind: 'addr'; readonly domain: number; readonly hex: string; readonly dc?: string }
  /** Under our domain, but no name we serve: NXDOMAIN. */
  | { readonly kind: 'unknown'; readonly domain: number }
  | { readonly kind: 'ptr'; readonly ip: string }
  /** Not ours: forwarded to recursors, or REFUSED. */
  | { readonly kind: 'outside' };

const TYPES = new Set(['service', 'node', 'addr']);

/**
 * Reads lowercased question labels against our domains (index 0 = `domain`,
 * 1 = `altDomain`). Forms, as Consul's DNS interface serves them:
 *   [<tag>.]<service>.service[.<dc>[.dc]].<domain>
 *   _<service>._<tag|tcp>[.service][.<dc>[.dc]].<domain>       (RFC 2782)
 *   <node>.node[.<dc>[.dc]].<domain>
 *   <hex>.addr[.<dc>[.dc]].<domain>
 *   <reversed ip>.in-addr.arpa / <nibbles>.ip6.arpa             (PTR)
 */
export function parseName(labels: readonly string[], domains: readonly (readonly string[])[]): Lookup {
  const reverse = parseReverse(labels);
  if (reverse) return { kind: 'ptr', ip: reverse };
  let domain = -1;
  let rest: readonly string[] = [];
  for (const [n, d] of domains.entries()) {
    if (d.length <= labels.length && d.every((l, i) => labels[labels.length - d.length + i] === l)) {
      domain = n;
      rest = labels.slice(0, labels.length - d.length);
      break;
    }
  }
  if (domain < 0) return { kind: 'outside' };
  if (rest.length === 0) return { kind: 'apex', domain };
  if (rest.length === 1 && rest[0] === 'ns') return { kind: 'ns', domain };

  // Where is the type label, and is there a datacenter after it?
  let typeAt = -1;
  let dc: string | undefined;
  const n = rest.length;
  if (TYPES.has(rest[n - 1]!)) typeAt = n - 1;
  else if (n >= 3 && rest[n - 1] === 'dc' && TYPES.has(rest[n - 3]!)) {
    typeAt = n - 3;
    dc = rest[n - 2];
  } else if (n >= 2 && TYPES.has(rest[n - 2]!)) {
    typeAt = n - 2;
    dc = rest[n - 1];
  }

  // RFC 2782 without the `service` label: _web._tcp[.dc1[.dc]].consul
  if (typeAt < 0 || (rest[0]!.startsWith('_') && rest[1]?.startsWith('_') && typeAt !== 2)) {
    const rfc = parseRfc2782(rest);
    if (rfc) return { kind: 'service', domain, rfc2782: true, ...rfc };
    return { kind: 'unknown', domain };
  }
  const before = rest.slice(0, typeAt);
  if (before.length === 0) return { kind: 'unknown', domain };
  const withDc = dc === undefined ? {} : { dc };
  switch (rest[typeAt]) {
    case 'service': {
      if (before.length === 1) return { kind: 'service', domain, service: before[0]!, rfc2782: false, ...withDc };
      if (before.length === 2 && before[0]!.startsWith('_') && before[1]!.startsWith('_')) {
        const tag = before[1]!.slice(1);
        // `_tcp` is the protocol, not a tag: every instance (Consul does the same).
        return { kind: 'service', domain, service: before[0]!.slice(1), ...(tag === 'tcp' ? {} : { tag }), rfc2782: true, ...withDc };
      }
      if (before.length === 2) return { kind: 'service', domain, service: before[1]!, tag: before[0]!, rfc2782: false, ...withDc };
      return { kind: 'unknown', domain };
    }
    case 'node':
      return { kind: 'node', domain, node: before.join('.'), ...withDc };
    default:
      return before.length === 1 ? { kind: 'addr', domain, hex: before[0]!, ...withDc } : { kind: 'unknown', domain };
  }
}

function parseRfc2782(rest: readonly string[]): { service: string; tag?: string; dc?: string } | undefined {
  if (rest.length < 2 || rest.length > 4 || !rest[0]!.startsWith('_') || !rest[1]!.startsWith('_')) return undefined;
  if (rest.length === 4 && rest[3] !== 'dc') return undefined;
  const tag = rest[1]!.slice(1);
  return { service: rest[0]!.slice(1), ...(tag === 'tcp' ? {} : { tag }), ...(rest.length >= 3 ? { dc: rest[2]! } : {}) };
}

function parseReverse(labels: readonly string[]): string | undefined {
  const n = labels.length;
  if (n === 6 && labels[4] === 'in-addr' && labels[5] === 'arpa') {
    const ip = labels.slice(0, 4).reverse().join('.');
    return isIP(ip) === 4 && labels.slice(0, 4).every((l) => /^(0|[1-9]\d{0,2})$/.test(l)) ? ip : undefined;
  }
  if (n === 34 && labels[32] === 'ip6' && labels[33] === 'arpa' && labels.slice(0, 32).every((l) => /^[0-9a-f]$/.test(l))) {
    const hex = labels.slice(0, 32).reverse().join('');
    return hex.match(/.{4}/g)!.join(':');
  }
  return undefined;
}

/** Canonical text of an IP for matching reverse lookups: dotted IPv4, or IPv6 as 8 groups of 4 hex digits. */
export function canonicalIp(ip: string): string | undefined {
  const bytes = ipBytes(ip);
  if (!bytes) return undefined;
  if (bytes.length === 4) return [...bytes].join('.');
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('').match(/.{4}/g)!.join(':');
}

/** An IP address as 4 or 16 bytes; undefined for a host name. */
export function ipBytes(ip: string): Buffer | undefined {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) return undefined;
  let text = ip.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/** `<hex>.addr` label for an address (Consul: 8 hex digits for IPv4, 32 for IPv6). */
export function hexOf(bytes: Buffer): string {
  return bytes.toString('hex');
}

const WIRE_LABEL = /^[a-z0-9_-]{1,63}$/;

/**
 * True when a name can go on the wire as it is: labels of ASCII letters, digits, `-`
 * and `_`, 1 to 63 bytes, 253 in all. Consul refuses others in DNS ("will not be
 * discoverable via DNS due to invalid characters"); written as they were, a node name
 * over 63 characters broke the whole service's SRV answer, and `db\u0161` went out as
 * the bytes of another node's name.
 */
export function wireSafe(labels: readonly string[]): boolean {
  let length = 0;
  for (const l of labels) {
    if (!WIRE_LABEL.test(l)) return false;
    length += l.length + 1;
  }
  return length <= 254;
}
