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

/**
 * The WHERE clause of `jobs list` for the SQL stores (empty when nothing filters) and its
 * arguments; `arg` turns an argument's position (1-based) into the store's placeholder
 * (`?` for SQLite and MySQL, `$1` for PostgreSQL).
 */
export function filterSql(f: JobFilter, arg: (position: number) => string): { where: string; args: (string | number)[] } {
  const conds: string[] = [];
  const args: (string | number)[] = [];
  const add = (cond: string, v: string | number): void => {
    args.push(v);
    conds.push(`${cond} ${arg(args.length)}`);
  };
  if (f.state !== undefined) add('state =', f.state);
  if (f.fn !== undefined) add('fn =', f.fn);
  if (f.since !== undefined) add('updated_at >=', f.since);
  return { where: conds.length ? `WHERE ${conds.join(' AND ')}` : '', args };
}
