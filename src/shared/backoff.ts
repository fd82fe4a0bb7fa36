// Exponential backoff: the wait before the next attempt, doubling from a first delay up to a
// longest one, with or without jitter. Every retry and restart delay in geartrain comes from
// here (client reconnects, job retries, job store retries, worker process restarts, webhook and
// cache-warm retries); each caller keeps its own numbers.

import { invalidArgument } from '../errors.js';

export interface BackoffOptions {
  /** The delay after the first failure, in ms: a positive integer. */
  initialDelayMs: number;
  /** The longest delay, in ms: an integer of at least initialDelayMs. @defaultValue no limit */
  maxDelayMs?: number;
  /**
   * `equal`: half of the delay fixed, half random ("equal jitter"), so that peers cut off by one
   * failure do not all come back in the same instant, and none comes back sooner than half the
   * delay. `none`: the delay itself, for a single waiter whose delay people read in logs.
   * @defaultValue 'equal'
   */
  jitter?: 'equal' | 'none';
}

/** Doublings stop here: 2^30 times any first delay is past every cap in use, and stays finite. */
const MAX_DOUBLINGS = 30;

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly jitter: boolean;
  private failed = 0;

  /** `name` prefixes the option names in messages (`reconnect` → `reconnect.maxDelayMs`). */
  constructor(opts: BackoffOptions, name = 'backoff') {
    this.initial = opts.initialDelayMs;
    this.max = opts.maxDelayMs ?? Number.POSITIVE_INFINITY;
    if (!Number.isInteger(this.initial) || this.initial < 1) throw invalidArgument('positive integer', `${name}.initialDelayMs`, opts.initialDelayMs);
    if (this.max !== Number.POSITIVE_INFINITY && (!Number.isInteger(this.max) || this.max < this.initial)) {
      throw invalidArgument(`integer of at least ${name}.initialDelayMs (${this.initial})`, `${name}.maxDelayMs`, opts.maxDelayMs);
    }
    this.jitter = (opts.jitter ?? 'equal') === 'equal';
  }

  /** The delay after `failures` failures (1 for the first), counting nothing: for callers that count their own. */
  delayAfter(failures: number): number {
    const ceiling = Math.min(this.max, this.initial * 2 ** Math.min(Math.max(0, failures - 1), MAX_DOUBLINGS));
    return this.jitter ? Math.round(ceiling / 2 + (Math.random() * ceiling) / 2) : ceiling;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    return this.delayAfter(++this.failed);
  }

  /** Failures counted by next() since the start or the last reset(). */
  get failures(): number {
    return this.failed;
  }

  /** An attempt succeeded: the next failure waits the first delay again. */
  reset(): void {
    this.failed = 0;
  }
}
