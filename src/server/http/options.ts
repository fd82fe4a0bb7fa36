// Options of the HTTP API, checked once when the server is built (no fastify here: a server
// without HTTP never loads it).

import net from 'node:net';
import { GeartrainError, invalidArgument } from '../../errors.js';

export interface HttpOptions {
  /** TCP port of the HTTP API, the dashboard and /metrics; 0 picks a free one. */
  port: number;
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
  /**
   * Bearer token every /api/v1 route and /metrics asks for (the dashboard page itself loads
   * without it). Required when `host` is not a loopback address. @defaultValue none
   */
  token?: string;
  /** Largest request body, in bytes. @defaultValue 1 MiB */
  bodyLimit?: number;
  /** How often GET /api/v1/events sends a snapshot, ms. @defaultValue 1000 */
  eventsIntervalMs?: number;
  /**
   * Longest a client may take to send a whole request, headers and body, ms; past it the server
   * answers 408 and closes the connection (checked every second). @defaultValue 30000
   */
  requestTimeoutMs?: number;
  /**
   * A connection with no traffic either way for this long is closed, ms. A foreground call
   * waiting for its job and an event stream are exempt while they last. @defaultValue 60000
   */
  connectionTimeoutMs?: number;
}

export type CheckedHttpOptions = Required<Omit<HttpOptions, 'token'>> & { token: string | null };

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECTION_TIMEOUT_MS = 60_000;

/** 127.0.0.0/8, ::1, their IPv4-mapped forms, and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

export function checkHttpOptions(o: HttpOptions): CheckedHttpOptions {
  if (typeof o !== 'object' || o === null) throw invalidArgument('an object', 'http', o);
  const { port } = o;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidArgument('integer port between 0 and 65535', 'http.port', port);
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw invalidArgument('a host name or address', 'http.host', o.host);
  const token = o.token ?? null;
  if (token !== null && (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token))) {
    throw invalidArgument('a non-empty token of printable characters without spaces', 'http.token', '(hidden)');
  }
  // Anyone who can reach the port could submit, cancel and retry jobs: off the loopback
  // interface that needs a token.
  if (token === null && !isLoopback(host)) {
    throw new GeartrainError(
      'GT_INVALID_ARGUMENT',
      `Refusing to serve the HTTP API on ${host} without a token: anyone who can reach it could submit, cancel and retry jobs. ` +
        'Set http.token (--http-token or GEARTRAIN_HTTP_TOKEN), or listen on a loopback address such as 127.0.0.1',
    );
  }
  const bodyLimit = o.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) throw invalidArgument('integer of at least 1024 bytes', 'http.bodyLimit', o.bodyLimit);
  const eventsIntervalMs = o.eventsIntervalMs ?? 1000;
  if (!Number.isInteger(eventsIntervalMs) || eventsIntervalMs < 50)
    throw invalidArgument('integer of at least 50 ms', 'http.eventsIntervalMs', o.eventsIntervalMs);
  const requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 100)
    throw invalidArgument('integer of at least 100 ms', 'http.requestTimeoutMs', o.requestTimeoutMs);
  const connectionTimeoutMs = o.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS;
  if (!Number.isInteger(connectionTimeoutMs) || connectionTimeoutMs < 100)
    throw invalidArgument('integer of at least 100 ms', 'http.connectionTimeoutMs', o.connectionTimeoutMs);
  return { port, host, token, bodyLimit, eventsIntervalMs, requestTimeoutMs, connectionTimeoutMs };
}
