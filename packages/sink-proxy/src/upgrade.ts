import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { connectionTokens } from './headers.js';

/*
 * Node hands every request with an Upgrade header to the server's 'upgrade' listener,
 * with the socket already taken from the HTTP parser (Node 20 has no way to decline:
 * shouldUpgradeCallback came in later releases). Only WebSocket is proxied as an
 * upgrade; any other (`curl --http2`'s `Upgrade: h2c`, TLS/1.0) may be ignored
 * (RFC 9110 §7.8: the server answers in the protocol the request came in), so the
 * request is given back to the HTTP server as if it had never asked.
 */

export function isWebSocket(req: IncomingMessage): boolean {
  return connectionTokens(req.headers.upgrade).has('websocket');
}

/** The request's head rebuilt without Upgrade and what its Connection said about it. */
export function headWithoutUpgrade(req: IncomingMessage): Buffer {
  const named = connectionTokens(req.headers.connection);
  const drop = new Set(['upgrade', ...[...named].filter((n) => n !== 'keep-alive' && n !== 'close')]);
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (drop.has(lower)) continue;
    if (lower === 'connection') {
      const kept = req.rawHeaders[i + 1]!.split(',').map((t) => t.trim()).filter((t) => t.toLowerCase() === 'keep-alive' || t.toLowerCase() === 'close');
      if (kept.length) lines.push(`${name}: ${kept.join(', ')}`);
      continue;
    }
    lines.push(`${name}: ${req.rawHeaders[i + 1]!}`);
  }
  // latin1 both ways: Node's parser read the head as bytes, so this round-trips them.
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** Serves a non-WebSocket upgrade request as the plain HTTP/1.1 request it also is. */
export function replayWithoutUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.unshift(Buffer.concat([headWithoutUpgrade(req), head]));
  server.emit('connection', socket);
}
