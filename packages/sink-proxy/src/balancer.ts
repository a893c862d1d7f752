import type { Backend } from './routes.js';

/** Live state of backends shared by every router that uses them (by instance key). */
export class BackendHealth {
  readonly #ejectedUntil = new Map<string, number>();
  readonly #active = new Map<string, number>();

  constructor(private readonly cooldownMs: number) {}

  /** Passive health: a backend that refused, reset or timed out gets no traffic for the cool-down. */
  eject(key: string, now = Date.now()): void {
    this.#ejectedUntil.set(key, now + this.cooldownMs);
  }

  alive(key: string, now = Date.now()): boolean {
    const until = this.#ejectedUntil.get(key);
    if (until === undefined) return true;
    if (until > now) return false;
    this.#ejectedUntil.delete(key);
    return true;
  }

  ejectedUntil(key: string): number | undefined {
    return this.#ejectedUntil.get(key);
  }

  begin(key: string): void {
    this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
  }

  end(key: string): void {
    const n = (this.#active.get(key) ?? 1) - 1;
    if (n <= 0) this.#active.delete(key);
    else this.#active.set(key, n);
  }

  active(key: string): number {
    return this.#active.get(key) ?? 0;
  }
}

/**
 * Picks a backend per request. Weighted round robin is nginx's smooth variant:
 * weights 5,1,1 give a a b a c a a rather than five a's in a row. Least-connections
 * picks the live backend with the fewest requests in flight (ties by weight).
 */
export class Balancer {
  readonly #current = new Map<string, number>();

  constructor(
    readonly backends: readonly Backend[],
    private readonly method: 'wrr' | 'leastconn',
    private readonly health: BackendHealth,
  ) {}

  pick(exclude?: ReadonlySet<string>): Backend | undefined {
    const live = this.backends.filter((b) => this.health.alive(b.key) && !exclude?.has(b.key));
    if (live.length === 0) return undefined;
    if (this.method === 'leastconn') {
      return live.reduce((best, b) => {
        const d = this.health.active(b.key) - this.health.active(best.key);
        return d < 0 || (d === 0 && b.weight > best.weight) ? b : best;
      });
    }
    let total = 0;
    let best: Backend | undefined;
    let bestScore = -Infinity;
    for (const b of live) {
      const score = (this.#current.get(b.key) ?? 0) + b.weight;
      this.#current.set(b.key, score);
      total += b.weight;
      if (score > bestScore) {
        bestScore = score;
        best = b;
      }
    }
    this.#current.set(best!.key, bestScore - total);
    return best;
  }

  byKey(key: string): Backend | undefined {
    const b = this.backends.find((x) => x.key === key);
    return b && this.health.alive(b.key) ? b : undefined;
  }
}
