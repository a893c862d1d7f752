import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { formatChaosReport, runChaos, sentinelRedis, startCluster, type FaultKind } from '@signpost/testing';
import type { ScenarioResult } from '../report.js';

export interface ChaosScenarioOptions {
  /** 1 = 1,500 registrations and nine faults; smaller for a smoke run. */
  readonly scale?: number;
}

/** The built registry app: this package's build depends on it (implicitDependencies). */
const registryMain = fileURLToPath(new URL('../../../../apps/registry/dist/main.js', import.meta.url));

/**
 * Faults against three registry replicas on a Redis primary with two replicas behind
 * three Sentinels (writes wait for one Redis replica): replicas SIGKILLed and
 * restarted, stopped and restarted, and the Redis primary SIGKILLed until the
 * Sentinels promote another, while writers register and deregister. The checker
 * compares every replica's final catalog with what the writers were told.
 */
export async function chaosScenario(options: ChaosScenarioOptions = {}): Promise<ScenarioResult> {
  const scale = options.scale ?? 1;
  const registrations = Math.max(120, Math.round(1500 * scale));
  const faults: FaultKind[] = scale >= 1 ? ['kill', 'failover', 'restart', 'kill', 'failover', 'kill', 'restart', 'failover', 'kill'] : ['kill', 'failover', 'restart'];
  const writers = 12;
  const redis = await sentinelRedis({ replicas: 2, waitReplicas: 1 });
  try {
    const cluster = await startCluster({ main: registryMain, redis, replicas: 3, leaseTtl: '20s', keyPrefix: `chaos-${randomUUID()}:` });
    try {
      const report = await runChaos({
        cluster,
        redis,
        registrations,
        writers,
        removeEvery: 4,
        faults,
        seed: 11,
        onFault: (what) => process.stderr.write(`fault: ${what}\n`),
      });
      process.stdout.write(`${formatChaosReport(report)}\nWrites that were refused or timed out may go either way; the checker allows both.\n\n`);
      const v = report.verdict;
      return {
        scenario: 'chaos',
        parameters: { replicas: 3, redis: 'primary + 2 replicas + 3 sentinels, waitReplicas 1', registrations, writers, faults: report.faults.join(', ') },
        metrics: [
          { name: 'operations', value: v.operations, unit: 'writes' },
          { name: 'acknowledged registrations', value: v.acknowledgedAdds, unit: 'writes' },
          { name: 'acknowledged deregistrations', value: v.acknowledgedRemoves, unit: 'writes' },
          { name: 'refused or timed out (either way)', value: v.indeterminate, unit: 'writes' },
          { name: 'faults injected', value: report.faults.length, unit: 'faults' },
          { name: 'acknowledged writes lost', value: v.lost.length, unit: 'writes', aim: '0' },
          { name: 'acknowledged removals undone', value: v.undone.length, unit: 'writes', aim: '0' },
          { name: 'present though never written', value: v.unexpected.length, unit: 'writes', aim: '0' },
          { name: 'replicas agree at the end', value: report.agreed ? 1 : 0, unit: 'bool', aim: '1' },
          { name: 'time to converge after the last fault', value: report.convergeMs, unit: 'ms' },
          { name: 'reads of up replicas', value: report.reads, unit: 'reads' },
          { name: 'reads of up replicas failed', value: report.failedReads.length, unit: 'reads', aim: '0' },
          { name: 'run', value: report.durationMs / 1000, unit: 's' },
        ],
      };
    } finally {
      await cluster.stop();
    }
  } finally {
    await redis.stop();
  }
}
