// Shared predicates over job records, for the stores that filter in process.

import { type JobFilter, type JobRecord, type JobState, PENDING_STATES } from './types.js';

export const isPending = (s: JobState): boolean => PENDING_STATES.includes(s);

/**
 * The `limit` items of `items` with the greatest `at`, greatest first, without sorting them all:
 * `jobs list` over a million queued jobs reads each once and keeps a short sorted list.
 */
export function newest<T>(items: Iterable<T>, limit: number, at: (item: T) => number): T[] {
  const top: T[] = [];
  const times: number[] = [];
  if (limit <= 0) return top;
  if (limit > 1000) {
    // Inserting into a long sorted list costs more than one sort at the end.
    const all = [...items].map((item) => ({ item, t: at(item) }));
    all.sort((a, b) => b.t - a.t);
    return all.slice(0, limit).map((e) => e.item);
  }
  for (const item of items) {
    const t = at(item);
    if (top.length === limit && t <= times[limit - 1]!) continue;
    // Binary search for the first kept time smaller than t: equal times keep their order.
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (times[mid]! >= t) lo = mid + 1;
      else hi = mid;
    }
    top.splice(lo, 0, item);
    times.splice(lo, 0, t);
    if (top.length > limit) {
      top.pop();
      times.pop();
    }
  }
  return top;
}

export function matches(j: JobRecord, f: JobFilter): boolean {
  return (f.state === undefined || j.state === f.state) && (f.fn === undefined || j.fn === f.fn) && (f.since === undefined || j.updatedAt >= f.since);
}
