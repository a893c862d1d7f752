import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { limitConnections } from './connection-limit.js';
import type { Logger } from './logger.js';

function recordingLogger(lines: string[]): Logger {
  const at = (objOrMsg: object | string, msg?: string): void => void lines.push(typeof objOrMsg === 'string' ? objOrMsg : (msg ?? ''));
  const logger: Logger = { error: at, warn: at, info: at, debug: at, child: () => logger };
  return logger;
}

const listen = (server: Server, host = '127.0.0.1'): Promise<number> =>
  new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as { port: number }).port)));

/** Opens a connection from `from`; resolves with the socket and whether the server closed it unprompted. */
function open(port: number, from = '127.0.0.1'): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

const eventually = async (predicate: () => boolean): Promise<void> => {
  for (let n = 0; n < 2500 && !predicate(); n++) await new Promise((r) => setTimeout(r, 2));
  expect(predicate()).toBe(true);
};

describe('limitConnections', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it('closes a client\'s connections past its cap, logs that once, and lets other clients in', async () => {
    const lines: string[] = [];
    const seen: Socket[] = [];
    const server = createServer((s) => seen.push(s));
    servers.push(server);
    const limiter = limitConnections(server, { perClient: 3, total: 0 }, recordingLogger(lines), 'test api');
    const port = await listen(server);
    const kept = [];
    for (let n = 0; n < 3; n++) kept.push(await open(port));
    sockets.push(...kept.map((k) => k.socket));
    const over = [await open(port), await open(port)];
    sockets.push(...over.map((k) => k.socket));
    await Promise.all(over.map((o) => o.closed));
    expect(limiter.refused).toBe(2);
    expect(lines.filter((l) => l.includes('maxConnsPerClient'))).toHaveLength(1);
    // Another address (127.0.0.2 is loopback too) is not held to 127.0.0.1's count.
    const other = await open(port, '127.0.0.2');
    sockets.push(other.socket);
    await eventually(() => limiter.open === 4);
    // A closed connection frees its place.
    kept[0]!.socket.destroy();
    await eventually(() => limiter.open === 3);
    const again = await open(port);
    sockets.push(again.socket);
    await eventually(() => limiter.open === 4);
    expect(limiter.refused).toBe(2);
  });

  it('caps the listener in all, whatever the client', async () => {
    const lines: string[] = [];
    const server = createServer(() => undefined);
    servers.push(server);
    const limiter = limitConnections(server, { perClient: 0, total: 2 }, recordingLogger(lines), 'test dns');
    const port = await listen(server);
    for (const from of ['127.0.0.1', '127.0.0.2']) sockets.push((await open(port, from)).socket);
    await eventually(() => limiter.open === 2);
    const over = await open(port, '127.0.0.3');
    sockets.push(over.socket);
    await over.closed;
    expect(limiter.refused).toBe(1);
    expect(lines.some((l) => l.includes('maxConns)'))).toBe(true);
  });

  it('an HTTP server answers nothing on a refused connection and serves the ones it kept', async () => {
    const server = createHttpServer((_req, res) => res.end('ok'));
    servers.push(server);
    limitConnections(server, { perClient: 1, total: 0 }, recordingLogger([]), 'test http');
    const port = await listen(server);
    const first = await open(port);
    sockets.push(first.socket);
    const second = await open(port);
    sockets.push(second.socket);
    let heard = '';
    second.socket.on('data', (d: Buffer) => (heard += d.toString()));
    second.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await second.closed;
    expect(heard).toBe('');
    const reply = new Promise<string>((resolve) => first.socket.once('data', (d: Buffer) => resolve(d.toString())));
    first.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await reply).toMatch(/^HTTP\/1.1 200/);
  });

  it('closes a connection that sends nothing within firstByteTimeoutMs, and keeps one that spoke', async () => {
    const server = createServer(() => undefined);
    servers.push(server);
    const limiter = limitConnections(server, { perClient: 0, total: 0, firstByteTimeoutMs: 50 }, recordingLogger([]), 'test');
    const port = await listen(server);
    const silent = await open(port);
    const talking = await open(port);
    sockets.push(silent.socket, talking.socket);
    talking.socket.write('x');
    await silent.closed;
    await eventually(() => limiter.open === 1);
    expect(talking.socket.destroyed).toBe(false);
  });

  it('counts a socket handed back to the server once (an h2c upgrade answered over HTTP/1.1 re-emits it)', async () => {
    const server = createServer(() => undefined);
    servers.push(server);
    const limiter = limitConnections(server, { perClient: 1, total: 0 }, recordingLogger([]), 'test');
    const seen: Socket[] = [];
    server.on('connection', (s: Socket) => seen.push(s));
    const port = await listen(server);
    const first = await open(port);
    sockets.push(first.socket);
    await eventually(() => seen.length === 1);
    for (let n = 0; n < 3; n++) server.emit('connection', seen[0]);
    expect([limiter.open, limiter.refused, seen[0]!.destroyed]).toEqual([1, 0, false]);
  });
});
