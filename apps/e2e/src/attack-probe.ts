import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';

/*
 * What the attack suite measures while an attack runs: a DNS question and an HTTP
 * read, every 100 ms, each timed from send to answer. An attack that freezes the
 * agent's event loop shows as a long wait here, whatever it targeted.
 */

export interface ProbeReport {
  readonly probes: number;
  readonly answered: number;
  /** The longest wait for an answer, in ms (an unanswered probe counts as its whole timeout). */
  readonly longestMs: number;
  /** What went wrong, if anything: probes with no answer, and why. */
  readonly failures: readonly string[];
}

export interface Probe {
  stop(): Promise<ProbeReport>;
}

/** Starts probing `dns` (UDP) and `http` (GET `path`) on 127.0.0.1 every 100 ms. */
export function startProbe(ports: { dns: number; http: number }, name: string, path = '/v1/catalog/services', timeoutMs = 5000): Probe {
  let running = true;
  let probes = 0;
  let answered = 0;
  let longestMs = 0;
  const failures: string[] = [];
  const timed = async (what: string, run: () => Promise<void>): Promise<void> => {
    probes++;
    const t0 = performance.now();
    try {
      await run();
      answered++;
    } catch (err) {
      failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
    longestMs = Math.max(longestMs, performance.now() - t0);
  };
  const loop = (async () => {
    while (running) {
      await Promise.all([timed('dns', () => askDns(ports.dns, name, timeoutMs)), timed('http', () => askHttp(ports.http, path, timeoutMs))]);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { probes, answered, longestMs: Math.round(longestMs), failures };
    },
  };
}

function askDns(port: number, name: string, timeoutMs: number): Promise<void> {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const id = Math.floor(Math.random() * 65536);
  const query = Buffer.concat([Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('message', (msg) => {
      if (msg.readUInt16BE(0) !== id) return;
      const rcode = msg[3]! & 0x0f;
      done(rcode === 0 ? undefined : new Error(`rcode ${rcode}`));
    });
    socket.send(query, port, '127.0.0.1');
  });
}

/** A GET on its own connection, from 127.0.0.9: attacks from 127.0.0.1 that use up its per-client connections must not starve the probe's. */
function askHttp(port: number, path: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket: Socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.9' });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (!reply.includes('\r\n')) return;
      clearTimeout(timer);
      socket.destroy();
      if (/^HTTP\/1\.1 200 /.test(reply)) resolve();
      else reject(new Error(`answered ${reply.split('\r\n')[0]}`));
    });
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n`));
  });
}
