// The file registrations were kept in before the registrations log: one JSON document
// rewritten whole at every write. Read once, at the first start with the log.
import { emptyTables, isRegistration, tableRecords, type LogRecord, type Registration } from './log-record.js';
import { readBounded } from './read-bounded.js';

/** An entry of the legacy file that is not a registration: kept aside, never loaded. */
export interface LegacyReject {
  readonly id: string;
  readonly entry: unknown;
  readonly reason: string;
}

export interface Legacy {
  readonly records: LogRecord[];
  readonly rejected: LegacyReject[];
}

/**
 * The registrations file of the versions before the log (`{ agent: [[id, reg]], catalog:
 * [[node\0id, reg]] }`), as records, and its entries that are not registrations. Throws,
 * naming the file, when it is not such a document at all; none when it does not exist.
 */
export async function readLegacy(file: string): Promise<Legacy | undefined> {
  const bytes = await readBounded(file, { missingOk: true });
  if (!bytes) return undefined;
  const refuse = (why: string): Error => new Error(`${file}: cannot read the registrations saved by an earlier version (${why}); repair or move the file away to start without them`);
  let saved: unknown;
  try {
    saved = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw refuse((err as Error).message);
  }
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) throw refuse(`expected an object with "agent" and "catalog", not ${saved === null ? 'null' : Array.isArray(saved) ? 'an array' : typeof saved}`);
  const tables = emptyTables();
  const rejected: LegacyReject[] = [];
  for (const kind of ['agent', 'catalog'] as const) {
    const list = (saved as Record<string, unknown>)[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw refuse(`"${kind}" must be an array of [id, registration] pairs`);
    for (const [n, entry] of list.entries()) {
      const pair = Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' ? (entry as [string, unknown]) : undefined;
      const id = pair ? pair[0] : `${kind}[${n}]`;
      if (!pair) rejected.push({ id, entry, reason: `${kind}[${n}]: not an [id, registration] pair` });
      else if (kind === 'catalog' && !pair[0].includes('\u0000')) rejected.push({ id, entry, reason: `${kind}[${n}]: the key is not node\\0id` });
      else if (!isRegistration(pair[1])) rejected.push({ id, entry, reason: `${kind}[${n}]: not a registration (an object with "instance" and a "checks" array)` });
      else tables[kind].set(pair[0], pair[1] as Registration);
    }
  }
  return { records: tableRecords(tables), rejected };
}
