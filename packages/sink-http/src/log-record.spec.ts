import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeRecords, emptyTables, encodeRecord, parseLine, replay, tableRecords, type LogRecord, type Registration } from './log-record.js';

const reg = (port: number, checks: Registration['checks'] = []): Registration => ({ instance: { service: 'web', id: 'web-1', port }, checks });
const setAgent = (id: string, port: number): LogRecord => ({ op: 'set', kind: 'agent', id, reg: reg(port) });
const setCatalog = (node: string, id: string, port: number): LogRecord => ({ op: 'set', kind: 'catalog', node, id, reg: reg(port) });
const delAgent = (id: string): LogRecord => ({ op: 'del', kind: 'agent', id });
const delCatalog = (node: string, id: string): LogRecord => ({ op: 'del', kind: 'catalog', node, id });
const bytes = (...parts: Array<LogRecord | string | Buffer>): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p) : encodeRecord(p))));
/** A line with a right checksum around any text. */
const framed = (json: string): string => `${crc32(Buffer.from(json)).toString(16).padStart(8, '0')} ${json}\n`;

describe('log records', () => {
  it.each<[string, LogRecord]>([
    ['an agent registration', { op: 'set', kind: 'agent', id: 'web', reg: reg(8080, [{ id: 'service:web', name: 'web', type: 'ttl', definition: { ttl: '10s' } }]) }],
    ['a catalog registration', setCatalog('n2', 'db', 5432)],
    ['an agent deregistration', delAgent('web')],
    ['a catalog deregistration', delCatalog('n2', 'db')],
    ['IDs with newlines, quotes and non-ASCII', { op: 'set', kind: 'agent', id: 'a\nb"c\u0000dé🚀', reg: { instance: { service: 'x\ny', meta: { k: 'v\r\n' } }, checks: [] } }],
  ])('encodes %s as one checksummed line and reads it back', (_what, record) => {
    const line = encodeRecord(record);
    expect(line.at(-1)).toBe(0x0a);
    expect(line.subarray(0, -1).includes(0x0a)).toBe(false);
    expect(line.toString('latin1', 0, 9)).toMatch(/^[0-9a-f]{8} $/);
    expect(parseLine(line.subarray(0, -1))).toEqual(record);
    expect(decodeRecords(line)).toEqual({ records: [{ record, line: 1, offset: 0, bytes: line.length }], damaged: [], torn: undefined, validBytes: line.length });
  });

  const a = encodeRecord(setAgent('a', 1));
  const b = encodeRecord(setAgent('b', 2));
  const c = encodeRecord(setAgent('c', 3));
  const flipped = Buffer.from(b);
  flipped[20] = flipped[20]! ^ 0x01;

  it.each<[string, Buffer, { records: string[]; damaged?: Array<[line: number, offset: number, reason: RegExp]>; torn?: [offset: number, bytes: number, reason: RegExp] }]>([
    ['an empty file', Buffer.alloc(0), { records: [] }],
    ['whole records', bytes(a, b, c), { records: ['a', 'b', 'c'] }],
    ['a torn last record (no newline)', bytes(a, b, c.subarray(0, 30)), { records: ['a', 'b'], damaged: [], torn: [a.length + b.length, 30, /no newline/] }],
    ['a last record cut right before its newline', bytes(a, c.subarray(0, c.length - 1)), { records: ['a'], damaged: [], torn: [a.length, c.length - 1, /no newline/] }],
    // Only an unterminated fragment with nothing invalid before it can be an append cut short; anything else at the end is damage.
    ['zeros after the last record', bytes(a, Buffer.alloc(4096)), { records: ['a'], damaged: [[2, a.length, /NUL bytes/]] }],
    ['the end of the last records zeroed', bytes(a, b.subarray(0, 20), Buffer.alloc(b.length - 20), Buffer.alloc(c.length)), { records: ['a'], damaged: [[2, a.length, /NUL bytes/]] }],
    ['several bad lines at the end', bytes(a, 'garbage\n', 'more garbage\n', 'tail'), { records: ['a'], damaged: [[2, a.length, /no checksum/], [3, a.length + 8, /no checksum/], [4, a.length + 21, /no newline/]] }],
    ['a flipped bit in the last, whole record', bytes(a, c, flipped), { records: ['a', 'c'], damaged: [[3, a.length + c.length, /checksum mismatch/]] }],
    ['a bad whole line and a fragment at the end', bytes(a, flipped, c.subarray(0, 10)), { records: ['a'], damaged: [[2, a.length, /checksum mismatch/], [3, a.length + b.length, /no newline/]] }],
    ['garbage in the middle', bytes(a, 'garbage\n', b), { records: ['a', 'b'], damaged: [[2, a.length, /no checksum/]] }],
    ['a flipped bit in the middle', bytes(a, flipped, c), { records: ['a', 'c'], damaged: [[2, a.length, /checksum mismatch/]] }],
    ['a checksummed line that is not JSON', bytes(a, framed('{"op":'), c), { records: ['a', 'c'], damaged: [[2, a.length, /bad JSON/]] }],
    ['a checksummed record of another shape', bytes(framed('{"op":"set","kind":"agent","id":"x"}'), framed('{"op":"put","kind":"agent","id":"x"}'), framed('[1]'), c), {
      records: ['c'],
      damaged: [
        [1, 0, /not a registration record/],
        [2, 46, /not a registration record/],
        [3, 92, /not a registration record/],
      ],
    }],
    ['damage in the middle and a torn tail', bytes(a, 'xx\n', b, c.subarray(0, 5)), { records: ['a', 'b'], damaged: [[2, a.length, /no checksum/]], torn: [a.length + 3 + b.length, 5, /no newline/] }],
  ])('decodes %s', (_what, buf, want) => {
    const got = decodeRecords(buf);
    expect(got.records.map((r) => r.record.id)).toEqual(want.records);
    expect(got.damaged.map((d) => [d.line, d.offset, d.reason])).toEqual((want.damaged ?? []).map(([line, offset, reason]) => [line, offset, expect.stringMatching(reason)]));
    if (want.torn) expect(got.torn).toEqual({ line: expect.any(Number), offset: want.torn[0], bytes: want.torn[1], reason: expect.stringMatching(want.torn[2]) });
    else expect(got.torn).toBeUndefined();
    // Where the file can be cut so that every whole record stays and nothing torn does.
    expect(got.validBytes).toBe(got.records.length ? got.records.at(-1)!.offset + got.records.at(-1)!.bytes : 0);
  });

  it.each<[string, LogRecord[], { agent: Record<string, number>; catalog: Record<string, number> }]>([
    ['nothing', [], { agent: {}, catalog: {} }],
    ['sets', [setAgent('a', 1), setCatalog('n1', 'a', 2)], { agent: { a: 1 }, catalog: { 'n1\u0000a': 2 } }],
    ['a later set over an earlier one', [setAgent('a', 1), setAgent('a', 2)], { agent: { a: 2 }, catalog: {} }],
    ['a delete', [setAgent('a', 1), setAgent('b', 1), delAgent('a')], { agent: { b: 1 }, catalog: {} }],
    ['a delete of what is not there', [delAgent('a'), delCatalog('n1', 'x')], { agent: {}, catalog: {} }],
    ['a set after a delete', [setAgent('a', 1), delAgent('a'), setAgent('a', 3)], { agent: { a: 3 }, catalog: {} }],
    ['the same ID in both tables and on two nodes', [setAgent('x', 1), setCatalog('n1', 'x', 2), setCatalog('n2', 'x', 3), delCatalog('n1', 'x')], { agent: { x: 1 }, catalog: { 'n2\u0000x': 3 } }],
    ['records replayed twice (a snapshot and the log it overlaps)', [setAgent('a', 1), delAgent('b'), setAgent('a', 1), delAgent('b')], { agent: { a: 1 }, catalog: {} }],
  ])('replays %s', (_what, records, want) => {
    const tables = emptyTables();
    const sizes = new Map<string, number>();
    replay(decodeRecords(bytes(...records)).records, tables, sizes);
    const ports = (m: Map<string, Registration>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [k, v.instance.port!]));
    expect({ agent: ports(tables.agent), catalog: ports(tables.catalog) }).toEqual(want);
    // The live size is what a snapshot of the tables takes.
    const snapshot = bytes(...tableRecords(tables));
    expect([...sizes.values()].reduce((x, y) => x + y, 0)).toBe(snapshot.length);
    const again = emptyTables();
    replay(decodeRecords(snapshot).records, again, new Map());
    expect(again).toEqual(tables);
  });
});
