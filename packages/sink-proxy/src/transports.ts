import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { isAbsolute, resolve } from 'node:path';
import { ValidationError, type Issue } from '@signpost/core';
import type { ProxySinkOptions, ServersTransportOptions } from './options.js';

/*
 * Traefik's serversTransports: how the proxy talks TLS to a backend whose scheme is
 * https. Verification is on unless a transport says insecureSkipVerify. The default
 * transport is the `serversTransport` option (Traefik's static serversTransport, its
 * `default@internal`); named ones come from `serversTransports` and a service picks
 * one with `loadbalancer.serverstransport=<name>`, as it would one from Traefik's file
 * provider (`<name>@file` reads the same). Tags cannot define transports: Traefik's
 * Consul Catalog provider cannot either, and a tag author choosing a CA would defeat it.
 */

export const DEFAULT_TRANSPORT = 'default';

export interface TransportTls {
  readonly name: string;
  /** undici's `connect` options (tls.connect's). */
  readonly connect: { readonly rejectUnauthorized: boolean; readonly ca?: readonly string[]; readonly servername?: string };
  /** For WebSocket upgrades to https backends (http-proxy takes a node agent). */
  readonly wsAgent: HttpsAgent;
}

/** The transport a tag names, or undefined when no such transport is configured. */
export function transportName(reference: string, known: ReadonlySet<string>): string | undefined {
  if (reference === `${DEFAULT_TRANSPORT}@internal` || reference === DEFAULT_TRANSPORT) return DEFAULT_TRANSPORT;
  const name = reference.endsWith('@file') ? reference.slice(0, -'@file'.length) : reference;
  return known.has(name) && name !== DEFAULT_TRANSPORT ? name : undefined;
}

/** Reads every transport's CA files (relative to `baseDir`); throws a ValidationError naming each bad key. */
export async function loadTransports(opts: ProxySinkOptions, baseDir: string | undefined): Promise<Map<string, TransportTls>> {
  const issues: Issue[] = [];
  const out = new Map<string, TransportTls>();
  const entries: Array<[string, ServersTransportOptions, (string | number)[]]> = [[DEFAULT_TRANSPORT, opts.serversTransport ?? {}, ['serversTransport']]];
  for (const [name, t] of Object.entries(opts.serversTransports ?? {})) {
    if (name === DEFAULT_TRANSPORT) issues.push({ path: ['serversTransports', name], message: `"${DEFAULT_TRANSPORT}" is the serversTransport option's name; choose another` });
    else entries.push([name, t, ['serversTransports', name]]);
  }
  for (const [name, t, path] of entries) {
    const ca: string[] = [];
    for (const [n, entry] of (t.rootCAs ?? []).entries()) {
      if (entry.trimStart().startsWith('-----BEGIN')) ca.push(entry);
      else {
        const file = isAbsolute(entry) ? entry : resolve(baseDir ?? process.cwd(), entry);
        try {
          ca.push(await readFile(file, 'utf8'));
        } catch (err) {
          issues.push({ path: [...path, 'rootCAs', n], message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
        }
      }
    }
    const connect = {
      rejectUnauthorized: !(t.insecureSkipVerify ?? false),
      ...(ca.length ? { ca } : {}),
      ...(t.serverName ? { servername: t.serverName } : {}),
    };
    out.set(name, { name, connect, wsAgent: new HttpsAgent({ keepAlive: false, ...connect, ca: connect.ca ? [...connect.ca] : undefined }) });
  }
  if (issues.length) throw new ValidationError('plugin proxy', issues);
  return out;
}
