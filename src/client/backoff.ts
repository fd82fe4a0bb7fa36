// Reconnect delays: exponential from initialDelayMs, doubling up to maxDelayMs, with jitter so
// that many clients cut off by one server restart do not all come back in the same instant.

import { invalidArgument } from '../errors.js';

export interface ReconnectOptions {
  /** First delay after a failure, in ms. @defaultValue 100 */
  initialDelayMs?: number;
  /** Longest delay, in ms. @defaultValue 5000 */
  maxDelayMs?: number;
}

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private failures = 0;

  constructor(opts: ReconnectOptions = {}) {
    this.initial = opts.initialDelayMs ?? 100;
    this.max = opts.maxDelayMs ?? 5000;
    if (!Number.isInteger(this.initial) || this.initial < 1) throw invalidArgument('positive integer', 'reconnect.initialDelayMs', opts.initialDelayMs);
    if (!Number.isInteger(this.max) || this.max < this.initial) {
      throw invalidArgument(`integer of at least reconnect.initialDelayMs (${this.initial})`, 'reconnect.maxDelayMs', opts.maxDelayMs);
    }
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.max, this.initial * 2 ** Math.min(this.failures, 30));
    this.failures++;
    // "Equal jitter": at least half the delay, so a dead server is never hammered.
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  reset(): void {
    this.failures = 0;
  }
}
