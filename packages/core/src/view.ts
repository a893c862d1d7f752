import { Observable, Subject } from 'rxjs';
import type { CatalogEvent } from './events.js';
import type { InstanceRef, Node, ServiceInstance } from './model.js';
import { instanceKey } from './model.js';

/** One committed change to an instance: `before` absent = created, `after` absent = removed. */
export interface InstanceChange {
  readonly key: string;
  readonly before?: ServiceInstance;
  readonly after?: ServiceInstance;
}

export interface InstanceFilter {
  /** Every tag listed must be present (Consul's repeated `?tag=`). */
  readonly tags?: readonly string[];
}

/**
 * Reads every store serves. Indexes follow Consul's blocking-query rules: each
 * resource has the index of the last commit that changed it, and a watcher of one
 * resource never wakes because another changed.
 */
export interface CatalogReader {
  /** The global index: starts at 1, never 0, grows with every commit that changes something. */
  readonly index: number;
  /** Index of the last commit that changed this service's instances or checks (the global index for a service never seen). */
  serviceIndex(service: string): number;
  /** Index of the last commit that changed the set of service names or their tags. */
  readonly servicesIndex: number;
  /** Index of the last commit that added, removed or changed a node. */
  readonly nodesIndex: number;
  /** Index of the last commit that changed this node or the instances on it. */
  nodeIndex(node: string): number;
  /** Service names (sorted) with the union of their instances' tags (sorted). */
  services(): ReadonlyMap<string, readonly string[]>;
  /** A service's instances, sorted by node then id. */
  instances(service: string, filter?: InstanceFilter): readonly ServiceInstance[];
  /** Every instance, in no particular order. */
  allInstances(): Iterable<ServiceInstance>;
  /** Nodes that have instances, sorted by name. */
  nodes(): readonly Node[];
  node(name: string): { readonly node: Node; readonly instances: readonly ServiceInstance[] } | undefined;
  instance(ref: InstanceRef): ServiceInstance | undefined;
  /** The instance that carries this check. */
  instanceByCheck(node: string, checkId: string): ServiceInstance | undefined;
  /** Keys of the instances a source owns. */
  ownedBy(source: string): ReadonlySet<string>;
  instanceByKey(key: string): ServiceInstance | undefined;
}

interface ServiceEntry {
  readonly members: Map<string, ServiceInstance>;
  readonly tagCounts: Map<string, number>;
  sorted: readonly ServiceInstance[] | undefined;
}

interface NodeEntry {
  readonly members: Map<string, ServiceInstance>;
  node: Node;
  sorted: readonly ServiceInstance[] | undefined;
}

const EMPTY: ReadonlySet<string> = new Set();

