import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { debounceTime, Observable, Subject } from 'rxjs';

/** One read of a watched file: its text, or why it could not be read. */
export type FileRead = { readonly text: string } | { readonly error: string };

/**
 * Reads `file` now and again after every change, settled for `debounceMs`. Each
 * read is emitted once, in order, and a read overtaken by a newer change is not
 * emitted. A missing file is a read error (it may come back); the stream errors
 * only when the directory cannot be watched any more, so a source built on it is
 * restarted by the registry with backoff.
 *
 * The directory is watched, not the file: that survives editors and tools that
 * replace the file by rename and sees a deleted file come back. Plain fs.watch,
 * not chokidar: chokidar reported one change for a burst of 50 writes, and the
 * last version of the file was never read.
 */
export function watchFile(file: string, debounceMs = 100): Observable<FileRead> {
  return new Observable<FileRead>((subscriber) => {
    let closed = false;
    let generation = 0;
    const load = async (): Promise<void> => {
      const mine = ++generation;
      let read: FileRead;
      try {
        read = { text: await readFile(file, 'utf8') };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        read = { error: `${file}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}` };
      }
      if (!closed && mine === generation) subscriber.next(read);
    };
    const changes = new Subject<void>();
    const sub = changes.pipe(debounceTime(debounceMs)).subscribe(() => void load());
    const target = basename(file);
    let watcher: ReturnType<typeof watch>;
    try {
      watcher = watch(dirname(file), { persistent: true }, (_event, name) => {
        if (name === null || name === target) changes.next();
      });
    } catch (err) {
      subscriber.error(err);
      return undefined;
    }
    watcher.on('error', (err: unknown) => subscriber.error(err));
    void load();
    return () => {
      closed = true;
      sub.unsubscribe();
      changes.complete();
      watcher.close();
    };
  });
}
