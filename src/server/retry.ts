// How the server retries a failed logged job: how many attempts a function's jobs get, and how
// long the job waits before the next one (the shared backoff, with jitter).

import { Backoff } from '../shared/backoff.js';

export interface RetryPolicy {
  /** Attempts per job, first run included; per function. */
  maxAttempts(fn: string): number;
  /** Delay before attempt `attempt + 1`, after `attempt` failures. */
  delayMs(attempt: number): number;
}

export interface BackoffPolicyOptions {
  /** Attempts per job, first run included: one number, or one per function name. @defaultValue 3 */
  maxAttempts?: number | ((fn: string) => number);
  /** Delay after the first failure, ms. @defaultValue 1000 */
  baseDelayMs?: number;
  /** Longest delay, ms. @defaultValue 300000 */
  maxDelayMs?: number;
}

/**
 * Exponential backoff with equal jitter: half of 1 s, 2 s, 4 s … fixed, half random, so that
 * retries of many jobs that failed together spread out; capped at 5 minutes, 3 attempts.
 */
export function backoffPolicy(opts: BackoffPolicyOptions = {}): RetryPolicy {
  const max = opts.maxAttempts ?? 3;
  const cap = opts.maxDelayMs ?? 300_000;
  // A first delay past the cap waits the cap, as every later one does.
  const backoff = new Backoff({ initialDelayMs: Math.min(opts.baseDelayMs ?? 1000, cap), maxDelayMs: cap, jitter: 'equal' }, 'retry');
  return {
    maxAttempts: typeof max === 'function' ? max : () => max,
    delayMs: (attempt) => backoff.delayAfter(attempt),
  };
}
