import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dnsPacket from 'dns-packet';
import { activeHandles, describeSinkContract, eventually, runPlugins, spec, upsert, type Running } from '@signpost/testing';
import { dnsSink, type DnsSink } from './index.js';
import type { Decoded } from './responder.spec.js';

describeSinkContract('dns', async () => ({ sink: dnsSink({ listen: '127.0.0.1:0' }) }));


const query = (id: number, name: string, type = 'A'): Buffer => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }] });
const framed = (msg: Buffer): Buffer => Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]);

async function udpAsk(port: number, msg: Buffer, timeoutMs = 2000): Promise<Decoded> {
  const socket = createSocket('udp4');
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), timeoutMs);
      socket.on('message', (m) => {
        clearTimeout(timer);
        resolve(dnsPacket.decode(m) as unknown as Decoded);
      });
      socket.send(msg, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

describe('dns sink over real sockets', () => {
  let run: Running;
  let dns: DnsSink;
  let port: number;
  let resolver: Resolver;

  beforeAll(async () => {
    dns = dnsSink({ listen: '127.0.0.1:0', tcpIdleTimeout: '300ms', nodeTtl: '0s' });
    run = await runPlugins([dns]);
    port = dns.address()!.port;
    resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    await run.store.apply([
      upsert(spec('cerebro', { node: 'nomad-client01-dev', nodeAddress: '192.168.10.107', id: 'c1', port: 24623 })),
      upsert(spec('cerebro', { node: 'nomad-client02-dev', nodeAddress: '192.168.10.108', id: 'c2', port: 31601 })),
      upsert(spec('meta', { node: 'n5', nodeAddress: '10.0.0.5', nodeMeta: { rack: 'r1' } })),
      ...Array.from({ length: 300 }, (_, n) => upsert(spec('big', { node: `node-${n}`, nodeAddress: `10.1.${n >> 8}.${n & 255}`, id: `b${n}`, port: 1000 + n }))),
    ]);
  });

  afterAll(async () => {
    await run.stop();
  });

  it('answers A, SRV, TXT and PTR to Node’s resolver', async () => {
    expect((await resolver.resolve4('cerebro.service.consul')).sort()).toEqual(['192.168.10.107', '192.168.10.108']);
    const srv = (await resolver.resolveSrv('_cerebro._tcp.service.consul')).sort((a, b) => a.port - b.port);
    expect(srv).toEqual([
      { name: 'nomad-client01-dev.node.dc1.consul', port: 24623, priority: 1, weight: 1 },
      { name: 'nomad-client02-dev.node.dc1.consul', port: 31601, priority: 1, weight: 1 },
    ]);
    expect(await resolver.resolveTxt('n5.node.consul')).toEqual([['rack=r1']]);
    expect(await resolver.reverse('192.168.10.107')).toEqual(['nomad-client01-dev.node.dc1.consul']);
    await expect(resolver.resolve4('nope.service.consul')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('sets TC on a UDP answer that does not fit, and the client’s TCP retry gets all 300 records', async () => {
    const udp = await udpAsk(port, query(1, 'big.service.consul'));
    expect(udp.flag_tc).toBe(true);
    expect((await resolver.resolve4('big.service.consul')).length).toBe(300);
  });

  it('reflects a catalog change in the very next answer', async () => {
    await run.store.apply([upsert(spec('late', { node: 'n9', nodeAddress: '10.9.9.9' }))]);
    expect(await resolver.resolve4('late.service.consul')).toEqual(['10.9.9.9']);
  });

  it('serves several TCP queries on one connection, framing split across segments', async () => {
    const socket = connect(port, '127.0.0.1');
    const answers: dnsPacket.Packet[] = [];
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        answers.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    await new Promise((r) => socket.once('connect', r));
    // Two queries in one write, then a third split in three writes.
    socket.write(Buffer.concat([framed(query(11, 'cerebro.service.consul')), framed(query(12, 'big.service.consul'))]));
    const third = framed(query(13, 'meta.service.consul'));
    socket.write(third.subarray(0, 1));
    await new Promise((r) => setTimeout(r, 20));
    socket.write(third.subarray(1, 9));
    await new Promise((r) => setTimeout(r, 20));
    socket.write(third.subarray(9));
    await eventually(() => answers.length === 3, 3000, 'three TCP answers');
    expect(answers.map((a) => [a.id, a.answers!.length])).toEqual([
      [11, 2],
      [12, 300],
      [13, 1],
    ]);
    socket.destroy();
  });

  it('stops reading a TCP client\'s queries while it does not read its answers, and answers them all once it does', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause();
    const before = dns.stats()!.tcpBackpressure;
    // 300 SRV answers of about 17 KB each: 5 MB the client does not read.
    const n = 300;
    socket.write(Buffer.concat(Array.from({ length: n }, (_, k) => framed(query(1000 + k, 'big.service.consul', 'SRV')))));
    await eventually(() => dns.stats()!.tcpBackpressure > before, 5000, 'the server to stop reading');
    let got = 0;
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        got++;
      }
    });
    socket.resume();
    await eventually(() => got === n, 10_000, `all ${n} answers`);
    socket.destroy();
  });

  it('names a node whose name cannot go on the wire by its address, and never writes it as it is', async () => {
    await run.store.apply([
      upsert(spec('odd', { node: 'n'.repeat(70), nodeAddress: '10.9.9.1', id: 'o1', port: 1 })),
      upsert(spec('odd', { node: 'db\u0161', nodeAddress: '10.9.9.2', id: 'o2', port: 2 })),
      upsert(spec('odd', { node: 'fine', nodeAddress: '10.9.9.3', id: 'o3', port: 3 })),
    ]);
    const srv = await udpAsk(port, query(31, 'odd.service.consul', 'SRV'));
    const targets = (srv.answers ?? []).map((a) => (a as unknown as { data: { target: string; port: number } }).data).sort((a, b) => a.port - b.port);
    expect(targets.map((t) => t.target)).toEqual(['0a090901.addr.dc1.consul', '0a090902.addr.dc1.consul', 'fine.node.dc1.consul']);
    // `db\u0161` once went out as the bytes of "dba": no such node answers.
    expect((await udpAsk(port, query(32, 'dba.node.consul'))).answers ?? []).toEqual([]);
  });

  it('closes an idle TCP connection', async () => {
    const socket = connect(port, '127.0.0.1');
    const closed = new Promise<number>((resolve) => {
      const t0 = Date.now();
      socket.on('close', () => resolve(Date.now() - t0));
    });
    expect(await closed).toBeLessThan(2000);
  });

  it('survives 100,000 random and mutated packets, then still answers correctly', async () => {
    const client = createSocket('udp4');
    const valid = [query(1, 'cerebro.service.consul'), query(2, '_big._tcp.service.consul', 'SRV'), query(3, 'n5.node.consul', 'TXT'), query(4, 'consul', 'SOA')];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const packet = (k: number): Buffer => {
      if (k % 3 === 0) return Buffer.from(Array.from({ length: rand(80) }, () => rand(256)));
      const base = Buffer.from(valid[k % valid.length]!);
      const out = k % 3 === 1 ? base.subarray(0, rand(base.length + 1)) : base;
      for (let flips = rand(6); flips > 0; flips--) if (out.length) out[rand(out.length)] = rand(256);
      return Buffer.from(out);
    };
    let replies = 0;
    client.on('message', () => replies++);
    // Paced by what the server has handled, so the kernel does not drop the flood
    // and the server really sees (nearly) every packet.
    const handledBefore = dns.stats()!.queries;
    for (let k = 0; k < 100_000; k += 200) {
      for (let j = k; j < k + 200; j++) client.send(packet(j), port, '127.0.0.1');
      const deadline = Date.now() + 200;
      while (dns.stats()!.queries - handledBefore < (k + 200) * 0.99 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setTimeout(r, 200));
    client.close();
    expect(dns.stats()!.queries - handledBefore).toBeGreaterThan(99_000);
    expect(replies).toBeGreaterThan(1000);
    console.log(`fuzz: ${dns.stats()!.queries} packets handled, ${replies} answered, ${dns.stats()!.dropped} dropped as non-queries`);
    expect(dns.stats()!.internalErrors).toBe(0);
    expect((await resolver.resolve4('cerebro.service.consul')).sort()).toEqual(['192.168.10.107', '192.168.10.108']);
  }, 60_000);
});

describe('dns sink connection caps', () => {
  it('closes a client\'s TCP connections past maxConnsPerClient and past maxConns, logs once, and keeps answering', async () => {
    const dns = dnsSink({ listen: '127.0.0.1:0', maxConnsPerClient: 3, maxConns: 5 });
    const run = await runPlugins([dns]);
    const sockets: ReturnType<typeof connect>[] = [];
    const opened = (from: string): Promise<{ closed: Promise<void>; socket: ReturnType<typeof connect> }> =>
      new Promise((resolve) => {
        const socket = connect({ port: dns.address()!.port, host: '127.0.0.1', localAddress: from });
        sockets.push(socket);
        socket.on('error', () => undefined);
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        socket.once('connect', () => resolve({ closed, socket }));
      });
    try {
      await run.store.apply([upsert(spec('web', { id: 'w1' }))]);
      // Idle connections, as a trickling flood holds them.
      for (let n = 0; n < 3; n++) await opened('127.0.0.1');
      await eventually(() => dns.tcpConnections().open === 3, 2000, 'three connections held');
      const over = await Promise.all([opened('127.0.0.1'), opened('127.0.0.1')]);
      await Promise.all(over.map((o) => o.closed));
      // Another client still gets in, and its TCP query is answered, up to the listener's cap.
      const other = await opened('127.0.0.2');
      const answer = new Promise<Buffer>((resolve) => other.socket.once('data', (d: Buffer) => resolve(d)));
      other.socket.write(framed(query(21, 'web.service.consul')));
      expect((dnsPacket.decode((await answer).subarray(2)) as unknown as Decoded).answers).toHaveLength(1);
      await opened('127.0.0.3');
      await eventually(() => dns.tcpConnections().open === 5, 2000, 'five connections held');
      await (await opened('127.0.0.4')).closed;
      expect(dns.tcpConnections().refused).toBe(3);
      // UDP is not held to TCP's caps.
      expect((await udpAsk(dns.address()!.port, query(22, 'web.service.consul'))).answers).toHaveLength(1);
      const refusals = run.logger.lines.filter((l) => l.level === 'warn' && /refused a connection/.test(l.msg));
      // One line per refused client: 127.0.0.1 (twice refused) and 127.0.0.4.
      expect(refusals.map((l) => l.fields['client'])).toEqual(['127.0.0.1', '127.0.0.4']);
    } finally {
      for (const s of sockets) s.destroy();
      await run.stop();
    }
  });
});

describe('dns sink recursors', () => {
  it('forwards names outside its domains in order, and answers SERVFAIL when all fail', async () => {
    // A real upstream resolver on loopback that knows one name.
    const upstream = createSocket('udp4');
    upstream.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      upstream.send(
        dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '203.0.113.7' }] }),
        rinfo.port,
        rinfo.address,
      );
    });
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
    const dead = createSocket('udp4'); // bound but never answers
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));

    const dns = dnsSink({ listen: '127.0.0.1:0', recursors: [`127.0.0.1:${dead.address().port}`, `127.0.0.1:${upstream.address().port}`], recursorTimeout: '100ms' });
    const run = await runPlugins([dns]);
    const port = dns.address()!.port;
    try {
      const forwarded = await udpAsk(port, query(21, 'example.com'));
      expect(forwarded.answers!.map((a) => ('data' in a ? a.data : ''))).toEqual(['203.0.113.7']);
      expect(forwarded.id).toBe(21);
      const own = await udpAsk(port, query(22, 'nope.service.consul'));
      expect(own.flag_ra).toBe(true);
      upstream.close();
      const failed = await udpAsk(port, query(23, 'example.org'));
      expect(failed.rcode).toBe('SERVFAIL');
      expect(failed.id).toBe(23);
    } finally {
      dead.close();
      await run.stop();
    }
  });

  it('releases its sockets on stop', async () => {
    const before = activeHandles();
    const dns = dnsSink({ listen: '127.0.0.1:0' });
    const run = await runPlugins([dns]);
    await run.stop();
    await eventually(() => Object.entries(activeHandles()).every(([k, n]) => k === 'TTYWrap' || n <= (before[k] ?? 0)), 3000, 'handles released');
  });
});
