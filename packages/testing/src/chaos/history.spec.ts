import { describe, expect, it } from 'vitest';
import { checkSet, type Operation, type Outcome } from './history.js';

const add = (key: string, outcome: Outcome = 'ok'): Operation => ({ kind: 'add', key, outcome });
const remove = (key: string, outcome: Outcome = 'ok'): Operation => ({ kind: 'remove', key, outcome });

describe('checkSet', () => {
  it.each<[string, Operation[], string[], Partial<Record<'lost' | 'undone' | 'unexpected', string[]>> & { eitherWay?: number }]>([
    ['an acknowledged add present', [add('a')], ['a'], {}],
    ['an acknowledged add missing is lost', [add('a')], [], { lost: ['a'] }],
    ['an acknowledged removal absent', [add('a'), remove('a')], [], {}],
    ['an acknowledged removal present again is undone', [add('a'), remove('a')], ['a'], { undone: ['a'] }],
    ['a timed-out removal after an add: either way', [add('a'), remove('a', 'unknown')], ['a'], {}],
    ['a timed-out removal after an add: either way (gone)', [add('a'), remove('a', 'unknown')], [], { eitherWay: 1 }],
    ['a refused add: either way', [add('a', 'failed')], ['a'], { eitherWay: 1 }],
    ['a refused add: either way (absent)', [add('a', 'failed')], [], {}],
    ['a refused add before an acknowledged removal does not excuse it', [add('a'), add('a', 'failed'), remove('a')], ['a'], { undone: ['a'] }],
    ['an indeterminate add after a removal excuses presence', [add('a'), remove('a'), add('a', 'unknown')], ['a'], { eitherWay: 1 }],
    ['an indeterminate add does not excuse a lost acknowledged add', [add('a', 'unknown'), add('a')], [], { lost: ['a'] }],
    ['present though never added', [add('a')], ['a', 'z'], { unexpected: ['z'] }],
    ['present after only a removal', [remove('a')], ['a'], { unexpected: ['a'] }],
  ])('%s', (_name, history, final, expected) => {
    const verdict = checkSet(history, new Set(final));
    expect({ lost: verdict.lost, undone: verdict.undone, unexpected: verdict.unexpected, eitherWay: verdict.eitherWay }).toEqual({
      lost: expected.lost ?? [],
      undone: expected.undone ?? [],
      unexpected: expected.unexpected ?? [],
      eitherWay: expected.eitherWay ?? 0,
    });
  });

  it('counts what was acknowledged and what may go either way', () => {
    const verdict = checkSet([add('a'), add('b', 'failed'), remove('a'), remove('c', 'unknown')], new Set());
    expect(verdict).toMatchObject({ operations: 4, acknowledgedAdds: 1, acknowledgedRemoves: 1, indeterminate: 2 });
  });
});
