import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  formatChaosReport,
  hasProgram,
  runChaos,
  sentinelRedis,
  standaloneRedis,
  startCluster,
  type Cluster,
  type RedisTopology,
} from '@signpost/testing';
import { appMain } from './processes.js';

/*
 * Faults against real registry replicas on a real Redis, with a checker that compares
 * every replica's catalog with what the writers were told (see @signpost/testing's
 * chaos harness; `npm run bench -- chaos` runs a longer one).
 */
const available = hasProgram('redis-server', 'redis-server');

describe.skipIf(!available)('registry replicas under faults', () => {
  let redis: RedisTopology | undefined;
  let cluster: Cluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    await redis?.stop();
    cluster = redis = undefined;
  });

  it('a rolling restart of three replicas loses no acknowledged registration and brings back no removed one', async () => {
    redis = await standaloneRedis();
    cluster = await startCluster({ main: appMain('registry'), redis, replicas: 3, leaseTtl: '20s', keyPrefix: `rolling-${randomUUID()}:` });
    const report = await runChaos({ cluster, redis, registrations: 300, writers: 6, removeEvery: 4, faults: ['restart', 'restart', 'restart'] });
    console.log(`rolling restart:\n${formatChaosReport(report)}`);
    expect(report.faults).toEqual(['restart r1', 'restart r2', 'restart r3']);
    expect(report.verdict.acknowledgedAdds).toBeGreaterThan(200);
    expect(report.verdict.acknowledgedRemoves).toBeGreaterThan(0);
    expect(report.verdict.lost).toEqual([]);
    expect(report.verdict.undone).toEqual([]);
    expect(report.verdict.unexpected).toEqual([]);
    expect(report.agreed).toBe(true);
    expect(report.failedReads).toEqual([]);
  }, 240_000);

  it('crashes of replicas and a failover of the Redis primary lose nothing acknowledged', async () => {
    redis = await sentinelRedis({ replicas: 2, waitReplicas: 1 });
    cluster = await startCluster({ main: appMain('registry'), redis, replicas: 3, leaseTtl: '20s', keyPrefix: `chaos-${randomUUID()}:` });
    const report = await runChaos({ cluster, redis, registrations: 240, writers: 6, removeEvery: 4, faults: ['kill', 'failover', 'kill'], seed: 7 });
    console.log(`chaos (short):\n${formatChaosReport(report)}`);
    expect(report.faults).toEqual([expect.stringMatching(/^kill r1$/), expect.stringMatching(/^failover \d+→\d+$/), expect.stringMatching(/^kill r2$/)]);
    expect(report.verdict.acknowledgedAdds).toBeGreaterThan(100);
    expect(report.verdict.lost).toEqual([]);
    expect(report.verdict.undone).toEqual([]);
    expect(report.verdict.unexpected).toEqual([]);
    expect(report.agreed).toBe(true);
    // Reads come from each replica's own view: a Redis failover does not fail them.
    expect(report.failedReads).toEqual([]);
  }, 300_000);
});
