import type { Server, Socket } from 'node:net';
import type { Logger } from './logger.js';

/** Connection caps of one listener. */
export interface ConnectionLimits {
  /**
   * Open connections from one client address (Consul's `http_max_conns_per_client`,
   * default 200 there too). 0: no cap.
   */
  readonly perClient: number;
  /** Open connections in all on this listener, so that one listener cannot take every file descriptor. 0: no cap. */
  readonly total: number;
  /**
   * A connection that sends nothing this long after it opened is closed (ms; 0: never).
   * A server's own header deadline starts at the first byte, so without this an idle
   * connection held its place under the caps for good.
   */
  readonly firstByteTimeoutMs?: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { perClient: 200, total: 4096, firstByteTimeoutMs: 10_000 };

export interface ConnectionLimiter {
  /** Connections refused so far, by either cap. */
  readonly refused: number;
  /** Connections open now. */
  readonly open: number;
}

/** Addresses whose refusal was logged, kept bounded: a flood from many addresses must not grow it without end. */
const MAX_LOGGED = 1024;

/**
 * Caps `server`'s connections per client address and in all. A connection over a
 * cap is closed at once, before anything is read from it; the first refusal of
 * each client is logged once, so a flood does not flood the log too.
 *
 * Listens to `connection` ahead of the server's own handler, so an HTTP server
 * never parses a byte of a refused connection.
 */
export function limitConnections(server: Server, limits: ConnectionLimits, logger: Logger, what: string): ConnectionLimiter {
  const byClient = new Map<string, number>();
  const logged = new Set<string>();
  let open = 0;
  let refused = 0;
  const refuse = (socket: Socket, client: string, why: string): void => {
    refused++;
    socket.destroy();
    if (logged.has(client)) return;
    if (logged.size >= MAX_LOGGED) logged.clear();
    logged.add(client);
    logger.warn({ client, limit: why === 'total' ? limits.total : limits.perClient, listener: what }, why === 'total'
      ? `${what}: refused a connection: this listener has as many open as it allows (maxConns); further refusals are not logged for this client`
      : `${what}: refused a connection: this client has as many open as it may (maxConnsPerClient); further refusals are not logged for this client`);
  };
  // A socket handed back to the server (an HTTP/1.1 answer to an h2c upgrade re-emits it) is counted once.
  const counted = new WeakSet<Socket>();
  const firstByteMs = limits.firstByteTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.firstByteTimeoutMs!;
  server.prependListener('connection', (socket: Socket) => {
    if (counted.has(socket)) return;
    counted.add(socket);
    const client = socket.remoteAddress ?? 'unknown';
    if (limits.total > 0 && open >= limits.total) {
      refuse(socket, client, 'total');
      return;
    }
    const mine = byClient.get(client) ?? 0;
    if (limits.perClient > 0 && mine >= limits.perClient) {
      refuse(socket, client, 'client');
      return;
    }
    open++;
    byClient.set(client, mine + 1);
    if (firstByteMs > 0) {
      const silent = setTimeout(() => socket.destroy(), firstByteMs);
      silent.unref();
      socket.once('data', () => clearTimeout(silent));
      socket.once('close', () => clearTimeout(silent));
    }
    socket.once('close', () => {
      open--;
      const left = (byClient.get(client) ?? 1) - 1;
      if (left <= 0) byClient.delete(client);
      else byClient.set(client, left);
    });
  });
  return {
    get refused() {
      return refused;
    },
    get open() {
      return open;
    },
  };
}
