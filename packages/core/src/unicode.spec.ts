import { describe, expect, it } from 'vitest';
import { wellFormed, wellFormedString } from './unicode.js';

describe('wellFormedString', () => {
  it.each([
    ['plain', 'web', 'web'],
    ['a lone high surrogate', '\ud800', '\ufffd'],
    ['a lone low surrogate', 'a\udc00b', 'a\ufffdb'],
    ['a pair is kept', 'x\ud83d\ude00y', 'x\ud83d\ude00y'],
    ['two highs then a low: the first alone', '\ud800\ud83d\ude00', '\ufffd\ud83d\ude00'],
    ['a low before its high', '\ude00\ud83d', '\ufffd\ufffd'],
  ])('%s', (_name, input, expected) => {
    expect(wellFormedString(input)).toBe(expected);
  });
});

describe('wellFormed', () => {
  it('replaces in nested values and keys, and returns the same object when nothing changes', () => {
    const clean = { Name: 'web', Tags: ['a'], Meta: { k: 'v' }, Port: 1 };
    expect(wellFormed(clean)).toBe(clean);
    expect(wellFormed({ Name: '\ud800', Tags: ['a', '\udfff'], Meta: { ['k\ud800']: 'v' }, Port: 1 })).toEqual({
      Name: '\ufffd',
      Tags: ['a', '\ufffd'],
      Meta: { 'k\ufffd': 'v' },
      Port: 1,
    });
    expect(JSON.stringify(wellFormed(JSON.parse('{"Name":"\\ud800"}')))).toBe('{"Name":"\ufffd"}');
  });
});
