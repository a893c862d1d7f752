import { beforeEach, describe, expect, it } from 'vitest';
import * as dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import { RecordingStore, spec, upsert, checkStatus } from '@signpost/testing';
import type { InstanceInput, StoreEntry } from '@signpost/core';
import { resolveOptions, type DnsSinkOptions } from './options.js';
import { Responder } from './responder.js';
import { DnsTable } from './table.js';
import { ipBytes } from './names.js';

/** dns-packet's decoded packet carries flags and rcode its types leave out. */
export type Decoded = Omit<Packet, 'answers'> & { rcode: string; flag_aa: boolean; flag_ra: boolean; flag_rd: boolean; flag_tc: boolean; answers?: Array<Answer & { ttl: number }> };

interface Fixture {
  store: RecordingStore;
  table: DnsTable;
  responder: Responder;
  ask(name: string, type?: string, opts?: { edns?: number | false; transport?: 'udp' | 'tcp'; ednsVersion?: number }): { bytes: Buffer; packet: Decoded };
  write(...entries: StoreEntry[]): Promise<void>;
}

const at = (node: string, nodeAddress: string, extra: Partial<InstanceInput> = {}): Partial<InstanceInput> => ({ node, nodeAddress, ...extra });

async function fixture(options: DnsSinkOptions = {}, datacenter = 'dc1'): Promise<Fixture> {
  const store = new RecordingStore();
  const table = new DnsTable(store, { datacenter, domains: resolveOptions(options).domains, onlyPassing: options.onlyPassing ?? false, serviceTtl: resolveOptions(options).serviceTtl });
  store.watch().subscribe((e) => table.onEvent(e));
  table.flush();
  const responder = new Responder(table, resolveOptions(options), ipBytes('127.0.0.1'));
  let id = 1;
  return {
    store,
    table,
    responder,
    ask(name, type = 'A', o = {}) {
      const edns = o.edns === undefined ? false : o.edns;
      const query = dnsPacket.encode({
        type: 'query',
        id: id++,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type: type as 'A', name }],
        ...(edns === false ? {} : { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns, ...(o.ednsVersion ? { flags: 0, extendedRcode: 0, ednsVersion: o.ednsVersion } : {}) } as unknown as Answer] }),
      });
      const reply = responder.respond(query, o.transport ?? 'udp');
      if (reply.kind !== 'answer') throw new Error(`expected an answer, got ${reply.kind}`);
      return { bytes: reply.bytes, packet: dnsPacket.decode(reply.bytes) as unknown as Decoded };
    },
    async write(...entries) {
      await store.apply(entries);
      table.flush();
    },
  };
}

const data = (p: Packet, section: 'answers' | 'additionals' | 'authorities' = 'answers'): unknown[] =>
  (p[section] ?? []).filter((a) => a.type !== 'OPT').map((a) => ('data' in a ? a.data : undefined));

