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

export interface Decoded {
  readonly records: Located[];
  /** Damaged lines with whole records after them: skipped, the records around them kept. */
  readonly damaged: Damage[];
  /** Bytes after the last whole record that are not one (an append cut short): all of them, as one. */
  readonly torn: Damage | undefined;
  /** Where the last whole record ends. */
  readonly validBytes: number;
}

/** Every record in `buf`, the damaged lines between them, and a torn tail. Never throws. */
export function decodeRecords(buf: Uint8Array): Decoded {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: Located[] = [];
  const bad: Damage[] = [];
  let validBytes = 0;
  let line = 0;
  for (let start = 0; start < bytes.length; ) {
    line++;
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl + 1;
    const result = nl === -1 ? 'no newline at the end: the append was cut short' : parseLine(bytes.subarray(start, nl));
    if (typeof result === 'string') bad.push({ line, offset: start, bytes: end - start, reason: result });
    else {
      records.push({ record: result, line, offset: start, bytes: end - start });
      validBytes = end;
    }
    start = end;
  }
  const damaged = bad.filter((d) => d.offset < validBytes);
  const tail = bad.filter((d) => d.offset >= validBytes);
  const torn = tail.length ? { line: tail[0]!.line, offset: validBytes, bytes: bytes.length - validBytes, reason: tail[0]!.reason } : undefined;
  return { records, damaged, torn, validBytes };
}

/** A record, or why the line is not one. */
export function parseLine(line: Buffer): LogRecord | string {
  if (line.length < 10 || line[8] !== 0x20) return 'not a record line (no checksum before it)';
  const hex = line.toString('latin1', 0, 8);
  if (!/^[0-9a-f]{8}$/.test(hex)) return 'not a record line (no checksum before it)';
  const json = line.subarray(9);
  if (crc32(json) !== parseInt(hex, 16)) return 'checksum mismatch';
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch (err) {
    return `bad JSON: ${(err as Error).message}`;
  }
  return asRecord(value) ?? 'not a registration record';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRegistration = (v: unknown): v is Registration => isObject(v) && isObject(v['instance']) && Array.isArray(v['checks']);

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
