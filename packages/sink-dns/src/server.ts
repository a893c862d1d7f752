import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, connect, createServer, type Server as TcpServer, type Socket } from 'node:net';
import { limitConnections, type ConnectionLimiter, type ConnectionLimits, type Logger } from '@signpost/core';
import type { Responder, Reply } from './responder.js';
import type { Query } from './wire.js';

export interface ServerOptions {
  readonly recursors: readonly { readonly host: string; readonly port: number }[];
  readonly recursorTimeoutMs: number;
  readonly tcpIdleTimeoutMs: number;
  /** TCP connections per client address and in all: a flood of idle connections must not take every file descriptor. */
  readonly connectionLimits: ConnectionLimits;
}

/** Counters for the Metrics section and for tests. */
export interface DnsStats {
  queries: number;
  udp: number;
  tcp: number;
  truncated: number;
  forwarded: number;
  recursorFailures: number;
  dropped: number;
  internalErrors: number;
  /** Times a TCP client stopped reading its answers and the server stopped reading its queries until it did. */
  tcpBackpressure: number;
  byRcode: Record<number, number>;
}

/**
 * UDP and TCP on one address, answering through a Responder. A packet that
 * breaks something is answered SERVFAIL (when it has an id) and logged, and the
 * server goes on: one bad packet never stalls or crashes it.
 */
export class DnsServer {
  #udp: UdpSocket | undefined;
  #tcp: TcpServer | undefined;
  readonly #connections = new Set<Socket>();
  readonly stats: DnsStats = { queries: 0, udp: 0, tcp: 0, truncated: 0, forwarded: 0, recursorFailures: 0, dropped: 0, internalErrors: 0, tcpBackpressure: 0, byRcode: {} };
  #lastErrorLog = 0;
  #limiter: ConnectionLimiter | undefined;

