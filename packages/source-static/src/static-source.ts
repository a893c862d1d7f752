import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { watch } from 'node:fs';
import { debounceTime, Observable, Subject } from 'rxjs';
import {
  parseDuration,
  Type,
  validate,
  type Logger,
  type PluginContext,
  type PluginModule,
  type Plugin,
  type SourceEvent,
  type SourcePlugin,
  type Static,
} from '@signpost/core';
import { parseServicesFile } from './parse.js';

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Owner id of what this file registers (default "static").' })),
    path: Type.String({ minLength: 1, description: 'The services file (.yaml, .yml or .json), relative to the config file.' }),
    debounce: Type.Optional(Type.String({ format: 'duration', description: 'Quiet time after a change before reloading (default 100ms).' })),
  },
  { additionalProperties: false },
);
export type StaticSourceOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): StaticSourceOptions {
  return validate(optionsSchema, input, 'plugin static');
}

/**
 * Services from a file, kept in step with it. Every good version of the file is
 * applied as one `reset` (what left the file leaves the catalog); a bad or missing
 * file logs one error naming the file, the line and the reason, and the last good
 * set stays in effect until the file is good again.
 */
export function staticSource(options: StaticSourceOptions): SourcePlugin {
  const opts = parseOptions(options);
  const debounceMs = parseDuration(opts.debounce ?? '100ms');
  let ctx: PluginContext | undefined;
  let file = '';

  return {
    name: opts.name ?? 'static',
    async start(c) {
      ctx = c;
      file = resolve(c.baseDir, opts.path);
    },
    async stop() {
      // The file watcher belongs to the events() subscription, which the registry ends first.
    },
    events() {
      if (!ctx) throw new Error('static source: events() before start()');
      return watchFile(file, debounceMs, ctx.logger);
    },
  };
}

function watchFile(file: string, debounceMs: number, log: Logger): Observable<SourceEvent> {
  return new Observable<SourceEvent>((subscriber) => {
    let lastError = '';
    let loaded = false;
    let closed = false;
    let generation = 0;

    const load = async (): Promise<void> => {
      const mine = ++generation;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        report(`${file}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`);
        return;
      }
      if (closed || mine !== generation) return; // a newer load is under way
      try {
        const instances = parseServicesFile(text, file);
        if (lastError || !loaded) log.info({ file, instances: instances.length }, loaded ? 'services file is good again; applied' : 'services file loaded');
        lastError = '';
        loaded = true;
        subscriber.next({ type: 'reset', instances });
      } catch (err) {
        report((err as Error).message);
      }
    };

    const report = (message: string): void => {
      if (closed || message === lastError) return; // one line per distinct problem, not one per save
      lastError = message;
      log.error({ file, error: message }, loaded ? 'services file rejected; the last good version stays in effect' : 'services file rejected; nothing registered from it yet');
    };

    // Watching the directory (not the file) survives editors and tools that
    // replace the file by rename, and sees a deleted file come back. Plain
    // fs.watch, not chokidar: chokidar reported one change for a burst of 50
    // writes, and the last version of the file was never loaded.
    const changes = new Subject<void>();
    const sub = changes.pipe(debounceTime(debounceMs)).subscribe(() => void load());
    const target = basename(file);
    const watcher = watch(dirname(file), { persistent: true }, (_event, name) => {
      if (name === null || name === target) changes.next();
    });
    // The directory itself went away: error the stream, so the registry restarts
    // this source with backoff (and the last good set stays meanwhile).
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

/** Config entry: `plugins: [{ plugin: static, path: ./services.yaml }]`. */
export const plugin: PluginModule<StaticSourceOptions, Plugin> = {
  name: 'static',
  kind: 'source',
  optionsSchema,
  parseOptions,
  create: staticSource,
};
