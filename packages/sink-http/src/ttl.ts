// TTL checks: the agent that receives a check's updates keeps its deadline, as
// Consul's agent runs a `CheckTTL` per TTL check it registered (agent/checks/check.go).
import { CHECK_OUTPUT_MAX, checkOutputLimit, firstBytes, parseDuration, type CheckDefinition, type CheckInput, type PluginContext } from '@signpost/core';

/**
 * The output an update keeps: as Consul's `CheckTTL.SetStatus`, at most the check's
 * output limit (`outputMaxSize`, at most 4 KB), and a longer one cut with
 * ` ... (captured <kept> of <total> bytes)` after it. Where that would pass the 4 KB
 * the catalog keeps, the output is cut shorter so that the note still shows.
 */
export function ttlOutput(output: string, definition: Pick<CheckDefinition, 'outputMaxSize'>): string {
  const total = Buffer.byteLength(output);
  const limit = checkOutputLimit(definition);
  if (total <= limit) return output;
  const note = (kept: number): string => ` ... (captured ${kept} of ${total} bytes)`;
  const room = Math.min(limit, CHECK_OUTPUT_MAX - Buffer.byteLength(note(limit)));
  const kept = firstBytes(output, room);
  return `${kept}${note(Buffer.byteLength(kept))}`;
}

/** Consul's output for a TTL that passed: the last update's output follows, if it had one (`getExpiredOutput`). */
export function ttlExpiredOutput(lastOutput: string): string {
  return lastOutput === '' ? 'TTL expired' : `TTL expired (last output before timeout follows): ${lastOutput}`;
}

/** The longest delay setTimeout takes as it is. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The deadlines of the TTL checks registered on this agent. A check is armed when it
 * is registered (so one registered `passing` and never updated still turns critical,
 * as in Consul, whose `CheckTTL` starts its timer at once), when this agent starts
 * with it registered, and at every pass/warn/fail/update; when its TTL passes without
 * one, it turns critical with `ttlExpiredOutput`.
 */
export class TtlTimers {
  readonly #timers = new Map<string, { timer: NodeJS.Timeout; lastOutput: string }>();
  constructor(private readonly ctx: PluginContext) {}

  /** (Re-)arms `checkId`'s deadline; `lastOutput` is what an update just set ('' at registration). */
  arm(checkId: string, ttlMs: number, lastOutput = ''): void {
    clearTimeout(this.#timers.get(checkId)?.timer);
    const deadline = Date.now() + ttlMs;
    const wait = (): void => {
      // A timer longer than 2^31-1 ms fires at once (Node's TimeoutOverflowWarning): a TTL of
      // 720h expired the moment it was set. Wait in steps up to the deadline instead.
      const timer = setTimeout(() => {
        if (Date.now() < deadline) return wait();
        this.#timers.delete(checkId);
        this.ctx
          .publish([{ type: 'checkStatus', node: this.ctx.node, checkId, status: 'critical', output: ttlExpiredOutput(lastOutput) }])
          .catch((err: unknown) => this.ctx.logger.warn({ err, checkId }, 'could not expire a TTL check'));
      }, Math.min(Math.max(0, deadline - Date.now()), MAX_TIMER_MS));
      timer.unref();
      this.#timers.set(checkId, { timer, lastOutput });
    };
    wait();
  }

  /** Checks just registered (or found registered at start): each TTL check's deadline starts now, as a new `CheckTTL` in Consul; one that is no longer TTL has none. */
  armChecks(checks: readonly CheckInput[]): void {
    for (const c of checks) {
      if (!c.id) continue;
      if (c.type === 'ttl' && c.definition.ttl) this.arm(c.id, parseDuration(c.definition.ttl));
      else this.disarm(c.id);
    }
  }

  disarm(checkId: string): void {
    clearTimeout(this.#timers.get(checkId)?.timer);
    this.#timers.delete(checkId);
  }

  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
  }
}
