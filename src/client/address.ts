// Job server addresses: "host", "host:port", "[::1]:port" or { host, port }, default port 4730.

import { invalidArgument } from '../errors.js';

export const DEFAULT_PORT = 4730;

export interface ServerAddress {
  host: string;
  port: number;
}

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/;

/** Parse `host:port`, `host` or `[::1]:4730` (or check an address object); the port defaults to 4730. */
export function parseServer(s: string | ServerAddress): ServerAddress {
  if (typeof s === 'object' && s !== null) {
    if (typeof s.host !== 'string' || s.host.length === 0) throw invalidArgument('non-empty host name', 'server.host', s.host);
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw invalidArgument('integer port between 1 and 65535', 'server.port', s.port);
    return { host: s.host, port: s.port };
  }
  if (typeof s !== 'string') throw invalidArgument('host:port string or {host, port}', 'server', s);
  const m = HOST_PORT.exec(s.trim());
  const port = m?.[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (!m || port < 1 || port > 65535) throw invalidArgument('host, host:port or [ipv6]:port', 'server', s);
  return { host: m[1] ?? m[2]!, port };
}

/** "host:port", with brackets around an IPv6 host: the key a server is known by. */
export function formatAddress(a: ServerAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
