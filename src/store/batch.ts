// Plans one write() for the database stores: the changes folded per job, so a batch becomes
// one multi-row upsert plus one statement per shape of update, whatever their order.
//
// Folding is exact: changes to different jobs commute, an insert replaces the whole row (so
// what came before it for that id no longer matters), and updates that follow an insert or
// another update merge into it field by field. The journal's batches interleave submissions
// with state changes (started, completed, failed…); run in order, those would be one
// statement each.

import { invalidArgument } from '../errors.js';
import type { JobChange, JobRecord } from './types.js';

export type JobFields = Partial<Omit<JobRecord, 'id'>>;

/** Updates that set the same fields, one row per job. */
export interface UpdateGroup {
  readonly fields: readonly (keyof JobFields)[];
  readonly rows: { id: string; set: JobFields }[];
}

export interface WritePlan {
  /** Whole rows to upsert, one per id. */
  readonly inserts: JobRecord[];
  readonly updates: UpdateGroup[];
}

const FIELDS = new Set<string>([
  'fn',
  'unique',
  'priority',
  'data',
  'state',
  'attempts',
  'maxAttempts',
  'runAt',
  'worker',
  'createdAt',
  'updatedAt',
  'result',
  'owner',
  'leaseUntil',
]);

export function planWrite(changes: readonly JobChange[]): WritePlan {
  const folded = new Map<string, { insert: JobRecord } | { set: JobFields }>();
  for (const c of changes) {
    if (c.op === 'insert') {
      folded.set(c.job.id, { insert: { ...c.job } });
      continue;
    }
    const set = definedFields(c.set);
    const prev = folded.get(c.id);
    if (prev === undefined) folded.set(c.id, { set });
    else if ('insert' in prev) Object.assign(prev.insert, set);
    else Object.assign(prev.set, set);
  }
  const inserts: JobRecord[] = [];
  const groups = new Map<string, UpdateGroup>();
  for (const [id, f] of folded) {
    if ('insert' in f) {
      inserts.push(f.insert);
      continue;
    }
    const fields = (Object.keys(f.set) as (keyof JobFields)[]).sort();
    if (fields.length === 0) continue;
    const sig = fields.join(',');
    let g = groups.get(sig);
    if (!g) groups.set(sig, (g = { fields, rows: [] }));
    g.rows.push({ id, set: f.set });
  }
  return { inserts, updates: [...groups.values()] };
}

/** The fields an update sets: `undefined` means "not set"; unknown names are refused. */
function definedFields(set: JobFields): JobFields {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(set)) {
    if (!FIELDS.has(k)) throw invalidArgument('a job record field', 'update', k);
    if (v !== undefined) out[k] = v;
  }
  return out as JobFields;
}

/** Split rows into chunks of at most `maxRows` rows and about `maxBytes` (one row at least). */
export function chunk<T>(rows: readonly T[], maxRows: number, maxBytes: number, size: (row: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const r of rows) {
    const b = size(r);
    if (cur.length > 0 && (cur.length >= maxRows || bytes + b > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += b;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Rough size of a row on the wire, for chunking: the payload dominates. */
export function approxSize(r: Partial<JobRecord>): number {
  return 256 + (r.data?.length ?? 0) * 2 + (r.result?.length ?? 0) * 3 + (r.fn?.length ?? 0) * 3 + (r.worker?.length ?? 0) * 3;
}
