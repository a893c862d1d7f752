/*
 * The request target as the rules see it and as the backend gets it, the way Traefik v3
 * (Go's net/http and its entry points' default `http.sanitizePath: true`) has them:
 *
 * - absolute-form (`GET http://a.example/x HTTP/1.1`): the path and query come from the
 *   URL, and the URL's authority is the request's host, over any Host header, for matching
 *   and forwarding alike;
 * - the path is percent-decoded for matching, then cleaned as Go's path.Clean (`//`
 *   collapsed, `.` and `..` resolved without climbing above the root), a trailing slash
 *   kept; the backend gets the same cleaning of the still-encoded path;
 * - a path that an escaped or back slash could split differently at the backend
 *   (`%2F`, `%5C`, `\`), a malformed escape, escaped bytes that are not UTF-8, a raw byte
 *   outside printable ASCII, or a target that is not a path is refused (400).
 *
 * Host() and HostRegexp see the host lowercased, without its port and trailing dot.
 */

export interface Target {
  /** The authority of an absolute-form target, which replaces the Host header; else undefined. */
  readonly authority: string | undefined;
  /** The decoded, cleaned path the rules match. */
  readonly path: string;
  /** The same path cleaned in its encoded form, forwarded. */
  readonly rawPath: string;
  /** `?` and the query, as sent, or ''. */
  readonly search: string;
}

export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=-]+)(?::[0-9]{0,5})?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Splits and normalises a request target (`req.url`); throws TargetError for one to refuse with 400. */
export function parseTarget(url: string): Target {
  let authority: string | undefined;
  let rest = url;
  const abs = ABSOLUTE.exec(url);
  if (abs) {
    authority = abs[2]!;
    if (!AUTHORITY.test(authority)) throw new TargetError(`the authority ${JSON.stringify(authority)} is not a host and port`);
    rest = abs[3]!;
  }
  const q = rest.indexOf('?');
  const search = q < 0 ? '' : rest.slice(q);
  let raw = q < 0 ? rest : rest.slice(0, q);
  if (authority !== undefined && raw === '') raw = '/';
  if (!raw.startsWith('/')) throw new TargetError('the request target is not a path');
  const { path, rawPath } = cleanPath(raw);
  return { authority, path, rawPath, search };
}

/**
 * Cleans an encoded path as Go's path.Clean (keeping a trailing slash): returns the decoded
 * path for matching and the encoded one for forwarding, cleaned segment for segment alike,
 * so that `/%2e%2e/x` is `/x` in both. Throws TargetError for a path to refuse.
 */
export function cleanPath(raw: string): { path: string; rawPath: string } {
  if (!raw.startsWith('/')) throw new TargetError('a path starts with "/"');
  const encoded: string[] = [];
  const decoded: string[] = [];
  const segments = raw.slice(1).split('/');
  for (const seg of segments) {
    const d = decodeSegment(seg);
    if (d === '' || d === '.') continue;
    if (d === '..') {
      encoded.pop();
      decoded.pop();
      continue;
    }
    encoded.push(seg);
    decoded.push(d);
  }
  const trailing = raw.length > 1 && raw.endsWith('/') && decoded.length > 0 ? '/' : '';
  return { path: `/${decoded.join('/')}${trailing}`, rawPath: `/${encoded.join('/')}${trailing}` };
}

/** Percent-decodes one path segment; refuses what could split it differently elsewhere. */
export function decodeSegment(seg: string): string {
  if (!seg.includes('%')) {
    checkRaw(seg);
    return seg;
  }
  const bytes: number[] = [];
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c === 0x25) {
      const hex = seg.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new TargetError('a malformed percent-escape in the path');
      const b = parseInt(hex, 16);
      if (b === 0x2f || b === 0x5c) throw new TargetError('an escaped slash (%2F, %5C) in the path');
      bytes.push(b);
      i += 2;
    } else {
      checkRaw(seg[i]!);
      bytes.push(c);
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new TargetError('escaped bytes in the path are not UTF-8');
  }
}

function checkRaw(text: string): void {
  if (/[^\x21-\x7e]|\\/.test(text)) throw new TargetError('a back slash or a byte outside printable ASCII in the path');
}

/** The host as Host() and HostRegexp match it: lowercased, without its port and trailing dot. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    if (close > 0) h = h.slice(0, close + 1);
  } else {
    h = h.replace(/:\d*$/, '');
  }
  return h.replace(/\.$/, '');
}
