import { createServer } from 'node:net';

/** `"20000-32000"` → [20000, 32000]; throws naming what is wrong. */
export function parsePortRange(text: string): readonly [number, number] {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  const low = Number(m?.[1]);
  const high = Number(m?.[2]);
  if (!m || low < 1 || high > 65535 || low > high) throw new Error(`portRange: "${text}" is not a range such as 20000-32000 (1-65535, low-high)`);
  return [low, high];
}

/**
 * Dynamic ports, as Nomad hands them out: a random free port of the range for each
 * label of each start, never one this allocator already gave out. "Free" means a
 * listener could bind it just now on every interface.
 */
export class PortAllocator {
  readonly #taken = new Set<number>();
  constructor(
    private readonly low: number,
    private readonly high: number,
    private readonly random: () => number = Math.random,
    private readonly probe: (port: number) => Promise<boolean> = bindable,
  ) {}

  async allocate(): Promise<number> {
    const size = this.high - this.low + 1;
    const start = Math.floor(this.random() * size);
    for (let n = 0; n < size; n++) {
      const port = this.low + ((start + n) % size);
      if (this.#taken.has(port)) continue;
      this.#taken.add(port);
      if (await this.probe(port)) return port;
      this.#taken.delete(port);
    }
    throw new Error(`no free port left in ${this.low}-${this.high}`);
  }

  release(port: number): void {
    this.#taken.delete(port);
  }

  get inUse(): number {
    return this.#taken.size;
  }
}

/** True when a listener can bind `port` on every interface right now. */
export function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}