  /** TCP connections open now, and refused by the caps so far. */
  get tcpConnections(): { open: number; refused: number } {
    return { open: this.#limiter?.open ?? 0, refused: this.#limiter?.refused ?? 0 };
  }

  constructor(
    private readonly responder: Responder,
    private readonly options: ServerOptions,
    private readonly logger: Logger,
  ) {}

  /** Binds UDP, then TCP on the same port (port 0: the port UDP got). */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
      const udpPort = await new Promise<number>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve(udp.address().port);
        });
      });
      const tcp = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
      this.#limiter = limitConnections(tcp, this.options.connectionLimits, this.logger, 'dns over tcp');
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(udpPort, host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        // Port 0: the port UDP got may be taken for TCP; try another.
        if (port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue;
        throw err;
      }
      udp.on('message', (msg, rinfo) => this.#onUdp(msg, rinfo.address, rinfo.port));
      udp.on('error', (err) => this.logger.error({ err }, 'dns udp socket error'));
      tcp.on('error', (err) => this.logger.error({ err }, 'dns tcp listener error'));
      this.#udp = udp;
      this.#tcp = tcp;
      return { host, port: udpPort };
    }
  }

  async close(): Promise<void> {
    for (const c of this.#connections) c.destroy();
    this.#connections.clear();
    await Promise.all([
      new Promise<void>((r) => (this.#udp ? this.#udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.#tcp ? this.#tcp.close(() => r()) : r())),
    ]);
    this.#udp = undefined;
    this.#tcp = undefined;
  }

  /** The answer to one packet: bytes now, bytes later (forwarded), or nothing. */
  #handle(packet: Buffer, transport: 'udp' | 'tcp'): Buffer | Promise<Buffer> | undefined {
    this.stats.queries++;
    this.stats[transport]++;
    let reply: Reply;
    try {
      reply = this.responder.respond(packet, transport);
    } catch (err) {
      this.stats.internalErrors++;
      this.#logError(err, packet);
      if (packet.length < 12) return undefined;
      const out = Buffer.from(packet.subarray(0, 12));
      out[2] = 0x80 | (packet[2]! & 0x79); // QR, keep opcode and RD
      out[3] = 2; // SERVFAIL
      out.fill(0, 4, 12);
      return out;
    }
    switch (reply.kind) {
      case 'drop':
        this.stats.dropped++;
        return undefined;
      case 'answer':
        this.stats.byRcode[reply.rcode] = (this.stats.byRcode[reply.rcode] ?? 0) + 1;
        if (reply.truncated) this.stats.truncated++;
        return reply.bytes;
      case 'forward':
        this.stats.forwarded++;
        return this.#forward(packet, reply.query, transport);
    }
  }

  #onUdp(msg: Buffer, address: string, port: number): void {
    const out = this.#handle(msg, 'udp');
    if (out === undefined) return;
    if (out instanceof Promise) void out.then((bytes) => this.#udp?.send(bytes, port, address));
    else this.#udp?.send(out, port, address);
  }

  #onConnection(socket: Socket): void {
    this.#connections.add(socket);
    socket.setTimeout(this.options.tcpIdleTimeoutMs, () => socket.destroy());
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    let waiting = false;
    const send = (bytes: Buffer): void => {
      if (socket.destroyed) return;
      const framed = Buffer.allocUnsafe(bytes.length + 2);
      framed.writeUInt16BE(bytes.length, 0);
      bytes.copy(framed, 2);
      socket.write(framed);
    };
    // RFC 7766: several queries per connection, each prefixed with its length;
    // a message may arrive split across segments, or several in one.
    const answer = (): void => {
      while (pending.length >= 2) {
        // A client that sends queries and never reads the answers must not grow this process's
        // memory without end: its queries wait, unread, until it has taken what is queued.
        if (socket.writableLength > MAX_UNREAD_ANSWER_BYTES) {
          if (!waiting) {
            waiting = true;
            this.stats.tcpBackpressure++;
            socket.pause();
            socket.once('drain', () => {
              waiting = false;
              socket.resume();
              answer();
            });
          }
          return;
        }
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        const out = this.#handle(msg, 'tcp');
        if (out instanceof Promise) void out.then(send);
        else if (out) send(out);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      answer();
    });
  }

  /** Tries each recursor in order; the first answer wins; SERVFAIL when all fail. */
  async #forward(packet: Buffer, query: Query, transport: 'udp' | 'tcp'): Promise<Buffer> {
    for (const r of this.options.recursors) {
      try {
        let answer = await udpExchange(packet, r.host, r.port, this.options.recursorTimeoutMs);
        if (transport === 'tcp' && (answer[2]! & 0x02) !== 0) answer = await tcpExchange(packet, r.host, r.port, this.options.recursorTimeoutMs);
        return answer;
      } catch (err) {
        this.logger.debug({ recursor: `${r.host}:${r.port}`, err: (err as Error).message }, 'recursor failed');
      }
    }
    this.stats.recursorFailures++;
    return this.responder.servfail(query, transport);
  }

  #logError(err: unknown, packet: Buffer): void {
    const now = Date.now();
    if (now - this.#lastErrorLog < 1000) return; // at most one line a second under a flood
    this.#lastErrorLog = now;
    this.logger.error({ err, packet: packet.subarray(0, 64).toString('hex') }, 'dns query failed inside the server; answered SERVFAIL');
  }
}

/** Answers queued to one TCP client before its queries are no longer read. */
const MAX_UNREAD_ANSWER_BYTES = 256 * 1024;

function udpExchange(packet: Buffer, host: string, port: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const id = packet.readUInt16BE(0);
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    const done = (err: Error | null, msg?: Buffer): void => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(msg!);
    };
    socket.on('error', (err) => done(err));
    socket.on('message', (msg) => {
      if (msg.length >= 12 && msg.readUInt16BE(0) === id) done(null, msg);
    });
    socket.send(packet, port, host);
  });
}

function tcpExchange(packet: Buffer, host: string, port: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buf: Buffer = Buffer.alloc(0);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error('timeout'));
    });
    socket.on('error', reject);
    socket.on('connect', () => {
      const framed = Buffer.allocUnsafe(packet.length + 2);
      framed.writeUInt16BE(packet.length, 0);
      packet.copy(framed, 2);
      socket.write(framed);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        socket.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
  });
}
