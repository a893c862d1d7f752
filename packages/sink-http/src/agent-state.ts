import type { CheckInput, InstanceInput } from '@signpost/core';
import { applyRecord, catalogKey, emptyTables, type LogRecord, type Registration, type Tables } from './log-record.js';
import { RegistrationLog, type LogStats, type RegistrationLogOptions } from './registration-log.js';

export type { Registration } from './log-record.js';

/**
 * What clients registered through this API: services on this agent (by service
 * ID, as Consul's agent keys them) and catalog registrations on any node. It is
 * the source of truth this plugin publishes from. With a data directory, every
 * change is appended to the registrations log (registration-log.ts), so that
 * registrations survive a restart, as Consul's agent's do; `sync()` tells when
 * the changes made so far are on disk.
 */
export class AgentState {
  #tables: Tables = emptyTables();
  #log: RegistrationLog | undefined;

  /** `log`: where and how to persist; none keeps registrations in memory only. */
  constructor(private readonly log: RegistrationLogOptions | undefined) {}

  agentService(id: string): Registration | undefined {
    return this.#tables.agent.get(id);
  }

  setAgentService(id: string, reg: Registration): void {
    this.#write({ op: 'set', kind: 'agent', id, reg });
  }

  deleteAgentService(id: string): boolean {
    if (!this.#tables.agent.has(id)) return false;
    this.#write({ op: 'del', kind: 'agent', id });
    return true;
  }

  catalogService(node: string, id: string): Registration | undefined {
    return this.#tables.catalog.get(catalogKey(node, id));
  }

  setCatalogService(node: string, id: string, reg: Registration): void {
    this.#write({ op: 'set', kind: 'catalog', node, id, reg });
  }

  deleteCatalogService(node: string, id: string): boolean {
    if (!this.#tables.catalog.has(catalogKey(node, id))) return false;
    this.#write({ op: 'del', kind: 'catalog', node, id });
    return true;
  }

  catalogServicesOn(node: string): string[] {
    return [...this.#tables.catalog.keys()].filter((k) => k.startsWith(`${node}\u0000`)).map((k) => k.slice(node.length + 1));
  }

  /** The checks of the services registered on this agent (not those registered in the catalog for other nodes). */
  agentChecks(): CheckInput[] {
    return [...this.#tables.agent.values()].flatMap((r) => r.checks);
  }

  /** Every registration as instances, for a `reset`. */
  instances(): InstanceInput[] {
    return [...this.#tables.agent.values(), ...this.#tables.catalog.values()].map(withChecks);
  }

  /** Loads the registrations the data directory holds (reporting damage), and opens the log for the changes. */
  async load(): Promise<void> {
    if (!this.log) return;
    this.#log = await RegistrationLog.open(this.log);
    this.#tables = this.#log.tables;
  }

  /** Settles once every change made so far is on disk (at once without a data directory); rejects if appending it failed. */
  sync(): Promise<void> {
    return this.#log?.sync() ?? Promise.resolve();
  }

  /** The log's counters (records, appends, fsyncs, compactions, sizes); none without a data directory. */
  stats(): LogStats | undefined {
    return this.#log?.stats();
  }

  async close(): Promise<void> {
    await this.#log?.close();
  }

  #write(record: LogRecord): void {
    if (this.#log) void this.#log.write(record);
    else applyRecord(this.#tables, record);
  }
}

export function withChecks(r: Registration): InstanceInput {
  return r.checks.length ? { ...r.instance, checks: [...r.checks] } : r.instance;
}
