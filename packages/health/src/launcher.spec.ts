import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onlineCpus, formatCpus, launchProbeProcess, ownCpus, parseCpuList, sharedCpusWarning, type Launch, type ProbePriority } from './launcher.js';

describe('launchProbeProcess', () => {
  const host = (platform: NodeJS.Platform, ...programs: string[]) => ({ platform, find: (p: string) => (programs.includes(p) ? `/usr/bin/${p}` : undefined) });
  const cmd = ['node', 'probe-process.js', '64'];
  const expectLaunch = (launch: Launch, argv: string[], warning: RegExp | undefined): void => {
    expect(launch.argv).toEqual(argv);
    if (warning) expect(launch.warning).toMatch(warning);
    else expect(launch.warning).toBeUndefined();
  };

  it.each<[string, ProbePriority, ReturnType<typeof host>, string[], RegExp | undefined]>([
    ['idle on Linux: SCHED_IDLE through chrt', 'idle', host('linux', 'chrt', 'nice'), ['/usr/bin/chrt', '--idle', '0', ...cmd], undefined],
    ['idle on Linux without chrt: nice 19, said', 'idle', host('linux', 'nice'), ['/usr/bin/nice', '-n', '19', ...cmd], /chrt \(util-linux\) is not on PATH: the probe process runs at nice 19/],
    ['idle on Linux with neither', 'idle', host('linux'), cmd, /chrt \(util-linux\) is not on PATH: nice is not on PATH/],
    ['idle elsewhere: nice 19, no SCHED_IDLE to miss', 'idle', host('darwin', 'nice'), ['/usr/bin/nice', '-n', '19', ...cmd], undefined],
    ['a niceness', 7, host('linux', 'chrt', 'nice'), ['/usr/bin/nice', '-n', '7', ...cmd], undefined],
    ['niceness 0: the agent’s own', 0, host('linux', 'chrt', 'nice'), cmd, undefined],
    ['a niceness without nice', 5, host('linux', 'chrt'), cmd, /nice is not on PATH: the probe process runs at the agent's priority/],
    ['Windows', 'idle', host('win32', 'nice'), cmd, /nice is not on PATH/],
  ])('%s', (_, priority, h, argv, warning) => {
    expectLaunch(launchProbeProcess(priority, cmd, h), argv, warning);
  });

  it.each<[string, ProbePriority, string, ReturnType<typeof host>, string[], RegExp | undefined]>([
    ['on CPUs, at idle', 'idle', '0', host('linux', 'chrt', 'nice', 'taskset'), ['/usr/bin/chrt', '--idle', '0', '/usr/bin/taskset', '--cpu-list', '0', ...cmd], undefined],
    ['on CPUs, at a niceness', 7, '2-3', host('linux', 'chrt', 'nice', 'taskset'), ['/usr/bin/nice', '-n', '7', '/usr/bin/taskset', '--cpu-list', '2-3', ...cmd], undefined],
    ['on CPUs, at the agent’s priority', 0, '0,2', host('linux', 'taskset'), ['/usr/bin/taskset', '--cpu-list', '0,2', ...cmd], undefined],
    ['on CPUs without taskset: everywhere, said', 'idle', '1', host('linux', 'chrt'), ['/usr/bin/chrt', '--idle', '0', ...cmd], /^taskset \(util-linux\) is not on PATH: the probe process runs on every CPU, not only on 1$/],
    ['on CPUs elsewhere: said, and both warnings', 'idle', '1', host('darwin'), cmd, /^cpus applies on Linux only: the probe process runs on every CPU; nice is not on PATH/],
  ])('%s', (_, priority, cpus, h, argv, warning) => {
    expectLaunch(launchProbeProcess(priority, cmd, h, cpus), argv, warning);
  });
});

describe('CPU lists', () => {
  it.each<[string, number[] | undefined]>([
    ['0', [0]],
    ['2-3', [2, 3]],
    ['0,4-6,2', [0, 2, 4, 5, 6]],
    ['1,1-2', [1, 2]],
    ['', undefined],
    ['3-1', undefined],
    ['0,', undefined],
    ['a', undefined],
    ['-1', undefined],
    ['0 1', undefined],
    ['0-99999', undefined],
  ])('%j → %j', (list, cpus) => {
    expect(parseCpuList(list)).toEqual(cpus);
  });

  it.each<[number[], string]>([
    [[0], '0'],
    [[0, 1, 2, 5], '0-2,5'],
    [[1, 3, 4], '1,3-4'],
  ])('%j is written %j', (cpus, list) => {
    expect(formatCpus(cpus)).toBe(list);
  });

  it('reads the CPUs online from Linux', () => {
    const dir = mkdtempSync(join(tmpdir(), 'signpost-cpus-'));
    try {
      writeFileSync(join(dir, 'online'), '0-1,4\n');
      expect(onlineCpus(join(dir, 'online'))).toEqual([0, 1, 4]);
      writeFileSync(join(dir, 'other'), 'none\n');
      expect(onlineCpus(join(dir, 'other'))).toBeUndefined();
      expect(onlineCpus(join(dir, 'missing'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the CPUs this process may use from Linux', () => {
    const dir = mkdtempSync(join(tmpdir(), 'signpost-cpus-'));
    try {
      writeFileSync(join(dir, 'status'), 'Name:\tnode\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nMems_allowed:\t1\n');
      expect(ownCpus(join(dir, 'status'))).toEqual([1]);
      expect(ownCpus(join(dir, 'missing'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each<[number[] | undefined, number[] | undefined, RegExp | undefined]>([
    // Pinned to one core of two: the probes would share it.
    [[1], [0, 1], /^the agent runs on CPU 1 only \(online: 0-1\) .* set cpus to CPUs the agent does not use, such as "0"$/],
    [[0, 1], [0, 1, 2, 3], /CPU 0-1 only \(online: 0-3\).*such as "2-3"$/],
    // Free on every CPU, or nothing known: nothing to say.
    [[0, 1], [0, 1], undefined],
    [undefined, [0, 1], undefined],
    [[0], undefined, undefined],
  ])('an agent on %j of %j: %s', (own, online, warning) => {
    const said = sharedCpusWarning(own, online);
    if (warning) expect(said).toMatch(warning);
    else expect(said).toBeUndefined();
  });
});
