import { formatListen, parseListen, type Plugin, type PluginContext, type PluginModule } from '@signpost/core';
import type { Subscription } from 'rxjs';
import { ipBytes } from './names.js';
import { optionsSchema, parseOptions, resolveOptions, type DnsSinkOptions } from './options.js';
import { Responder } from './responder.js';
import { DnsServer, type DnsStats } from './server.js';
import { DnsTable } from './table.js';

export interface DnsSink extends Plugin {
  /** Where it listens once started (UDP and TCP share the port). */
  address(): { host: string; port: number } | undefined;
  /** Query counters since start. */
  stats(): Readonly<DnsStats> | undefined;
  /** TCP connections open now, and refused by `maxConnsPerClient` / `maxConns` since start. */
  tcpConnections(): { open: number; refused: number };
}

/**
 * A Consul-compatible DNS interface: `dig @127.0.0.1 -p 8600 web.service.consul`
 * answers as Consul's does. Answers come from a table derived from the catalog
 * and updated incrementally on every commit.
 */
export function dnsSink(options: DnsSinkOptions = {}): DnsSink {
  const opts = resolveOptions(parseOptions(options));
  let server: DnsServer | undefined;
  let subscription: Subscription | undefined;
  let bound: { host: string; port: number } | undefined;

  return {
    name: opts.name,
    async start(ctx: PluginContext) {
      const table = new DnsTable(ctx.catalog, { datacenter: ctx.datacenter.toLowerCase(), domains: opts.domains, onlyPassing: opts.onlyPassing, serviceTtl: opts.serviceTtl });
      subscription = ctx.catalog.follow((event) => table.onEvent(event));
      table.flush();
      const responder = new Responder(table, opts, ipBytes(ctx.nodeAddress));
      server = new DnsServer(responder, opts, ctx.logger);
      const { host, port } = parseListen(opts.listen);
      bound = await server.listen(host, port);
      ctx.logger.info({ listen: formatListen(bound), domains: opts.domains.map((d) => `${d.join('.')}.`), recursors: opts.recursors.length }, 'dns listening (udp and tcp)');
    },
    async stop() {
      subscription?.unsubscribe();
      subscription = undefined;
      await server?.close();
      server = undefined;
    },
    address: () => bound,
    stats: () => server?.stats,
    tcpConnections: () => server?.tcpConnections ?? { open: 0, refused: 0 },
  };
}

/** Config entry: `plugins: [{ plugin: dns, listen: 127.0.0.1:8600 }]`. */
export const plugin: PluginModule<DnsSinkOptions, Plugin> = {
  name: 'dns',
  kind: 'sink',
  optionsSchema,
  parseOptions,
  create: dnsSink,
};
