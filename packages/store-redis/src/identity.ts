import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** Where a replica keeps its id, under the data directory. */
export const REPLICA_ID_FILE = 'redis-replica-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * This replica's id in Redis (its lease, what it holds, the node it runs): kept in
 * `dataDir` so that a replica restarted after a crash is the same replica, still
 * holding its node and lease, rather than a stranger whose node another replica
 * seems to hold until the lease runs out. Without a data directory, a new id each
 * start. A file that holds no id is replaced, and said.
 */
export async function loadReplicaId(dataDir: string, warn: (message: string) => void): Promise<string> {
  if (!dataDir) return randomUUID();
  const file = join(dataDir, REPLICA_ID_FILE);
  try {
    const saved = (await readFile(file, 'utf8')).trim();
    if (UUID.test(saved)) return saved;
    warn(`${file} holds no replica id (${JSON.stringify(saved.slice(0, 40))}); starting as a new replica`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`store redis: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const id = randomUUID();
  await mkdir(dataDir, { recursive: true });
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(`${id}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  return id;
}
