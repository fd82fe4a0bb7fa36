// Claim and lease rules the database stores share.

import type { JobRecord } from './types.js';

/** Claim order: oldest first, ties by id, so a claim's answer is the same however it was read. */
export const byCreation = (a: JobRecord, b: JobRecord): number => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * renew() rewrites only the leases that expire before this: those with less than half of a
 * lease left. Renewing every pending row on every poll (1 s) rewrote each queued job once a
 * second (PostgreSQL: 2.4 s per renew with 126k jobs held); this way a row is rewritten once
 * per half lease, and it is still never less than half a lease from expiry while its owner
 * polls, so no other server can take it. The SQLite store keeps a lease per owner instead
 * (sqlite.ts, OWNERS): its renew writes one row.
 */
export const renewalDue = (leaseUntil: number, now = Date.now()): number => now + Math.floor((leaseUntil - now) / 2);
