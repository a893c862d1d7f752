import { isListenAddress } from './validate.js';

/** Where a listening plugin binds: `listen: host:port` (port 0 = any free port). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `127.0.0.1:8500` or `[::1]:8600`; throws on anything else. */
export function parseListen(text: string): ListenAddress {
  if (!isListenAddress(text)) throw new Error(`invalid listen address ${JSON.stringify(text)}: expected host:port, e.g. 127.0.0.1:8500`);
  const cut = text.lastIndexOf(':');
  const host = text.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(text.slice(cut + 1)) };
}

/** `host:port`, bracketing IPv6 hosts, as logged once a listener is bound. */
export function formatListen(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
