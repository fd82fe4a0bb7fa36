// The key of "already made" records (worker outputs) and of pipeline items and runs: the same
// options give the same key, so work done for them is found again.

import { createHash } from 'node:crypto';

/**
 * Stable fingerprint of a JSON value: the first 16 hex digits of the SHA-256 of its JSON text.
 * Key order counts, so callers build the value in one fixed order.
 */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
