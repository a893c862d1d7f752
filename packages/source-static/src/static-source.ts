import { resolve } from 'node:path';
import { concatMap, type Observable } from 'rxjs';
import {
  parseDuration,
  watchFile,
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
    // Every replica that loads the same file asserts the same services: one owner for all.
    ownership: 'shared',
    async start(c) {
      ctx = c;
      file = resolve(c.baseDir, opts.path);
    },
    async stop() {
      // The file watcher belongs to the events() subscription, which the registry ends first.
    },
    events() {
      if (!ctx) throw new Error('static source: events() before start()');
      return servicesFrom(file, debounceMs, ctx.logger);
    },
  };
}

function servicesFrom(file: string, debounceMs: number, log: Logger): Observable<SourceEvent> {
  let lastError = '';
  let loaded = false;
  // One line per distinct problem, not one per save.
  const report = (message: string): void => {
    if (message === lastError) return;
    lastError = message;
    log.error({ file, error: message }, loaded ? 'services file rejected; the last good version stays in effect' : 'services file rejected; nothing registered from it yet');
  };
  return watchFile(file, debounceMs).pipe(
    concatMap((read): SourceEvent[] => {
      if ('error' in read) {
        report(read.error);
        return [];
      }
      try {
        const instances = parseServicesFile(read.text, file);
        if (lastError || !loaded) log.info({ file, instances: instances.length }, loaded ? 'services file is good again; applied' : 'services file loaded');
        lastError = '';
        loaded = true;
        return [{ type: 'reset', instances }];
      } catch (err) {
        report((err as Error).message);
        return [];
      }
    }),
  );
}

/** Config entry: `plugins: [{ plugin: static, path: ./services.yaml }]`. */
export const plugin: PluginModule<StaticSourceOptions, Plugin> = {
  name: 'static',
  kind: 'source',
  optionsSchema,
  parseOptions,
  create: staticSource,
};
