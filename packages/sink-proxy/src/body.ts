import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';

/*
 * A request body is read from the client before a backend connection is taken
 * whenever it is small (up to `requestBodyBuffer` bytes): a client trickling its body
 * then holds only its own socket, never one of the backend's pooled connections, and
 * a client that gives up half way never reaches the backend at all. Bodies larger than
 * that (or chunked past it) stream, and forward.ts caps how many of those a backend
 * carries at once. nginx does the same by default (proxy_request_buffering on), with
 * a disk spool this proxy does without: memory per request stays bounded instead.
 */

export type Body =
  | { readonly kind: 'none' }
  | { readonly kind: 'buffered'; readonly data: Buffer }
  | { readonly kind: 'stream'; readonly stream: Readable };

/** Whether the request carries a body, as the existing proxy decided (GET and HEAD never forward one). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** Reads the body up to `limit` bytes; resolves undefined when the client went away first. */
export function readBody(req: IncomingMessage, limit: number): Promise<Body | undefined> {
  if (!hasBody(req)) return Promise.resolve({ kind: 'none' });
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ kind: 'stream', stream: relay([], req) });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (body: Body | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(body);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        req.pause();
        done({ kind: 'stream', stream: relay(chunks, req) });
      }
    };
    const onEnd = (): void => done({ kind: 'buffered', data: Buffer.concat(chunks, size) });
    const onClose = (): void => {
      if (!req.complete) done(undefined);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.once('error', onClose);
  });
}

/**
 * What was read so far, then the rest of the request as it arrives, through a stream of
 * its own: when undici gives up on it (the backend failed), the client's request is left
 * alone, so its connection stays up for the 502 and a destroyed request still means the
 * client broke off.
 */
function relay(head: readonly Buffer[], req: IncomingMessage): Readable {
  const out = new PassThrough();
  for (const chunk of head) out.write(chunk);
  req.pipe(out);
  req.once('error', (err) => out.destroy(err));
  req.once('close', () => {
    if (!req.complete) out.destroy(new Error('the client closed its request body'));
  });
  req.resume();
  return out;
}
