import { readFile, stat } from 'node:fs/promises';

/**
 * The largest registrations file (snapshot, log or legacy file) read at start: a log is
 * compacted past 4 MiB and twice the live state, so only a state of hundreds of MiB of
 * registrations comes near it.
 */
export const MAX_FILE_BYTES = 2 ** 30;

/** A file's bytes, or an error that names it and what is wrong, once. `missingOk`: undefined when it does not exist. */
export async function readBounded(path: string, opts: { readonly missingOk?: boolean } = {}): Promise<Buffer | undefined> {
  const fail = (why: string): Error => new Error(`${path}: ${why}`);
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw fail('is a directory, where a registrations file was expected; move it away');
    if (!info.isFile()) throw fail('is not a regular file; move it away');
    if (info.size > MAX_FILE_BYTES) throw fail(`${info.size} bytes, more than the ${MAX_FILE_BYTES} bytes (1 GiB) a registrations file may hold; move it away, or split it`);
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && opts.missingOk) return undefined;
    if (code) throw Object.assign(fail(`cannot read it (${code})`), { cause: err });
    throw err;
  }
}
