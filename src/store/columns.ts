// The job log's columns in the SQL stores (MySQL/MariaDB, PostgreSQL), and rows back to
// records whatever types the driver hands back (BIGINT as string, VARBINARY as Buffer).

import type { JobRecord, JobState } from './types.js';

/** Record field → column, in the order of the table. */
export const COLUMNS = {
  id: 'id',
  fn: 'fn',
  unique: 'uniq',
  priority: 'priority',
  data: 'data',
  state: 'state',
  attempts: 'attempts',
  maxAttempts: 'max_attempts',
  runAt: 'run_at',
  worker: 'worker',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  result: 'result',
  owner: 'owner',
  leaseUntil: 'lease_until',
} as const satisfies Record<keyof JobRecord, string>;

export const FIELDS = Object.keys(COLUMNS) as (keyof JobRecord)[];

/** SQL text of the pending states, for WHERE clauses (must match PENDING_STATES). */
export const PENDING_SQL = `('queued', 'running', 'failed')`;

export type Row = Record<string, unknown>;

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
const textOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : text(v));

export function fromRow(r: Row): JobRecord {
  return {
    id: text(r.id),
    fn: text(r.fn),
    unique: text(r.uniq),
    priority: Number(r.priority) as 0 | 1 | 2,
    data: r.data === null || r.data === undefined ? null : (r.data as Buffer),
    state: text(r.state) as JobState,
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    runAt: Number(r.run_at),
    worker: textOrNull(r.worker),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    result: textOrNull(r.result),
    owner: textOrNull(r.owner),
    leaseUntil: Number(r.lease_until),
  };
}
