// The records of the registrations log, as bytes and back: pure, no I/O.
//
// One record a line: the CRC-32 of the JSON (8 hex digits), a space, the JSON, "\n".
//   1c291ca3 {"op":"set","kind":"agent","id":"web","reg":{"instance":{…},"checks":[]}}
//   5f2a07e1 {"op":"del","kind":"catalog","node":"n2","id":"db"}
// JSON never holds a raw newline, so a line is a record; the checksum tells a record
// cut short or damaged from a whole one.
import { crc32 } from 'node:zlib';
import type { CheckInput, InstanceInput } from '@signpost/core';

/** One registration made through the API: the service and its checks, by check ID. */
export interface Registration {
  readonly instance: InstanceInput;
  readonly checks: readonly CheckInput[];
}

export type LogRecord =
  | { readonly op: 'set'; readonly kind: 'agent'; readonly id: string; readonly reg: Registration }
  | { readonly op: 'set'; readonly kind: 'catalog'; readonly node: string; readonly id: string; readonly reg: Registration }
  | { readonly op: 'del'; readonly kind: 'agent'; readonly id: string }
  | { readonly op: 'del'; readonly kind: 'catalog'; readonly node: string; readonly id: string };

/** What the records say once replayed: agent services by ID, catalog services by `node\0id`. */
export interface Tables {
  readonly agent: Map<string, Registration>;
  readonly catalog: Map<string, Registration>;
}

export const emptyTables = (): Tables => ({ agent: new Map(), catalog: new Map() });

export const catalogKey = (node: string, id: string): string => `${node}\u0000${id}`;

/** The key a record sets or deletes, the same for both ops (the live size is tracked by it). */
export const recordKey = (r: LogRecord): string => (r.kind === 'agent' ? `a\u0000${r.id}` : `c\u0000${catalogKey(r.node, r.id)}`);

export function encodeRecord(record: LogRecord): Buffer {
  const json = Buffer.from(JSON.stringify(record));
  const line = Buffer.allocUnsafe(json.length + 10);
  line.write(crc32(json).toString(16).padStart(8, '0'), 0, 'latin1');
  line[8] = 0x20;
  json.copy(line, 9);
  line[line.length - 1] = 0x0a;
  return line;
}

/** A record read back, where it was. */
export interface Located {
  readonly record: LogRecord;
  /** 1-based line number, byte offset and length (newline included) in the file. */
  readonly line: number;
  readonly offset: number;
  readonly bytes: number;
}

