// The file registrations were kept in before the registrations log: one JSON document
// rewritten whole at every write. Read once, at the first start with the log.
import { readFile } from 'node:fs/promises';
import { emptyTables, tableRecords, type LogRecord, type Registration } from './log-record.js';

/** The registrations file of the versions before the log (`{ agent: [[id, reg]], catalog: [[node\0id, reg]] }`), as records. */
export async function readLegacy(file: string): Promise<LogRecord[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let saved: { agent?: Array<[string, Registration]>; catalog?: Array<[string, Registration]> };
  try {
    saved = JSON.parse(text) as typeof saved;
  } catch (err) {
    throw new Error(`${file}: cannot read the registrations saved by an earlier version (${(err as Error).message}); repair or move the file away to start without them`);
  }
  const tables = emptyTables();
  for (const [k, v] of saved.agent ?? []) tables.agent.set(k, v);
  for (const [k, v] of saved.catalog ?? []) tables.catalog.set(k, v);
  return tableRecords(tables);
}
