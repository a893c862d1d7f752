import { pino } from 'pino';

type LogMethod = {
  (obj: object, msg?: string): void;
  (msg: string): void;
};

/** The logging surface plugins use; a pino logger satisfies it, and so can any other. */
export interface Logger {
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  readonly level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Where JSON lines go: stdout by default. */
  readonly destination?: NodeJS.WritableStream;
}

/** A pino logger (JSON lines): fast enough for a DNS hot path, and every log shipper reads it. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  return options.destination ? pino({ level }, options.destination) : pino({ level });
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
