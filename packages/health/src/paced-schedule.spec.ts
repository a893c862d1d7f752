import { describe, expect, it } from 'vitest';
import { seededRandom } from '@signpost/testing';
import { PacedSchedule } from './paced-schedule.js';

describe('PacedSchedule', () => {
  it.each([
    // capacity, due times → slot starts each lands in (slots of 0.5 ms)
    [1, [0, 0, 0], [0, 0.5, 1]],
    [2, [0, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 1]],
    [1, [0.2, 0.7, 0.4], [0, 0.5, 1]],
    [1, [3, 1, 1, 2], [3, 1, 1.5, 2]],
    [1, [1, 1.5, 1, 1], [1, 1.5, 2, 2.5]],
    [3, [10.9, 10.6, 10.5, 10.5], [10.5, 10.5, 10.5, 11]],
  ])('capacity %i: due %j → slots %j', (capacity, due, slots) => {
    const s = new PacedSchedule<number>(0.5, () => capacity);
    expect(due.map((d, n) => s.place(n, d))).toEqual(slots);
  });

  it('hands entries out in slot order, only once their slot has started', () => {
    const s = new PacedSchedule<string>(1, () => 1);
    s.place('c', 30);
    s.place('a', 10);
    s.place('b', 20);
    s.place('a2', 10);
    expect(s.nextDue()).toBe(10);
    expect(s.takeDue(9.99)).toEqual([]);
    expect(s.takeDue(11.5)).toEqual(['a', 'a2']);
    expect(s.nextDue()).toBe(20);
    expect(s.takeDue(100)).toEqual(['b', 'c']);
    expect(s.nextDue()).toBeUndefined();
    expect(s.pending).toBe(0);
  });

  it('frees a slot once taken, and reads the capacity on every placement', () => {
    let capacity = 1;
    const s = new PacedSchedule<string>(1, () => capacity);
    s.place('a', 5);
    expect(s.place('b', 5)).toBe(6);
    expect(s.takeDue(5)).toEqual(['a']);
    expect(s.place('c', 5)).toBe(5);
    capacity = 2;
    expect(s.place('d', 6)).toBe(6);
    expect(s.takeDue(6)).toEqual(['c', 'b', 'd']);
  });

  it('takes at most `max` entries, leaving the rest of a slot first in line', () => {
    const s = new PacedSchedule<string>(1, () => 3);
    for (const item of ['a', 'b', 'c']) s.place(item, 1);
    for (const item of ['d', 'e']) s.place(item, 2);
    s.place('f', 9);
    expect(s.takeDue(5, 2)).toEqual(['a', 'b']);
    expect(s.nextDue()).toBe(1);
    expect(s.takeDue(5, 2)).toEqual(['c', 'd']);
    expect(s.takeDue(5, 2)).toEqual(['e']);
    expect(s.takeDue(5, 2)).toEqual([]);
    expect(s.nextDue()).toBe(9);
  });

  it('treats a capacity below one as one', () => {
    const s = new PacedSchedule<number>(1, () => 0);
    expect([s.place(1, 0), s.place(2, 0)]).toEqual([0, 1]);
  });

  it('keeps slot order through many placements and takes (heap against a sort)', () => {
    const s = new PacedSchedule<number>(1, () => 3);
    const rand = seededRandom(7);
    const slotOf = new Map<number, number>();
    let id = 0;
    for (let round = 0; round < 50; round++) {
      for (let n = 0; n < 40; n++, id++) slotOf.set(id, s.place(id, Math.floor(rand() * 5_000) + round * 100));
      const now = round * 100 + 50;
      const expected = [...slotOf].filter(([, slot]) => slot <= now).map(([i]) => i);
      const got = s.takeDue(now);
      expect([...got].sort((x, y) => x - y)).toEqual(expected.sort((x, y) => x - y));
      const slots = got.map((i) => slotOf.get(i)!);
      expect(slots).toEqual([...slots].sort((x, y) => x - y));
      for (const i of got) slotOf.delete(i);
    }
    expect(s.pending).toBe(slotOf.size);
    const counts = new Map<number, number>();
    for (const slot of slotOf.values()) counts.set(slot, (counts.get(slot) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(3);
    s.clear();
    expect(s.pending).toBe(0);
    expect(s.nextDue()).toBeUndefined();
  });
});
