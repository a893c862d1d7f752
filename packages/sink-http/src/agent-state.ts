import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CheckInput, InstanceInput } from '@signpost/core';

/** One registration made through the API: the service and its checks, by check ID. */
export interface Registration {
  readonly instance: InstanceInput;
  readonly checks: readonly CheckInput[];
}

/**
 * What clients registered through this API: services on this agent (by service
 * ID, as Consul's agent keys them) and catalog registrations on any node. It is
 * the source of truth this plugin publishes from, and is persisted under the
 * data directory so registrations survive a restart, as Consul's agent does.
 */
export class AgentState {
  readonly #agent = new Map<string, Registration>();
  readonly #catalog = new Map<string, Registration>();

  constructor(private readonly file: string | undefined) {}

  agentService(id: string): Registration | undefined {
    return this.#agent.get(id);
  }

  setAgentService(id: string, r: Registration): void {
    this.#agent.set(id, r);
  }

  deleteAgentService(id: string): boolean {
    return this.#agent.delete(id);
  }

  catalogService(node: string, id: string): Registration | undefined {
    return this.#catalog.get(`${node}\u0000${id}`);
  }

  setCatalogService(node: string, id: string, r: Registration): void {
    this.#catalog.set(`${node}\u0000${id}`, r);
  }

  deleteCatalogService(node: string, id: string): boolean {
    return this.#catalog.delete(`${node}\u0000${id}`);
  }

  catalogServicesOn(node: string): string[] {
    return [...this.#catalog.keys()].filter((k) => k.startsWith(`${node}\u0000`)).map((k) => k.slice(node.length + 1));
  }

  /** The checks of the services registered on this agent (not those registered in the catalog for other nodes). */
  agentChecks(): CheckInput[] {
    return [...this.#agent.values()].flatMap((r) => r.checks);
  }

  /** Every registration as instances, for a `reset`. */
  instances(): InstanceInput[] {
    return [...this.#agent.values(), ...this.#catalog.values()].map(withChecks);
  }

  async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const saved = JSON.parse(text) as { agent?: Array<[string, Registration]>; catalog?: Array<[string, Registration]> };
    for (const [k, v] of saved.agent ?? []) this.#agent.set(k, v);
    for (const [k, v] of saved.catalog ?? []) this.#catalog.set(k, v);
  }

  /** Writes the state atomically (temp file, then rename): a crash never leaves half a file. */
  async save(): Promise<void> {
    if (!this.file) return;
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, JSON.stringify({ agent: [...this.#agent], catalog: [...this.#catalog] }));
    await rename(tmp, this.file);
  }
}

export function withChecks(r: Registration): InstanceInput {
  return r.checks.length ? { ...r.instance, checks: [...r.checks] } : r.instance;
}
