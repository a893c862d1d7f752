import type { Logger } from '@signpost/core';
import { stopAllocation, type StopOutcome, type Wanted } from './orphans.js';
import type { RecordDir } from './records.js';

/** Bounds of a recovery at start-up. */
export interface RecoveryTimes {
  /** Cap on the SIGTERM → SIGKILL grace a record asks for (its job's killTimeout). */
  readonly maxGraceMs: number;
  /** Grace for an allocation known only from a damaged record. */
  readonly defaultGraceMs: number;
  readonly killWaitMs: number;
  readonly pollMs: number;
}

export const recoveryTimes: RecoveryTimes = { maxGraceMs: 30_000, defaultGraceMs: 5_000, killWaitMs: 2_000, pollMs: 25 };

export interface RecoveryReport {
  /** Records read whole. */
  readonly records: number;
  /** Record files that could not be read whole (reported, set aside as `<file>.damaged`). */
  readonly damaged: number;
  /** Allocations of a previous life found running and stopped. */
  readonly stopped: number;
  /** Allocations whose processes were still there after SIGKILL (their records are kept). */
  readonly survived: number;
  /** Processes a record named by pid that were not its (pid reused): never signalled. */
  readonly refused: number;
}

/**
 * At start, before anything is started: stops every process a previous life of
 * this source left running (a kill -9 of the agent leaves them in their own process
 * groups), so that no allocation ever runs twice. Records of allocations that are
 * gone are removed; a damaged record is reported with its path and what was
 * recovered from it, and start-up goes on. Bounded: each allocation gets at most
 * its grace, then SIGKILL and `killWaitMs`; they are stopped side by side.
 */
export async function recoverOrphans(dir: RecordDir, boot: string | undefined, logger: Logger, times: RecoveryTimes = recoveryTimes): Promise<RecoveryReport> {
  const { records, damaged } = dir.load();
  const wanted: Wanted[] = records.map((record) => ({ allocId: record.allocId, record }));
  for (const d of damaged) {
    const recovered = d.allocId
      ? `allocation ${d.allocId} (from the file name): its processes are looked for by their environment (NOMAD_ALLOC_ID) and stopped`
      : 'nothing: its processes, if any, cannot be found';
    logger.error({ path: d.path, error: d.error, recovered }, 'damaged exec record; start-up goes on');
    if (d.allocId && !wanted.some((w) => w.allocId === d.allocId)) wanted.push({ allocId: d.allocId });
  }
  const outcomes = await Promise.all(
    wanted.map(async (w): Promise<[Wanted, StopOutcome]> => {
      const graceMs = Math.min(w.record?.killTimeoutMs ?? times.defaultGraceMs, times.maxGraceMs);
      return [w, await stopAllocation(w, boot, { graceMs, killWaitMs: times.killWaitMs, pollMs: times.pollMs })];
    }),
  );
  let stopped = 0;
  let survived = 0;
  let refused = 0;
  const kept = new Set<string>();
  for (const [w, out] of outcomes) {
    const what = { alloc: w.allocId, ...(w.record ? { job: w.record.job, index: w.record.index } : {}) };
    for (const r of out.refused) {
      refused++;
      logger.warn({ ...what, pid: r.pid, why: r.why }, 'a recorded pid is not the allocation any more; not signalled');
    }
    if (out.outcome === 'survived') {
      survived++;
      kept.add(w.allocId);
      logger.error({ ...what, pids: out.pids }, 'a process left by a previous run survived SIGKILL; its record is kept for the next start');
      continue;
    }
    if (out.outcome !== 'none') {
      stopped++;
      logger.warn({ ...what, pids: out.pids, by: out.outcome === 'stopped' ? 'SIGTERM' : 'SIGKILL' }, 'stopped a process left running by a previous run of the agent');
    }
    if (w.record) forget(dir, w.allocId, logger);
  }
  for (const d of damaged) if (d.path !== dir.dir && !(d.allocId && kept.has(d.allocId))) dir.setAside(d.path);
  const report: RecoveryReport = { records: records.length, damaged: damaged.length, stopped, survived, refused };
  if (records.length || damaged.length) logger.info({ dir: dir.dir, ...report }, 'records of a previous run dealt with');
  return report;
}

function forget(dir: RecordDir, allocId: string, logger: Logger): void {
  try {
    dir.remove(allocId);
  } catch (err) {
    logger.error({ path: dir.path(allocId), err: (err as Error).message }, 'cannot remove the record of an allocation that is gone; the next start finds it gone again');
  }
}
