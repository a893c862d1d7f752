import { join, resolve } from 'node:path';
import { concatMap, Observable, type Subscriber, type Subscription } from 'rxjs';
import {
  parseDuration,
  Type,
  validate,
  watchFile,
  type Plugin,
  type PluginContext,
  type PluginModule,
  type SourceEvent,
  type SourcePlugin,
  type Static,
} from '@signpost/core';
import { parseJobsFile } from './jobs.js';
import { parsePortRange, PortAllocator } from './ports.js';
import { bootId } from './proc.js';
import { RecordDir } from './records.js';
import { recoverOrphans, type RecoveryReport } from './recovery.js';
import { Supervisor, type SupervisorOptions, type SupervisorStats } from './supervisor.js';

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Owner id of what it registers (default "exec").' })),
    jobs: Type.String({ minLength: 1, description: 'The jobs file (YAML or JSON), relative to the config file.' }),
    portRange: Type.Optional(Type.String({ pattern: '^\\d{1,5}-\\d{1,5}$', description: 'Dynamic ports are taken from here (default 20000-32000, as Nomad).' })),
    logDir: Type.Optional(Type.String({ minLength: 1, description: "Where each instance's stdout and stderr go (default <dataDir>/exec-logs)." })),
    address: Type.Optional(Type.String({ format: 'address', description: 'The address instances are registered at (default 127.0.0.1).' })),
    debounce: Type.Optional(Type.String({ format: 'duration', description: 'Quiet time after a change of the jobs file before reloading (default 100ms).' })),
  },
  { additionalProperties: false },
);
export type ExecSourceOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): ExecSourceOptions {
  const o = validate(optionsSchema, input, 'plugin exec');
  try {
    parsePortRange(o.portRange ?? '20000-32000');
  } catch (err) {
    throw new Error(`plugin exec: ${(err as Error).message}`);
  }
  return o;
}

/** `stats()`: the processes, and what start-up found of a previous run's. */
export interface ExecStats extends SupervisorStats {
  /** What start-up did with the records a previous run left (all 0 without a dataDir). */
  readonly recovery: RecoveryReport;
}

const noRecovery: RecoveryReport = { records: 0, damaged: 0, stopped: 0, survived: 0, refused: 0 };

export interface ExecSource extends SourcePlugin {
  /** Processes running, started and restarted since start, and what start-up found of a previous run's. */
  stats(): ExecStats;
  /** Process ids running now. */
  pids(): number[];
}

/**
 * An embedded scheduler for one machine: runs the jobs file's jobs on dynamic
 * ports, registers each instance once its process is up, follows crashes and
 * restarts, and reloads the file on change (a bad file keeps what runs).
 */
export function execSource(options: ExecSourceOptions): ExecSource {
  const opts = parseOptions(options);
  const name = opts.name ?? 'exec';
  const [low, high] = parsePortRange(opts.portRange ?? '20000-32000');
  let ctx: PluginContext | undefined;
  let supervisor: Supervisor | undefined;
  let watching: Subscription | undefined;
  let listener: Subscriber<SourceEvent> | undefined;
  let applying: Promise<void> = Promise.resolve();
  let lastError = '';
  let recovery = noRecovery;

  const emit = (event: SourceEvent): void => {
    if (listener) return listener.next(event);
    // After the registry has ended events() (it stops sources first), deregistrations still go in.
    ctx?.publish([event]).catch((err: unknown) => ctx?.logger.warn({ err }, 'could not deregister a stopped instance'));
  };

  return {
    name,
    // The processes run on this machine: another replica's scheduler runs its own.
    ownership: 'replica',
    async start(c) {
      ctx = c;
      const file = resolve(c.baseDir, opts.jobs);
      const logDir = opts.logDir ? resolve(c.baseDir, opts.logDir) : join(c.dataDir || c.baseDir, 'exec-logs');
      const records = recordsOf(c, name);
      if (records) recovery = await recoverOrphans(records.dir, records.bootId, c.logger);
      const sup = new Supervisor({ ports: new PortAllocator(low, high), address: opts.address ?? '127.0.0.1', logDir, logger: c.logger, emit, ...(records ? { records } : {}) });
      supervisor = sup;
      let applied = false;
      watching = watchFile(file, parseDuration(opts.debounce ?? '100ms'))
        .pipe(
          concatMap(async (read) => {
            const report = (message: string): void => {
              if (message === lastError) return;
              lastError = message;
              c.logger.error({ file, error: message }, applied ? 'jobs file rejected; what runs keeps running' : 'jobs file rejected; nothing started from it yet');
            };
            if ('error' in read) return report(read.error);
            let jobs;
            try {
              jobs = parseJobsFile(read.text, file, resolve(file, '..'));
            } catch (err) {
              return report((err as Error).message);
            }
            lastError = '';
            applying = sup.apply(jobs);
            await applying;
            applied = true;
            c.logger.info({ file, jobs: jobs.length, instances: jobs.reduce((n, j) => n + j.count, 0) }, 'jobs file applied');
          }),
        )
        .subscribe({ error: (err: unknown) => c.logger.error({ err, file }, 'cannot watch the jobs file any more; what runs keeps running') });
    },
    async stop() {
      watching?.unsubscribe();
      await applying.catch(() => undefined);
      await supervisor?.stopAll();
    },
    events() {
      return new Observable<SourceEvent>((subscriber) => {
        // A new subscription hears the whole state first, then every change.
        subscriber.next({ type: 'reset', instances: supervisor?.current() ?? [] });
        listener = subscriber;
        return () => {
          if (listener === subscriber) listener = undefined;
        };
      });
    },
    stats: () => ({ ...(supervisor?.stats() ?? { running: 0, starts: 0, restarts: 0 }), recovery }),
    pids: () => supervisor?.pids() ?? [],
  };
}

/**
 * Where this source records what it starts (`<dataDir>/exec-allocs/<name>/`), or
 * undefined, with a warning, where it cannot: without a dataDir, or without /proc
 * (not Linux) to tell its processes from others.
 */
function recordsOf(c: PluginContext, name: string): SupervisorOptions['records'] {
  if (!c.dataDir) {
    c.logger.warn({}, 'no dataDir: what this source starts is not recorded, so processes left running by a crash of the agent cannot be found at the next start');
    return undefined;
  }
  const boot = bootId();
  if (!boot) {
    c.logger.warn({ dataDir: c.dataDir }, 'no /proc: processes left running by a crash of the agent cannot be told from others, so they are not looked for');
    return undefined;
  }
  return { dir: new RecordDir(join(c.dataDir, 'exec-allocs', name)), bootId: boot };
}

/** Config entry: `plugins: [{ plugin: exec, jobs: ./jobs.yaml }]`. */
export const plugin: PluginModule<ExecSourceOptions, Plugin> = {
  name: 'exec',
  kind: 'source',
  optionsSchema,
  parseOptions,
  create: execSource,
};
