import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { type Check, type Node, type ServiceInstance } from '@signpost/core';

/*
 * The catalog in Consul's wire format, field names exactly as Consul's HTTP API
 * returns them (checked against the article's `curl /v1/catalog/service/cerebro`
 * output and Consul's API docs). Pure functions: instances in, JSON values out.
 */

/** A stable node ID (UUID form) derived from the node name: Traefik keys nodes on `ID`. */
export function nodeId(name: string): string {
  const h = createHash('sha1').update(`signpost-node:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Consul tags a node's address as lan/wan and by family. */
export function nodeTaggedAddresses(address: string): Record<string, string> {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  return { lan: address, [`lan_${family}`]: address, wan: address, [`wan_${family}`]: address };
}

/** Service tagged addresses: what was registered, plus lan/wan by family when the service has its own address (as Consul's agent adds them). */
export function serviceTaggedAddresses(i: ServiceInstance): Record<string, { Address: string; Port: number }> {
  const out: Record<string, { Address: string; Port: number }> = {};
  if (i.address && isIP(i.address)) {
    const family = isIP(i.address) === 6 ? 'ipv6' : 'ipv4';
    out[`lan_${family}`] = { Address: i.address, Port: i.port };
    out[`wan_${family}`] = { Address: i.address, Port: i.port };
  }
  for (const [k, v] of Object.entries(i.taggedAddresses)) out[k] = { Address: v.address, Port: v.port };
  return out;
}

/** `GET /v1/catalog/service/:name` entry. */
export function catalogServiceEntry(i: ServiceInstance): Record<string, unknown> {
  return {
    ID: nodeId(i.node),
    Node: i.node,
    Address: i.nodeAddress,
    Datacenter: i.datacenter,
    TaggedAddresses: nodeTaggedAddresses(i.nodeAddress),
    NodeMeta: i.nodeMeta,
    ServiceKind: i.kind,
    ServiceID: i.id,
    ServiceName: i.service,
    ServiceTags: i.tags,
    ServiceAddress: i.address,
    ServiceTaggedAddresses: serviceTaggedAddresses(i),
    ServiceWeights: { Passing: i.weights.passing, Warning: i.weights.warning },
    ServiceMeta: i.meta,
    ServicePort: i.port,
    ServiceEnableTagOverride: i.enableTagOverride,
    ServiceProxy: { MeshGateway: {}, Expose: {} },
    ServiceConnect: {},
    CreateIndex: i.createIndex,
    ModifyIndex: i.modifyIndex,
  };
}

/** The `Service` object of health entries and `GET /v1/catalog/node/:node`. */
export function serviceObject(i: ServiceInstance): Record<string, unknown> {
  return {
    ID: i.id,
    Service: i.service,
    Tags: i.tags,
    Address: i.address,
    TaggedAddresses: serviceTaggedAddresses(i),
    Meta: i.meta,
    Port: i.port,
    Weights: { Passing: i.weights.passing, Warning: i.weights.warning },
    EnableTagOverride: i.enableTagOverride,
    Proxy: { MeshGateway: {}, Expose: {} },
    Connect: {},
    CreateIndex: i.createIndex,
    ModifyIndex: i.modifyIndex,
  };
}

/** A node object (`/v1/catalog/nodes`, health entries' `Node`). */
export function nodeObject(n: Node, index: { create: number; modify: number }): Record<string, unknown> {
  return {
    ID: nodeId(n.name),
    Node: n.name,
    Address: n.address,
    Datacenter: n.datacenter,
    TaggedAddresses: nodeTaggedAddresses(n.address),
    Meta: n.meta,
    CreateIndex: index.create,
    ModifyIndex: index.modify,
  };
}

export function nodeOf(i: ServiceInstance): Node {
  return { name: i.node, address: i.nodeAddress, datacenter: i.datacenter, meta: i.nodeMeta };
}

/** A health check as `/v1/health/*` returns it. */
export function checkObject(i: ServiceInstance, c: Check): Record<string, unknown> {
  return {
    Node: i.node,
    CheckID: c.id,
    Name: c.name,
    Status: c.status,
    Notes: c.notes,
    Output: c.output,
    ServiceID: i.id,
    ServiceName: i.service,
    ServiceTags: i.tags,
    Type: c.type,
    Interval: c.definition.interval ?? '',
    Timeout: c.definition.timeout ?? '',
    ExposedPort: 0,
    Definition: checkDefinition(c),
    CreateIndex: i.createIndex,
    ModifyIndex: i.modifyIndex,
  };
}

function checkDefinition(c: Check): Record<string, unknown> {
  const d = c.definition;
  return {
    ...(d.http !== undefined ? { HTTP: d.http } : {}),
    ...(d.method !== undefined ? { Method: d.method } : {}),
    ...(d.header !== undefined ? { Header: d.header } : {}),
    ...(d.body !== undefined ? { Body: d.body } : {}),
    ...(d.tlsSkipVerify !== undefined ? { TLSSkipVerify: d.tlsSkipVerify } : {}),
    ...(d.disableRedirects !== undefined ? { DisableRedirects: d.disableRedirects } : {}),
    ...(d.tlsServerName !== undefined ? { TLSServerName: d.tlsServerName } : {}),
    ...(d.tcp !== undefined ? { TCP: d.tcp } : {}),
    ...(d.tcpUseTls !== undefined ? { TCPUseTLS: d.tcpUseTls } : {}),
    Interval: d.interval ?? '0s',
    Timeout: d.timeout ?? '0s',
    DeregisterCriticalServiceAfter: d.deregisterCriticalServiceAfter ?? '0s',
  };
}

/** A health entry: `{Node, Service, Checks}`. */
export function healthEntry(i: ServiceInstance): Record<string, unknown> {
  return {
    Node: nodeObject(nodeOf(i), { create: i.createIndex, modify: i.modifyIndex }),
    Service: serviceObject(i),
    Checks: i.checks.map((c) => checkObject(i, c)),
  };
}

/** `GET /v1/agent/services` value: what was registered, read back exactly (Nomad compares it field by field). */
export function agentService(i: ServiceInstance): Record<string, unknown> {
  return {
    ...(i.kind ? { Kind: i.kind } : {}),
    ID: i.id,
    Service: i.service,
    Tags: i.tags,
    Meta: i.meta,
    Port: i.port,
    Address: i.address,
    TaggedAddresses: serviceTaggedAddresses(i),
    Weights: { Passing: i.weights.passing, Warning: i.weights.warning },
    EnableTagOverride: i.enableTagOverride,
    Datacenter: i.datacenter,
  };
}

/** `GET /v1/agent/checks` value. */
export function agentCheck(i: ServiceInstance, c: Check): Record<string, unknown> {
  const { CreateIndex: _c, ModifyIndex: _m, ...rest } = checkObject(i, c);
  return rest;
}
