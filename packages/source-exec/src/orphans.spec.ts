import { describe, expect, it } from 'vitest';
import { judge, targets, type ProcessFacts, type Verdict, type Wanted } from './orphans.js';
import type { AllocRecord } from './records.js';

const A = '1ea419e8-3027-4d57-8e82-d1bbb66adfbc';
const B = 'c0ffee00-3027-4d57-8e82-d1bbb66adfbc';
const BOOT = 'boot-1';
const record: AllocRecord = {
  version: 1,
  allocId: A,
  job: 'web',
  index: 0,
  bootId: BOOT,
  killTimeoutMs: 1000,
  process: { pid: 100, pgid: 100, startTime: 5000, cmdline: ['node', 'web.mjs'] },
};
const { process: _p, ...intentRecord } = record;
const whole: Wanted = { allocId: A, record };
const intent: Wanted = { allocId: A, record: intentRecord };
const damaged: Wanted = { allocId: A };

/** A process as /proc shows it: pid, state, group, start time, command line, NOMAD_ALLOC_ID. */
const p = (pid: number, o: { state?: string; pgrp?: number; start?: number; cmdline?: string[]; alloc?: string } = {}): ProcessFacts => ({
  stat: { pid, comm: 'node', state: o.state ?? 'S', ppid: 1, pgrp: o.pgrp ?? pid, startTime: o.start ?? 5000 },
  ...(o.cmdline ? { cmdline: o.cmdline } : {}),
  ...(o.alloc ? { allocId: o.alloc } : {}),
});
const cmd = ['node', 'web.mjs'];

describe('is this process the allocation\'s?', () => {
  it.each<[string, Wanted, ProcessFacts, string | undefined, Verdict | RegExp]>([
    ['its leader: pid, boot, start time and command line as recorded', whole, p(100, { cmdline: cmd }), BOOT, { ours: 'leader' }],
    ['its leader under a new title (process.title), known by its environment', whole, p(100, { cmdline: ['cerebro: worker'], alloc: A }), BOOT, { ours: 'leader' }],
    ['pid reused by an unrelated process with the same command line', whole, p(100, { cmdline: cmd, start: 7000 }), BOOT, /pid was reused: it started at tick 7000, the record's process at 5000/],
    ['pid reused, started earlier (after a wrap-around)', whole, p(100, { cmdline: cmd, start: 10 }), BOOT, /pid was reused/],
    ['same pid and start time, another command line, not its environment', whole, p(100, { cmdline: ['sshd'] }), BOOT, /neither the recorded command line nor/],
    ['same pid and start time, command line unreadable', whole, p(100), BOOT, /neither the recorded command line nor/],
    ['a record from another boot (start times do not compare)', whole, p(100, { cmdline: cmd }), 'boot-2', /another boot/],
    ['this boot unknown', whole, p(100, { cmdline: cmd }), undefined, /another boot/],
    ['its leader, exited and not yet reaped', whole, p(100, { cmdline: cmd, state: 'Z' }), BOOT, /exited/],
    ['a child of its leader, in its group', whole, p(101, { pgrp: 100, start: 5001, alloc: A }), BOOT, { ours: 'member' }],
    ['a descendant that left the group (setsid)', whole, p(300, { start: 6000, alloc: A }), BOOT, { ours: 'member' }],
    ['a member that exited', whole, p(101, { pgrp: 100, start: 5001, alloc: A, state: 'Z' }), BOOT, /exited/],
    ['its environment, but started before the allocation', whole, p(101, { start: 4000, alloc: A }), BOOT, /started before the allocation/],
    ['in its group without its environment', whole, p(101, { pgrp: 100, start: 5001 }), BOOT, /not one of the allocation's processes/],
    ["another allocation's process", whole, p(101, { pgrp: 101, start: 5001, alloc: B }), BOOT, /not one of the allocation's processes/],
    ["the recorded pid reused by another allocation's process", whole, p(100, { cmdline: cmd, start: 7000, alloc: B }), BOOT, /pid was reused/],
    ['recorded before the spawn: found by its environment', intent, p(555, { alloc: A }), BOOT, { ours: 'member' }],
    ['recorded before the spawn: any other process', intent, p(555, { cmdline: cmd }), BOOT, /not one of the allocation's processes/],
    ['a damaged record: found by its environment', damaged, p(555, { alloc: A }), undefined, { ours: 'member' }],
    ['a damaged record: any other process', damaged, p(100, { cmdline: cmd }), BOOT, /not one of the allocation's processes/],
  ])('%s', (_what, wanted, facts, boot, expected) => {
    const verdict = judge(wanted, facts, boot);
    if (expected instanceof RegExp) {
      expect(verdict.ours).toBe(false);
      expect(verdict.ours === false ? verdict.why : '').toMatch(expected);
    } else {
      expect(verdict).toEqual(expected);
    }
  });
});

describe('what to signal', () => {
  it.each<[string, Wanted, ProcessFacts[], number[]]>([
    ['nothing of it runs', whole, [], []],
    ['the leader leads its group: the group', whole, [p(100), p(101, { pgrp: 100 })], [-100]],
    ['the group, and a descendant that left it by its pid', whole, [p(100), p(300)], [-100, 300]],
    ['the leader gone, a member still in its group: the group (its id cannot be reused meanwhile)', whole, [p(101, { pgrp: 100 })], [-100]],
    ['the leader moved itself to a group of its own: each by pid', whole, [p(100, { pgrp: 200 }), p(201, { pgrp: 200 })], [100, 201]],
    ['recorded before the spawn: each by pid', intent, [p(555), p(556, { pgrp: 555 })], [555, 556]],
    ['a damaged record: each by pid', damaged, [p(555)], [555]],
  ])('%s', (_what, wanted, ours, expected) => {
    expect(targets(wanted, ours)).toEqual(expected);
  });
});
