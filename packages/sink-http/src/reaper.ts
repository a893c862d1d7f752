import { parseDuration, type CatalogEvent, type ServiceInstance } from '@signpost/core';

/**
 * `DeregisterCriticalServiceAfter`: a service this API registered whose check stays
 * critical that long is deregistered, as Consul's agent reaps its services. Only
 * the owner may remove an instance, so services from other sources are left as
 * their source says.
 */
export class Reaper {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  constructor(
    private readonly owner: string,
    private readonly deregister: (i: ServiceInstance) => Promise<void>,
  ) {}

  onEvent(event: CatalogEvent): void {
    if (event.type === 'snapshot') {
      this.close();
      for (const i of event.instances) this.#consider(i);
    } else if (event.type === 'remove') this.#clear(instanceKeyOf(event.instance));
    else this.#consider(event.instance);
  }

  #consider(i: ServiceInstance): void {
    const key = instanceKeyOf(i);
    if (i.source !== this.owner) return;
    const after = i.checks
      .filter((c) => c.status === 'critical' && c.definition.deregisterCriticalServiceAfter)
      .map((c) => parseDuration(c.definition.deregisterCriticalServiceAfter!))
      .filter((ms) => ms > 0);
    if (after.length === 0) return this.#clear(key);
    if (this.#timers.has(key)) return; // already critical: the clock runs from when it turned critical
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      void this.deregister(i).catch(() => undefined);
    }, Math.min(...after));
    timer.unref();
    this.#timers.set(key, timer);
  }

  #clear(key: string): void {
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
  }

  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}

const instanceKeyOf = (i: ServiceInstance): string => `${i.node}\u0000${i.id}`;
