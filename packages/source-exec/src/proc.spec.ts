import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { environValue, isDead, parseCmdline, parseStat, readCmdline, readEnvironValue, readStat, type ProcStat } from './proc.js';

// A real line of /proc/<pid>/stat, with the command name in its parentheses replaced per case.
const stat = (comm: string, state = 'S', pgrp = 4242, start = 123456): string =>
  `4242 (${comm}) ${state} 1 ${pgrp} ${pgrp} 0 -1 4194560 1166 0 0 0 2 1 0 0 20 0 1 0 ${start} 2527232 376 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;

describe('/proc parsing', () => {
  it.each<[string, string, Partial<ProcStat> | undefined]>([
    ['a plain line', stat('node'), { pid: 4242, comm: 'node', state: 'S', ppid: 1, pgrp: 4242, startTime: 123456 }],
    ['a command name with spaces', stat('my app'), { comm: 'my app', startTime: 123456 }],
    ['a command name with ") " inside, counted from the last ")"', stat('evil) R 1 2 3 (x'), { comm: 'evil) R 1 2 3 (x', state: 'S', pgrp: 4242, startTime: 123456 }],
    ['a zombie in its own group', stat('cerebro', 'Z', 77, 9), { state: 'Z', pgrp: 77, startTime: 9 }],
    ['an empty command name', stat(''), { comm: '', startTime: 123456 }],
    ['nothing', '', undefined],
    ['no parentheses', '4242 node S 1 4242', undefined],
    ['too few fields', '4242 (node) S 1 4242 4242', undefined],
    ['a pid that is not a number', stat('node').replace('4242', 'x'), undefined],
    ['a start time that is not a number', stat('node', 'S', 4242, 0).replace(' 0 2527232', ' x 2527232'), undefined],
  ])('%s', (_what, text, expected) => {
    const parsed = parseStat(text);
    if (expected === undefined) expect(parsed).toBeUndefined();
    else expect(parsed).toMatchObject(expected);
  });

  it.each([
    ['R', false],
    ['S', false],
    ['D', false],
    ['T', false],
    ['Z', true],
    ['X', true],
  ])('state %s is dead: %s', (state, dead) => {
    expect(isDead(parseStat(stat('x', state))!)).toBe(dead);
  });

  it.each<[string, string[]]>([
    ['', []],
    ['node\0web.mjs\0', ['node', 'web.mjs']],
    ['node\0\0last\0', ['node', '', 'last']],
    ['rewritten title without a NUL', ['rewritten title without a NUL']],
  ])('cmdline %j', (text, argv) => {
    expect(parseCmdline(text)).toEqual(argv);
  });

  it.each<[string, string, string | undefined]>([
    ['PATH=/bin\0NOMAD_ALLOC_ID=abc\0', 'NOMAD_ALLOC_ID', 'abc'],
    ['NOMAD_ALLOC_ID_X=no\0NOMAD_ALLOC_ID=yes', 'NOMAD_ALLOC_ID', 'yes'],
    ['X_NOMAD_ALLOC_ID=no\0', 'NOMAD_ALLOC_ID', undefined],
    ['A=b=c\0', 'A', 'b=c'],
    ['', 'A', undefined],
  ])('environ %j, %s', (text, name, value) => {
    expect(environValue(text, name)).toBe(value);
  });

  it('reads a live process, and nothing of a gone one', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'proc-spec'], { env: { ...process.env, PROC_SPEC: 'here' }, detached: true, stdio: 'ignore' });
    const pid = child.pid!;
    try {
      expect(readStat(pid)).toMatchObject({ pid, pgrp: pid, ppid: process.pid });
      expect(readCmdline(pid)).toEqual([process.execPath, '-e', 'setInterval(() => {}, 1000)', 'proc-spec']);
      expect(readEnvironValue(pid, 'PROC_SPEC')).toBe('here');
      expect(readStat(process.pid)!.startTime).toBeLessThanOrEqual(readStat(pid)!.startTime);
    } finally {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    expect(readStat(pid)).toBeUndefined();
    expect(readCmdline(pid)).toBeUndefined();
  });
});
