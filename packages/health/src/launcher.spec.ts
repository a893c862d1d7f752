import { describe, expect, it } from 'vitest';
import { launchProbeProcess, type ProbePriority } from './launcher.js';

describe('launchProbeProcess', () => {
  const host = (platform: NodeJS.Platform, ...programs: string[]) => ({ platform, find: (p: string) => (programs.includes(p) ? `/usr/bin/${p}` : undefined) });
  const cmd = ['node', 'probe-process.js', '64'];

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
    const launch = launchProbeProcess(priority, cmd, h);
    expect(launch.argv).toEqual(argv);
    if (warning) expect(launch.warning).toMatch(warning);
    else expect(launch.warning).toBeUndefined();
  });
});
