/**
 * Blocking queries without polling: a waiter sleeps on one resource key
 * (`service:web`, `services`, `node:n1`…) until that resource's index moves past
 * the index the client already has, or its deadline passes. A commit wakes only
 * the waiters of the resources it touched, so 10,000 watchers of other services
 * cost nothing when `web` changes.
 */
interface Waiter {
  readonly min: number;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

export class Waiters {
  readonly #byKey = new Map<string, Set<Waiter>>();
  readonly #touched = new Set<string>();
  #scheduled = false;
  #count = 0;

  constructor(private readonly indexOf: (key: string) => number) {}

  /** How many requests are blocked right now. */
  get size(): number {
    return this.#count;
  }

  /**
   * Resolves once `indexOf(key) > min`, or after `ms`. `onAbort` lets the caller
   * drop the wait when its client goes away.
   */
  wait(key: string, min: number, ms: number): { done: Promise<void>; cancel: () => void } {
    if (this.indexOf(key) > min) return { done: Promise.resolve(), cancel: () => undefined };
    let set = this.#byKey.get(key);
    if (!set) this.#byKey.set(key, (set = new Set()));
    let waiter!: Waiter;
    const done = new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(waiter.timer);
        if (set.delete(waiter)) this.#count--;
        if (set.size === 0 && this.#byKey.get(key) === set) this.#byKey.delete(key);
        resolve();
      };
      waiter = { min, resolve: finish, timer: setTimeout(finish, ms) };
    });
    set.add(waiter);
    this.#count++;
    return { done, cancel: waiter.resolve };
  }

  /** A commit touched these resources; wakes their waiters once the commit is delivered. */
  touch(key: string): void {
    if (!this.#byKey.has(key)) return;
    this.#touched.add(key);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    for (const key of this.#touched) {
      const set = this.#byKey.get(key);
      if (!set) continue;
      const index = this.indexOf(key);
      for (const w of [...set]) if (index > w.min) w.resolve();
    }
    this.#touched.clear();
  }

  /** Wakes everyone (shutdown). */
  close(): void {
    for (const set of [...this.#byKey.values()]) for (const w of [...set]) w.resolve();
  }
}