/** Bytes that are not a record: where, and why. */
export interface Damage {
  readonly line: number;
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

/** The first line of a snapshot: its generation and how many records follow, so that an empty or cut snapshot shows. */
export interface SnapshotHeader {
  readonly snapshot: number;
  readonly records: number;
}

export function encodeHeader(header: SnapshotHeader): Buffer {
  const json = Buffer.from(JSON.stringify({ snapshot: header.snapshot, records: header.records }));
  return Buffer.concat([Buffer.from(`${crc32(json).toString(16).padStart(8, '0')} `, 'latin1'), json, Buffer.from('\n')]);
}

export interface Decoded {
  readonly records: Located[];
  /**
   * Lines that are not records, with where and why: between whole records, and at the end
   * unless they are one unterminated fragment an append cut short could leave (`torn`).
   */
  readonly damaged: Damage[];
  /**
   * An unterminated last fragment with no NUL byte and nothing invalid before it: what an
   * append cut short by a crash leaves. Anything else at the end is damage.
   */
  readonly torn: Damage | undefined;
  /** Where the last whole record ends. */
  readonly validBytes: number;
  /** A snapshot's first line, when it has one. */
  readonly header?: SnapshotHeader;
}

const CUT_SHORT = 'no newline at the end: the append was cut short';
const ZEROED = 'NUL bytes and no newline at the end: zeroed or overwritten, not an append cut short';

/** Every record in `buf`, the damaged lines, a torn tail, and a snapshot header on line 1. Never throws. */
export function decodeRecords(buf: Uint8Array): Decoded {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: Located[] = [];
  const bad: Damage[] = [];
  let header: SnapshotHeader | undefined;
  let validBytes = 0;
  let line = 0;
  for (let start = 0; start < bytes.length; ) {
    line++;
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl + 1;
    const value = nl === -1 ? (bytes.subarray(start, end).includes(0) ? ZEROED : CUT_SHORT) : parseFramed(bytes.subarray(start, nl));
    const result = typeof value === 'string' ? value : line === 1 && isHeader(value.json) ? value.json : (asRecord(value.json) ?? 'not a registration record');
    if (typeof result === 'string') bad.push({ line, offset: start, bytes: end - start, reason: result });
    else if ('snapshot' in result) {
      header = result;
      validBytes = end;
    } else {
      records.push({ record: result, line, offset: start, bytes: end - start });
      validBytes = end;
    }
    start = end;
  }
  const tail = bad.filter((d) => d.offset >= validBytes);
  const cutShort = tail.length === 1 && tail[0]!.reason === CUT_SHORT;
  const torn = cutShort ? { ...tail[0]!, offset: validBytes, bytes: bytes.length - validBytes } : undefined;
  return { records, damaged: cutShort ? bad.filter((d) => d.offset < validBytes) : bad, torn, validBytes, ...(header ? { header } : {}) };
}

/** A record, or why the line is not one. */
export function parseLine(line: Buffer): LogRecord | string {
  const value = parseFramed(line);
  return typeof value === 'string' ? value : (asRecord(value.json) ?? 'not a registration record');
}

/** The JSON value of a checksummed line, or why the line is not one. */
function parseFramed(line: Buffer): { readonly json: unknown } | string {
  if (line.length < 10 || line[8] !== 0x20) return 'not a record line (no checksum before it)';
  const hex = line.toString('latin1', 0, 8);
  if (!/^[0-9a-f]{8}$/.test(hex)) return 'not a record line (no checksum before it)';
  const json = line.subarray(9);
  if (crc32(json) !== parseInt(hex, 16)) return 'checksum mismatch';
  try {
    return { json: JSON.parse(json.toString('utf8')) as unknown };
  } catch (err) {
    return `bad JSON: ${(err as Error).message}`;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isRegistration = (v: unknown): v is Registration => isObject(v) && isObject(v['instance']) && Array.isArray(v['checks']);
const isHeader = (v: unknown): v is SnapshotHeader => isObject(v) && Number.isSafeInteger(v['snapshot']) && Number.isSafeInteger(v['records']) && Object.keys(v).length === 2;

function asRecord(v: unknown): LogRecord | undefined {
  if (!isObject(v) || typeof v['id'] !== 'string') return undefined;
  if (v['kind'] === 'catalog' && typeof v['node'] !== 'string') return undefined;
  if (v['kind'] !== 'agent' && v['kind'] !== 'catalog') return undefined;
  if (v['op'] === 'set') return isRegistration(v['reg']) ? (v as unknown as LogRecord) : undefined;
  return v['op'] === 'del' ? (v as unknown as LogRecord) : undefined;
}

/** Applies one record; returns whether it changed what the tables hold. */
export function applyRecord(tables: Tables, r: LogRecord): boolean {
  const table = r.kind === 'agent' ? tables.agent : tables.catalog;
  const key = r.kind === 'agent' ? r.id : catalogKey(r.node, r.id);
  if (r.op === 'del') return table.delete(key);
  table.set(key, r.reg);
  return true;
}

/** The records that rebuild `tables` from nothing: a snapshot's content. */
export function tableRecords(tables: Tables): LogRecord[] {
  const out: LogRecord[] = [];
  for (const [id, reg] of tables.agent) out.push({ op: 'set', kind: 'agent', id, reg });
  for (const [key, reg] of tables.catalog) {
    const cut = key.indexOf('\u0000');
    out.push({ op: 'set', kind: 'catalog', node: key.slice(0, cut), id: key.slice(cut + 1), reg });
  }
  return out;
}

/**
 * Replays records in order onto `tables`, keeping the encoded size of each key's
 * live record in `sizes` (what a snapshot would take).
 */
export function replay(records: Iterable<Located>, tables: Tables, sizes: Map<string, number>): void {
  for (const { record, bytes } of records) {
    applyRecord(tables, record);
    if (record.op === 'set') sizes.set(recordKey(record), bytes);
    else sizes.delete(recordKey(record));
  }
}