function byNodeThenId(a: ServiceInstance, b: ServiceInstance): number {
  return a.node < b.node ? -1 : a.node > b.node ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function nodeOf(i: ServiceInstance): Node {
  return { name: i.node, address: i.nodeAddress, datacenter: i.datacenter, meta: i.nodeMeta };
}

function sameNode(a: Node, b: Node): boolean {
  if (a.address !== b.address || a.datacenter !== b.datacenter) return false;
  const ak = Object.keys(a.meta);
  return ak.length === Object.keys(b.meta).length && ak.every((k) => a.meta[k] === b.meta[k]);
}

/**
 * The catalog as an in-memory materialized view with its change feed: committed
 * changes in, indexed reads and `watch()` out. Every store builds on one (the
 * memory store adds only `apply`; a shared store feeds its view from its own
 * replication stream), so reads and watches behave the same everywhere.
 */
export class CatalogView implements CatalogReader {
  readonly #feed = new Subject<CatalogEvent>();
  #publishing = false;
  #index = 1;
  #servicesIndex = 1;
  #nodesIndex = 1;
  readonly #byKey = new Map<string, ServiceInstance>();
  readonly #services = new Map<string, ServiceEntry>();
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #serviceIndexes = new Map<string, number>();
  readonly #nodeIndexes = new Map<string, number>();
  readonly #checks = new Map<string, string>();
  readonly #owners = new Map<string, Set<string>>();
  #servicesCache: ReadonlyMap<string, readonly string[]> | undefined;
  #nodesCache: readonly Node[] | undefined;

  get index(): number {
    return this.#index;
  }
  get servicesIndex(): number {
    return this.#servicesIndex;
  }
  get nodesIndex(): number {
    return this.#nodesIndex;
  }
  get size(): number {
    return this.#byKey.size;
  }

  serviceIndex(service: string): number {
    return this.#serviceIndexes.get(service) ?? this.#index;
  }

  nodeIndex(node: string): number {
    return this.#nodeIndexes.get(node) ?? this.#index;
  }

  services(): ReadonlyMap<string, readonly string[]> {
    if (!this.#servicesCache) {
      const names = [...this.#services.keys()].sort();
      this.#servicesCache = new Map(names.map((n) => [n, [...this.#services.get(n)!.tagCounts.keys()].sort()]));
    }
    return this.#servicesCache;
  }

  instances(service: string, filter?: InstanceFilter): readonly ServiceInstance[] {
    const entry = this.#services.get(service);
    if (!entry) return [];
    entry.sorted ??= [...entry.members.values()].sort(byNodeThenId);
    const tags = filter?.tags;
    if (!tags?.length) return entry.sorted;
    return entry.sorted.filter((i) => tags.every((t) => i.tags.includes(t)));
  }

  allInstances(): Iterable<ServiceInstance> {
    return this.#byKey.values();
  }

  nodes(): readonly Node[] {
    this.#nodesCache ??= [...this.#nodes.keys()].sort().map((n) => this.#nodes.get(n)!.node);
    return this.#nodesCache;
  }

  node(name: string): { readonly node: Node; readonly instances: readonly ServiceInstance[] } | undefined {
    const entry = this.#nodes.get(name);
    if (!entry) return undefined;
    // Sorted only when read: a sink that wants the node's address alone (DNS, on
    // every commit that touches the node) must not pay for sorting its instances.
    return {
      node: entry.node,
      get instances() {
        entry.sorted ??= [...entry.members.values()].sort(byNodeThenId);
        return entry.sorted;
      },
    };
  }

  instance(ref: InstanceRef): ServiceInstance | undefined {
    return this.#byKey.get(instanceKey(ref));
  }

  instanceByKey(key: string): ServiceInstance | undefined {
    return this.#byKey.get(key);
  }

  instanceByCheck(node: string, checkId: string): ServiceInstance | undefined {
    const key = this.#checks.get(`${node}\u0000${checkId}`);
    return key === undefined ? undefined : this.#byKey.get(key);
  }

  ownedBy(source: string): ReadonlySet<string> {
    return this.#owners.get(source) ?? EMPTY;
  }

  /**
   * Replaces the whole view (a shared store's resync after it lost its stream) and
   * hands every watcher a fresh snapshot, so sinks rebuild from a consistent state.
   */
  reset(index: number, instances: Iterable<ServiceInstance>): void {
    if (this.#publishing) throw new Error('a reset was made from inside a watcher; defer it until delivery ends');
    this.#load(index, instances);
    this.#publishing = true;
    try {
      this.#feed.next({ type: 'snapshot', index: this.#index, instances: [...this.#byKey.values()] });
    } finally {
      this.#publishing = false;
    }
  }

  #load(index: number, instances: Iterable<ServiceInstance>): void {
    this.#byKey.clear();
    this.#services.clear();
    this.#nodes.clear();
    this.#checks.clear();
    this.#owners.clear();
    this.#serviceIndexes.clear();
    this.#nodeIndexes.clear();
    this.#servicesCache = undefined;
    this.#nodesCache = undefined;
    for (const i of instances) this.#insert(instanceKey(i), i, i.modifyIndex);
    this.#index = Math.max(1, index);
    this.#servicesIndex = this.#index;
    this.#nodesIndex = this.#index;
  }

  /**
   * A snapshot of the view, then the deltas of every later commit in index order.
   * A subscriber that joins while a commit is being delivered has it in its snapshot already.
   */
  watch(): Observable<CatalogEvent> {
    return new Observable<CatalogEvent>((subscriber) => {
      const index = this.#index;
      subscriber.next({ type: 'snapshot', index, instances: [...this.#byKey.values()] });
      return this.#feed.subscribe({
        next: (event) => {
          if (event.index > index || event.type === 'snapshot') subscriber.next(event);
        },
        complete: () => subscriber.complete(),
        error: (err: unknown) => subscriber.error(err),
      });
    });
  }

  /** True while a commit's events are being delivered to watchers. */
  get publishing(): boolean {
    return this.#publishing;
  }

  /** Ends every watch (the store is stopping). */
  close(): void {
    this.#feed.complete();
  }

  /**
   * Applies one commit, then delivers its events to watchers, synchronously and
   * back to back. The commit's `index` must be above the current one, and commits
   * must not be made from inside a watcher (check `publishing`).
   */
  commit(index: number, changes: readonly InstanceChange[]): void {
    if (index <= this.#index) throw new Error(`commit index ${index} is not above the view's index ${this.#index}`);
    if (this.#publishing) throw new Error('a commit was made from inside a watcher; defer it until delivery ends');
    this.#applyChanges(index, changes);
    this.#publishing = true;
    try {
      for (const c of changes) {
        this.#feed.next(
          c.after
            ? c.before
              ? { type: 'upsert', index, instance: c.after, previous: c.before }
              : { type: 'upsert', index, instance: c.after }
            : { type: 'remove', index, instance: c.before! },
        );
      }
    } finally {
      this.#publishing = false;
    }
  }

  #applyChanges(index: number, changes: readonly InstanceChange[]): void {
    for (const { key, before, after } of changes) {
      if (before && after && before.service === after.service && before.source === after.source) {
        this.#update(key, before, after, index);
        continue;
      }
      if (before) this.#delete(key, before, index);
      if (after) this.#insert(key, after, index);
    }
    this.#index = index;
  }

  /** An instance changed in place: only what differs moves the services and nodes indexes. */
  #update(key: string, before: ServiceInstance, after: ServiceInstance, index: number): void {
    this.#byKey.set(key, after);
    for (const c of before.checks) {
      const ck = `${before.node}\u0000${c.id}`;
      if (this.#checks.get(ck) === key) this.#checks.delete(ck);
    }
    for (const c of after.checks) this.#checks.set(`${after.node}\u0000${c.id}`, key);
    const svc = this.#services.get(after.service)!;
    svc.members.set(key, after);
    svc.sorted = undefined;
    for (const t of new Set(after.tags)) this.#addTag(svc, t, index);
    for (const t of new Set(before.tags)) this.#dropTag(svc, t, index);
    this.#serviceIndexes.set(after.service, index);
    const ne = this.#nodes.get(after.node)!;
    const node = nodeOf(after);
    if (!sameNode(ne.node, node)) {
      ne.node = node;
      this.#nodesChanged(index);
    }
    ne.members.set(key, after);
    ne.sorted = undefined;
    this.#nodeIndexes.set(after.node, index);
  }

  #addTag(svc: ServiceEntry, tag: string, index: number): void {
    const n = svc.tagCounts.get(tag) ?? 0;
    svc.tagCounts.set(tag, n + 1);
    if (n === 0) this.#servicesChanged(index);
  }

  #dropTag(svc: ServiceEntry, tag: string, index: number): void {
    const n = (svc.tagCounts.get(tag) ?? 1) - 1;
    if (n > 0) {
      svc.tagCounts.set(tag, n);
      return;
    }
    svc.tagCounts.delete(tag);
    this.#servicesChanged(index);
  }

  #insert(key: string, i: ServiceInstance, index: number): void {
    this.#byKey.set(key, i);
    let owned = this.#owners.get(i.source);
    if (!owned) this.#owners.set(i.source, (owned = new Set()));
    owned.add(key);
    for (const c of i.checks) this.#checks.set(`${i.node}\u0000${c.id}`, key);

    let svc = this.#services.get(i.service);
    if (!svc) {
      svc = { members: new Map(), tagCounts: new Map(), sorted: undefined };
      this.#services.set(i.service, svc);
      this.#servicesChanged(index);
    }
    svc.members.set(key, i);
    svc.sorted = undefined;
    for (const t of new Set(i.tags)) this.#addTag(svc, t, index);
    this.#serviceIndexes.set(i.service, index);

    const node = nodeOf(i);
    let ne = this.#nodes.get(i.node);
    if (!ne) {
      ne = { members: new Map(), node, sorted: undefined };
      this.#nodes.set(i.node, ne);
      this.#nodesChanged(index);
    } else if (!sameNode(ne.node, node)) {
      ne.node = node;
      this.#nodesChanged(index);
    }
    ne.members.set(key, i);
    ne.sorted = undefined;
    this.#nodeIndexes.set(i.node, index);
  }

  #delete(key: string, i: ServiceInstance, index: number): void {
    this.#byKey.delete(key);
    this.#owners.get(i.source)?.delete(key);
    for (const c of i.checks) {
      const ck = `${i.node}\u0000${c.id}`;
      if (this.#checks.get(ck) === key) this.#checks.delete(ck);
    }
    const svc = this.#services.get(i.service);
    if (svc) {
      svc.members.delete(key);
      svc.sorted = undefined;
      for (const t of new Set(i.tags)) this.#dropTag(svc, t, index);
      if (svc.members.size === 0) {
        this.#services.delete(i.service);
        this.#servicesChanged(index);
      }
    }
    this.#serviceIndexes.set(i.service, index);
    const ne = this.#nodes.get(i.node);
    if (ne) {
      ne.members.delete(key);
      ne.sorted = undefined;
      if (ne.members.size === 0) {
        this.#nodes.delete(i.node);
        this.#nodesChanged(index);
      }
    }
    this.#nodeIndexes.set(i.node, index);
  }

  #servicesChanged(index: number): void {
    this.#servicesIndex = index;
    this.#servicesCache = undefined;
  }

  #nodesChanged(index: number): void {
    this.#nodesIndex = index;
    this.#nodesCache = undefined;
  }
}
