/**
 * When each check runs next, in slots of `slotMs`, with at most `capacity()` checks
 * in one slot: a check whose slot is full moves to the next free one. With the
 * capacity set to the fleet's rate per slot, starts are spread evenly however the
 * due times happened to fall (random first runs fall in clumps: 10,000 of them over
 * 10 s put 3 or more in the same millisecond about 2,000 times a pass).
 *
 * Pure bookkeeping: the engine owns the clock and the timer.
 */
export class PacedSchedule<T> {
  readonly #slots = new Map<number, T[]>();
  /** Slot numbers with entries, as a binary min-heap. */
  readonly #heap: number[] = [];

  constructor(
    private readonly slotMs: number,
    private readonly capacity: () => number,
  ) {}

  get pending(): number {
    let n = 0;
    for (const items of this.#slots.values()) n += items.length;
    return n;
  }

  /** Puts `item` in the first slot at or after `dueMs` with room; returns that slot's start. */
  place(item: T, dueMs: number): number {
    const cap = Math.max(1, this.capacity());
    let slot = Math.floor(dueMs / this.slotMs);
    let items = this.#slots.get(slot);
    while (items && items.length >= cap) items = this.#slots.get(++slot);
    if (items) items.push(item);
    else {
      this.#slots.set(slot, [item]);
      this.#push(slot);
    }
    return slot * this.slotMs;
  }

  /** When the earliest slot with entries starts, if any. */
  nextDue(): number | undefined {
    const top = this.#heap[0];
    return top === undefined ? undefined : top * this.slotMs;
  }

  /**
   * Removes and returns, earliest first, the entries whose slot has started by
   * `nowMs`, at most `max` of them: the rest stay where they are, first in line.
   */
  takeDue(nowMs: number, max = Infinity): T[] {
    const now = Math.floor(nowMs / this.slotMs);
    const out: T[] = [];
    while (out.length < max && this.#heap.length > 0 && (this.#heap[0] as number) <= now) {
      const slot = this.#heap[0] as number;
      const items = this.#slots.get(slot) ?? [];
      const room = max - out.length;
      if (items.length > room) {
        out.push(...items.splice(0, room));
        break;
      }
      this.#pop();
      this.#slots.delete(slot);
      out.push(...items);
    }
    return out;
  }

  clear(): void {
    this.#slots.clear();
    this.#heap.length = 0;
  }

  #push(slot: number): void {
    const h = this.#heap;
    let i = h.push(slot) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as number) <= slot) break;
      h[i] = h[parent] as number;
      i = parent;
    }
    h[i] = slot;
  }

  #pop(): number {
    const h = this.#heap;
    const top = h[0] as number;
    const last = h.pop() as number;
    if (h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && (h[r] as number) < (h[l] as number) ? r : l;
      if ((h[c] as number) >= last) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = last;
    return top;
  }
}
