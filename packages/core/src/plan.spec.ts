import { describe, expect, it } from 'vitest';
import type { StoreEntry } from './events.js';
import { normalizeInstance } from './normalize.js';
import { planBatch } from './plan.js';
import { CatalogView } from './view.js';
import type { InstanceInput, InstanceSpec } from './model.js';

const D = { node: 'n', nodeAddress: '10.0.0.1', datacenter: 'dc1' };
const s = (source: string, service: string, extra: Partial<InstanceInput> = {}): InstanceSpec => normalizeInstance({ service, ...extra }, source, D);
const up = (i: InstanceSpec): StoreEntry => ({ source: i.source, event: { type: 'upsert', instance: i } });
const rm = (source: string, id: string): StoreEntry => ({ source, event: { type: 'remove', ref: { node: 'n', id } } });
const reset = (source: string, ...instances: InstanceSpec[]): StoreEntry => ({ source, event: { type: 'reset', instances } });
const status = (checkId: string, st: 'passing' | 'critical', output = ''): StoreEntry => ({
  source: 'health',
  event: { type: 'checkStatus', node: 'n', checkId, status: st, output },
});
const ttl = { checks: [{ type: 'ttl' as const, definition: { ttl: '30s' } }] };

/** A view holding `initial`, committed at index 2. */
function viewWith(...initial: InstanceSpec[]): CatalogView {
  const view = new CatalogView();
  const plan = planBatch(view, initial.map(up), 2);
  if (plan.changes.length) view.commit(2, plan.changes);
  return view;
}

/** `+id` created, `~id` changed, `-id` removed. */
function summary(view: CatalogView, entries: StoreEntry[]): { changes: string[]; rejected: string[] } {
  const plan = planBatch(view, entries, view.index + 1);
  return {
    changes: plan.changes.map((c) => `${c.after ? (c.before ? '~' : '+') : '-'}${(c.after ?? c.before)!.id}`),
    rejected: plan.rejected.map((r) => `${r.entry}:${r.reason}`),
  };
}

describe('planBatch', () => {
  it.each<[string, InstanceSpec[], StoreEntry[], string[], string[]]>([
    ['creates', [], [up(s('a', 'web'))], ['+web'], []],
    ['ignores an identical upsert', [s('a', 'web')], [up(s('a', 'web'))], [], []],
    ['changes on a new port', [s('a', 'web')], [up(s('a', 'web', { port: 1 }))], ['~web'], []],
    ['create then remove in one batch is nothing', [], [up(s('a', 'web')), rm('a', 'web')], [], []],
    ['remove then re-create is a change', [s('a', 'web')], [rm('a', 'web'), up(s('a', 'web', { port: 2 }))], ['~web'], []],
    ['reset removes what it no longer lists', [s('a', 'x'), s('a', 'y')], [reset('a', s('a', 'y'), s('a', 'z'))], ['-x', '+z'], []],
    ['reset leaves other sources alone', [s('a', 'x'), s('b', 'y')], [reset('a')], ['-x'], []],
    ['reset counts what the batch already added', [], [up(s('a', 'x')), reset('a', s('a', 'y'))], ['+y'], []],
    ["refuses another source's upsert", [s('b', 'web')], [up(s('a', 'web'))], [], ['0:instance n/web is owned by source "b"']],
    ["refuses another source's remove", [s('b', 'web')], [rm('a', 'web')], [], ['0:instance n/web is owned by source "b"']],
    ["a reset does not take another source's instance", [s('b', 'web')], [reset('a', s('a', 'web'))], [], ['0:instance n/web is owned by source "b"']],
    ['a reset by one replica leaves another replica\'s', [s('http@r1', 'x'), s('http@r2', 'y')], [reset('http@r1')], ['-x'], []],
    ["refuses another replica's upsert", [s('http@r2', 'web')], [up(s('http@r1', 'web'))], [], ['0:instance n/web is owned by source "http@r2"']],
    ["refuses another replica's remove", [s('http@r2', 'web')], [rm('http@r1', 'web')], [], ['0:instance n/web is owned by source "http@r2"']],
    ['a replica takes over what its plugin owned before owners named replicas', [s('http', 'web')], [up(s('http@r1', 'web', { port: 1 }))], ['~web'], []],
    ['a replica may remove what its plugin owned before owners named replicas', [s('http', 'web')], [rm('http@r1', 'web')], ['-web'], []],
    ['a replica-scoped reset leaves the bare owner\'s instances it does not list', [s('http', 'x')], [reset('http@r1')], [], []],
    ['the bare owner may not take over a replica\'s', [s('http@r1', 'web')], [up(s('http', 'web', { port: 1 }))], [], ['0:instance n/web is owned by source "http@r1"']],
    ["another plugin's replica may not take over", [s('static', 'web')], [up(s('http@r1', 'web', { port: 1 }))], [], ['0:instance n/web is owned by source "static"']],
    ['records a check result', [s('a', 'web', ttl)], [status('service:web', 'passing')], ['~web'], []],
    ['ignores a repeated check result', [s('a', 'web', ttl)], [status('service:web', 'critical')], [], []],
    ['finds a check added earlier in the batch', [], [up(s('a', 'web', ttl)), status('service:web', 'passing')], ['+web'], []],
    ['refuses a result for a removed check', [s('a', 'web', ttl)], [rm('a', 'web'), status('service:web', 'passing')], ['-web'], ['1:no check "service:web" on node "n"']],
  ])('%s', (_name, initial, entries, changes, rejected) => {
    expect(summary(viewWith(...initial), entries)).toEqual({ changes, rejected });
  });

  it('keeps a passing status when the definition is unchanged, and resets it when it changes', () => {
    const view = viewWith(s('a', 'web', ttl));
    const p1 = planBatch(view, [status('service:web', 'passing', 'ok')], 3);
    view.commit(3, p1.changes);
    const same = planBatch(view, [up(s('a', 'web', { ...ttl, port: 5 }))], 4);
    expect(same.changes[0]!.after!.checks[0]).toMatchObject({ status: 'passing', output: 'ok' });
    const changed = planBatch(view, [up(s('a', 'web', { checks: [{ type: 'ttl', definition: { ttl: '60s' } }] }))], 4);
    expect(changed.changes[0]!.after!.checks[0]).toMatchObject({ status: 'critical', output: '' });
  });

  it('stamps createIndex once and modifyIndex on every change', () => {
    const view = viewWith(s('a', 'web'));
    const plan = planBatch(view, [up(s('a', 'web', { port: 9 }))], 3);
    expect(plan.changes[0]!.after).toMatchObject({ createIndex: 2, modifyIndex: 3 });
  });
});
