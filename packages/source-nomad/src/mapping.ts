import type { InstanceInput, SourceEvent } from '@signpost/core';

/** Nomad's `ServiceRegistration` (nomad/structs/service_registration.go), the fields we read. */
export interface NomadService {
  readonly ID: string;
  readonly ServiceName: string;
  readonly Namespace: string;
  readonly NodeID: string;
  readonly Datacenter: string;
  readonly JobID: string;
  readonly AllocID: string;
  readonly Tags: readonly string[] | null;
  readonly Address: string;
  readonly Port: number;
  readonly CreateIndex?: number;
  readonly ModifyIndex?: number;
}

/** One NDJSON object of `/v1/event/stream`: events, or `{}` as a heartbeat. */
export interface NomadFrame {
  readonly Index?: number;
  readonly Events?: ReadonlyArray<{
    readonly Topic: string;
    readonly Type: string;
    readonly Key?: string;
    readonly Namespace?: string;
    readonly Index?: number;
    readonly Payload?: { readonly Service?: NomadService };
  }>;
}

/** Which services to follow: by name, and by tag (any of them). Empty: all. */
export interface ServiceFilter {
  readonly services?: readonly string[];
  readonly tags?: readonly string[];
}

export function wantsName(filter: ServiceFilter, name: string): boolean {
  return !filter.services?.length || filter.services.includes(name);
}

export function wants(filter: ServiceFilter, s: Pick<NomadService, 'ServiceName' | 'Tags'>): boolean {
  return wantsName(filter, s.ServiceName) && (!filter.tags?.length || (s.Tags ?? []).some((t) => filter.tags!.includes(t)));
}

/**
 * A Nomad registration as an instance. Nomad's ids stay the instance's id and are
 * kept in meta, so every sink (and whoever reads the catalog) can go back to the
 * allocation and the job. Nomad only knows the node by id, so the node is its id.
 */
export function toInstance(s: NomadService): InstanceInput {
  return {
    id: s.ID,
    service: s.ServiceName,
    node: s.NodeID,
    nodeAddress: s.Address,
    datacenter: s.Datacenter,
    address: s.Address,
    port: s.Port,
    tags: [...(s.Tags ?? [])],
    meta: {
      'external-source': 'nomad',
      'nomad-namespace': s.Namespace,
      'nomad-job-id': s.JobID,
      'nomad-alloc-id': s.AllocID,
      'nomad-node-id': s.NodeID,
    },
  };
}

/** The source events of one stream frame, for what the filter wants; other topics are ignored. */
export function eventsOf(frame: NomadFrame, filter: ServiceFilter): SourceEvent[] {
  const out: SourceEvent[] = [];
  for (const e of frame.Events ?? []) {
    const s = e.Payload?.Service;
    if (e.Topic !== 'Service' || !s) continue;
    if (e.Type === 'ServiceRegistration') {
      // A registration that no longer matches the filter (its tags changed) must leave.
      out.push(wants(filter, s) ? { type: 'upsert', instance: toInstance(s) } : { type: 'remove', ref: { node: s.NodeID, id: s.ID } });
    } else if (e.Type === 'ServiceDeregistration') {
      out.push({ type: 'remove', ref: { node: s.NodeID, id: s.ID } });
    }
  }
  return out;
}

/**
 * Splits a byte stream into NDJSON objects: a frame may arrive split across chunks,
 * or several in one chunk. A line that is not JSON throws, naming it.
 */
export class FrameSplitter {
  #pending = '';
  readonly #decoder = new TextDecoder();

  push(chunk: Uint8Array): NomadFrame[] {
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    const frames: NomadFrame[] = [];
    let nl: number;
    while ((nl = this.#pending.indexOf('\n')) >= 0) {
      const line = this.#pending.slice(0, nl).trim();
      this.#pending = this.#pending.slice(nl + 1);
      if (line === '') continue;
      try {
        frames.push(JSON.parse(line) as NomadFrame);
      } catch {
        throw new Error(`the event stream sent a line that is not JSON: ${line.slice(0, 200)}`);
      }
    }
    return frames;
  }
}
