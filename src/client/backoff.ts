// The client's and the worker's reconnect delays: the shared backoff with jitter, so that many
// clients cut off by one server restart do not all come back in the same instant.

import { Backoff } from '../shared/backoff.js';

export interface ReconnectOptions {
  /** First delay after a failure, in ms. @defaultValue 100 */
  initialDelayMs?: number;
  /** Longest delay, in ms. @defaultValue 5000 */
  maxDelayMs?: number;
}

/** The backoff between attempts to reach one server; options checked here, named `reconnect.*`. */
export function reconnectBackoff(opts: ReconnectOptions = {}): Backoff {
  return new Backoff({ initialDelayMs: opts.initialDelayMs ?? 100, maxDelayMs: opts.maxDelayMs ?? 5000, jitter: 'equal' }, 'reconnect');
}