describe('Responder', () => {
  let f: Fixture;

  beforeEach(async () => {
    f = await fixture();
    await f.write(
      upsert(spec('cerebro', at('nomad-client01-dev', '192.168.10.107', { id: 'c1', address: '192.168.10.107', port: 24623 }))),
      upsert(spec('cerebro', at('nomad-client02-dev', '192.168.10.108', { id: 'c2', address: '192.168.10.108', port: 31601 }))),
      upsert(spec('web', at('n1', '10.0.0.1', { id: 'w1', port: 80, tags: ['v1', 'blue'] }))),
      upsert(spec('web', at('n2', '10.0.0.2', { id: 'w2', port: 81, tags: ['v2', 'blue'], weights: { passing: 5, warning: 1 } }))),
      upsert(spec('web', at('n3', '10.0.0.3', { id: 'w3', port: 82, tags: ['v2'] }))),
      upsert(spec('api', at('n1', '10.0.0.1', { id: 'a1', address: '192.0.2.10', port: 5672 }))),
      upsert(spec('v6', at('n4', '2001:db8::4', { id: 'v6', port: 443 }))),
      upsert(spec('meta', at('n5', '10.0.0.5', { id: 'm', nodeMeta: { rack: 'r1', 'rfc1035-note': 'just this' } }))),
    );
  });

  it("answers the seed's dig: two A records, 83 bytes with EDNS, aa set, no ra", () => {
    const { bytes, packet } = f.ask('cerebro.service.consul', 'A', { edns: 1232 });
    expect(packet.rcode).toBe('NOERROR');
    expect(packet.flag_aa).toBe(true);
    expect(packet.flag_ra).toBe(false);
    expect(packet.flag_rd).toBe(true);
    expect(data(packet).sort()).toEqual(['192.168.10.107', '192.168.10.108']);
    expect(packet.answers!.every((a) => a.name === 'cerebro.service.consul' && a.ttl === 0)).toBe(true);
    const opt = packet.additionals!.find((a) => a.type === 'OPT') as unknown as { udpPayloadSize: number };
    expect(opt.udpPayloadSize).toBe(4096);
    expect(bytes.length).toBe(83);
  });

  it('compresses names: 3 A answers without EDNS are 84 bytes', () => {
    expect(f.ask('web.service.consul').bytes.length).toBe(84);
  });

  it('filters by tag and answers case-insensitively, echoing the question as asked', () => {
    expect(data(f.ask('v2.web.service.consul').packet).sort()).toEqual(['10.0.0.2', '10.0.0.3']);
    const { packet } = f.ask('BLUE.Web.SERVICE.consul');
    expect(packet.questions![0]!.name).toBe('BLUE.Web.SERVICE.consul');
    expect(data(packet).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('answers SRV with node targets, weights and ports, and the targets in ADDITIONAL', () => {
    const { packet } = f.ask('web.service.consul', 'SRV');
    const srv = (data(packet) as Array<{ priority: number; weight: number; port: number; target: string }>).sort((a, b) => a.port - b.port);
    expect(srv).toEqual([
      { priority: 1, weight: 1, port: 80, target: 'n1.node.dc1.consul' },
      { priority: 1, weight: 5, port: 81, target: 'n2.node.dc1.consul' },
      { priority: 1, weight: 1, port: 82, target: 'n3.node.dc1.consul' },
    ]);
    expect(packet.additionals!.map((a) => [a.name, a.type, 'data' in a ? a.data : '']).sort()).toEqual([
      ['n1.node.dc1.consul', 'A', '10.0.0.1'],
      ['n2.node.dc1.consul', 'A', '10.0.0.2'],
      ['n3.node.dc1.consul', 'A', '10.0.0.3'],
    ]);
  });

  it('never compresses an SRV target (RFC 2782)', () => {
    const { bytes } = f.ask('api.service.consul', 'SRV');
    expect(bytes.includes(Buffer.from('\x08c000020a\x04addr\x03dc1\x06consul\x00', 'latin1'))).toBe(true);
  });

  it('targets <hex>.addr.<dc> for a service with its own address', () => {
    const { packet } = f.ask('api.service.consul', 'SRV');
    expect(data(packet)).toEqual([{ priority: 1, weight: 1, port: 5672, target: 'c000020a.addr.dc1.consul' }]);
    expect(data(packet, 'additionals')).toEqual(['192.0.2.10']);
    expect(data(f.ask('c000020a.addr.dc1.consul').packet)).toEqual(['192.0.2.10']);
  });

  it.each([
    ['_web._tcp.service.consul', 3],
    ['_web._v2.service.consul', 2],
    ['_web._tcp.consul', 3],
    ['_web._blue.dc1.consul', 2],
    ['_web._tcp.service.dc1.consul', 3],
    ['_web._tcp.service.dc1.dc.consul', 3],
  ])('answers RFC 2782 %s with %d SRV records', (name, count) => {
    expect(f.ask(name, 'SRV').packet.answers).toHaveLength(count);
  });

  it.each(['web.service.dc1.consul', 'web.service.dc1.dc.consul', 'WEB.service.DC1.consul'])('takes the datacenter label: %s', (name) => {
    expect(f.ask(name).packet.answers).toHaveLength(3);
  });

  it('answers AAAA from IPv6 addresses, and ANY with both families', () => {
    expect(data(f.ask('v6.service.consul', 'AAAA').packet)).toEqual(['2001:db8::4']);
    expect(f.ask('web.service.consul', 'ANY').packet.answers).toHaveLength(3);
  });

  it('answers a node with A and TXT from its meta (RFC 1464; rfc1035- keys give the value)', () => {
    expect(data(f.ask('n5.node.consul').packet)).toEqual(['10.0.0.5']);
    const txt = data(f.ask('n5.node.consul', 'TXT').packet) as Buffer[][];
    expect(txt.map((t) => t.map((b) => b.toString()).join('')).sort()).toEqual(['just this', 'rack=r1']);
    expect(f.ask('n5.node.dc1.consul', 'ANY').packet.answers).toHaveLength(3);
  });

  it('answers PTR for node and service addresses', () => {
    expect(data(f.ask('1.0.0.10.in-addr.arpa', 'PTR').packet)).toEqual(['n1.node.dc1.consul']);
    expect(data(f.ask('10.2.0.192.in-addr.arpa', 'PTR').packet)).toEqual(['api.service.dc1.consul']);
    const v6 = '4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
    expect(data(f.ask(v6, 'PTR').packet)).toEqual(['n4.node.dc1.consul']);
  });

  it.each([
    ['nope.service.consul', 'A'],
    ['nope.node.consul', 'A'],
    ['web.service.dc9.consul', 'A'],
    ['a.b.c.service.consul', 'A'],
    ['zzzzzzzz.addr.consul', 'A'],
    ['x.consul', 'A'],
  ])('answers %s with NXDOMAIN and the SOA in AUTHORITY', (name, type) => {
    const { packet } = f.ask(name, type);
    expect(packet.rcode).toBe('NXDOMAIN');
    expect(packet.answers).toHaveLength(0);
    expect(packet.authorities).toHaveLength(1);
    expect(packet.authorities![0]).toMatchObject({ name: 'consul', type: 'SOA', ttl: 0, data: { mname: 'ns.consul', rname: 'hostmaster.consul', refresh: 3600, retry: 600, expire: 86400, minimum: 0 } });
  });

  it('answers NODATA (NOERROR, no answers, SOA) for a known name without that type', () => {
    for (const [name, type] of [
      ['web.service.consul', 'AAAA'],
      ['web.service.consul', 'TXT'],
      ['n1.node.consul', 'AAAA'],
      ['c000020a.addr.consul', 'AAAA'],
    ] as const) {
      const { packet } = f.ask(name, type);
      expect([name, type, packet.rcode, packet.answers!.length, packet.authorities![0]?.type]).toEqual([name, type, 'NOERROR', 0, 'SOA']);
    }
  });

  it('never answers critical instances, nor ones whose check has not run yet', async () => {
    const ttl = { checks: [{ type: 'ttl' as const, definition: { ttl: '30s' } }] };
    await f.write(upsert(spec('db', at('n1', '10.0.0.1', { id: 'd1', ...ttl }))), upsert(spec('db', at('n2', '10.0.0.2', { id: 'd2', ...ttl }))));
    expect(f.ask('db.service.consul').packet.rcode).toBe('NXDOMAIN');
    await f.write(checkStatus('health', 'n1', 'service:d1', 'passing'));
    expect(data(f.ask('db.service.consul').packet)).toEqual(['10.0.0.1']);
    await f.write(checkStatus('health', 'n2', 'service:d2', 'warning'));
    expect(data(f.ask('db.service.consul').packet).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    await f.write(checkStatus('health', 'n1', 'service:d1', 'critical'));
    expect(data(f.ask('db.service.consul').packet)).toEqual(['10.0.0.2']);
  });

  it('drops warning instances with onlyPassing', async () => {
    const g = await fixture({ onlyPassing: true });
    const ttl = { checks: [{ type: 'ttl' as const, definition: { ttl: '30s' } }] };
    await g.write(upsert(spec('db', at('n1', '10.0.0.1', { id: 'd1', ...ttl }))), checkStatus('h', 'n1', 'service:d1', 'warning'));
    expect(g.ask('db.service.consul').packet.rcode).toBe('NXDOMAIN');
  });

  it('answers SOA and NS at the apex, with the NS address in ADDITIONAL', () => {
    expect(f.ask('consul', 'SOA').packet.answers![0]).toMatchObject({ type: 'SOA', data: { mname: 'ns.consul' } });
    const ns = f.ask('consul', 'NS').packet;
    expect(data(ns)).toEqual(['ns.consul']);
    expect(data(ns, 'additionals')).toEqual(['127.0.0.1']);
    expect(data(f.ask('ns.consul').packet)).toEqual(['127.0.0.1']);
  });

  it('refuses names outside its domains without recursors, and sets RA only with recursors', async () => {
    const { packet } = f.ask('example.com');
    expect(packet.rcode).toBe('REFUSED');
    expect(packet.flag_ra).toBe(false);
    const g = await fixture({ recursors: ['127.0.0.1:5399'] });
    expect(g.responder.respond(dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'example.com' }] }), 'udp').kind).toBe('forward');
    expect(g.ask('nope.service.consul').packet.flag_ra).toBe(true);
  });

  it('answers the alternate domain in its own names', async () => {
    const g = await fixture({ altDomain: 'signpost.internal.' });
    await g.write(upsert(spec('web', at('n1', '10.0.0.1', { port: 80 }))));
    const { packet } = g.ask('web.service.signpost.internal', 'SRV');
    expect(data(packet)).toEqual([{ priority: 1, weight: 1, port: 80, target: 'n1.node.dc1.signpost.internal' }]);
    expect(g.ask('nope.service.signpost.internal').packet.authorities![0]!.name).toBe('signpost.internal');
  });

  describe('bad input', () => {
    const header = (id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer => {
      const b = Buffer.alloc(12);
      b.writeUInt16BE(id, 0);
      b.writeUInt16BE(flags, 2);
      b.writeUInt16BE(qd, 4);
      b.writeUInt16BE(an, 6);
      b.writeUInt16BE(ns, 8);
      b.writeUInt16BE(ar, 10);
      return b;
    };
    const rcodeOf = (buf: Buffer): number | string => {
      const r = f.responder.respond(buf, 'udp');
      return r.kind === 'answer' ? r.bytes[3]! & 0xf : r.kind;
    };

    it.each([
      ['QDCOUNT 0', header(7, 0, 0), 1],
      ['QDCOUNT 2', Buffer.concat([header(7, 0, 2), Buffer.from('\x03web\x00\x00\x01\x00\x01\x03web\x00\x00\x01\x00\x01', 'latin1')]), 1],
      ['a name running past the end', Buffer.concat([header(7, 0, 1), Buffer.from('\x10web', 'latin1')]), 1],
      ['a compressed question name', Buffer.concat([header(7, 0, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]), 1],
      ['opcode STATUS', Buffer.concat([header(7, 2 << 11, 1), Buffer.from('\x03web\x00\x00\x01\x00\x01', 'latin1')]), 4],
      ['too short for a header', Buffer.from([1, 2, 3]), 'drop'],
      ['a response', Buffer.concat([header(7, 0x8000, 1), Buffer.from('\x03web\x00\x00\x01\x00\x01', 'latin1')]), 'drop'],
    ])('%s', (_name, packet, rcode) => {
      expect(rcodeOf(packet)).toBe(rcode);
    });

    it('answers NOTIMP to AXFR and IXFR', () => {
      expect(f.ask('consul', 'AXFR').packet.rcode).toBe('NOTIMP');
      expect(f.ask('consul', 'IXFR').packet.rcode).toBe('NOTIMP');
    });

    it('answers BADVERS to EDNS version 1', () => {
      const { bytes } = f.ask('web.service.consul', 'A', { edns: 1232, ednsVersion: 1 });
      const decoded = dnsPacket.decode(bytes);
      const opt = decoded.additionals!.find((a) => a.type === 'OPT') as unknown as { extendedRcode: number };
      expect(opt.extendedRcode).toBe(1);
      expect(decoded.answers).toHaveLength(0);
    });
  });

  describe('sizes', () => {
    beforeEach(async () => {
      const many = Array.from({ length: 300 }, (_, n) => upsert(spec('big', at(`node-${n}`, `10.1.${n >> 8}.${n & 255}`, { id: `b${n}`, port: 1000 + n }))));
      await f.write(...many);
    });

    it('fits a UDP answer in 512 bytes without EDNS, setting TC', () => {
      const { bytes, packet } = f.ask('big.service.consul');
      expect(bytes.length).toBeLessThanOrEqual(512);
      expect(packet.flag_tc).toBe(true);
      expect(packet.answers!.length).toBeGreaterThan(20);
    });

    it("honours the client's EDNS buffer size", () => {
      const { bytes, packet } = f.ask('big.service.consul', 'A', { edns: 1232 });
      expect(bytes.length).toBeLessThanOrEqual(1232);
      expect(packet.flag_tc).toBe(true);
      expect(packet.additionals!.some((a) => a.type === 'OPT')).toBe(true);
    });

    it('gives TCP every record', () => {
      const { packet } = f.ask('big.service.consul', 'A', { transport: 'tcp' });
      expect(packet.flag_tc).toBe(false);
      expect(packet.answers).toHaveLength(300);
      expect(f.ask('big.service.consul', 'SRV', { transport: 'tcp' }).packet.answers).toHaveLength(300);
    });

    it('caps A answers at aRecordLimit', async () => {
      const g = await fixture({ aRecordLimit: 2 });
      await g.write(...Array.from({ length: 5 }, (_, n) => upsert(spec('x', at(`n${n}`, `10.2.0.${n + 1}`)))));
      expect(g.ask('x.service.consul').packet.answers).toHaveLength(2);
    });

    it('shuffles answers per query', () => {
      const firsts = new Set(Array.from({ length: 50 }, () => data(f.ask('big.service.consul').packet)[0]));
      expect(firsts.size).toBeGreaterThan(10);
    });
  });

  it('applies service and node TTLs as Consul does', async () => {
    const g = await fixture({ serviceTtl: { '*': '5s', 'web*': '10s', 'web-api': '30s' }, nodeTtl: '1m' });
    await g.write(...['web-api', 'web-ui', 'db'].map((s) => upsert(spec(s, at('n1', '10.0.0.1', { id: s })))));
    expect(g.ask('web-api.service.consul').packet.answers![0]!.ttl).toBe(30);
    expect(g.ask('web-ui.service.consul').packet.answers![0]!.ttl).toBe(10);
    expect(g.ask('db.service.consul').packet.answers![0]!.ttl).toBe(5);
    expect(g.ask('n1.node.consul').packet.answers![0]!.ttl).toBe(60);
  });

  it('recomputes only the touched service when the catalog changes', async () => {
    const before = f.table.service('dc1', 'cerebro');
    await f.write(upsert(spec('web', at('n9', '10.0.0.9', { id: 'w9' }))));
    expect(f.table.service('dc1', 'cerebro')).toBe(before);
    expect(f.ask('web.service.consul').packet.answers).toHaveLength(4);
  });
});
