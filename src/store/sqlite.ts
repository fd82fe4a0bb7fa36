// The SQLite store, geartrain's embedded default (better-sqlite3 12.x; 13.x needs Node 22).
//
// WAL with synchronous=NORMAL: a committed transaction is in the WAL file before the call
// returns, so killing the server process at any moment loses nothing committed; only a power
// loss can drop the last transactions (synchronous=FULL closes that too, at several times the
// cost per commit). The server groups a tick's submissions into one transaction, so the
// commit cost is shared by every job of the batch.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GeartrainError } from '../errors.js';
import { type JobFields, planWrite } from './batch.js';
import { COLUMNS, FIELDS, fromRow, PENDING_SQL, type Row } from './columns.js';
import { filterSql, isPending } from './filter.js';
import type { JobChange, JobFilter, JobRecord, JobStore } from './types.js';

/** Each entry migrates the schema from version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     fn TEXT NOT NULL,
     uniq TEXT NOT NULL,
     priority INTEGER NOT NULL,
     data BLOB,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     max_attempts INTEGER NOT NULL,
     run_at INTEGER NOT NULL,
     worker TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     result TEXT,
     owner TEXT,
     lease_until INTEGER NOT NULL
   );
   CREATE INDEX jobs_state_updated ON jobs (state, updated_at);
   CREATE INDEX jobs_pending_owner ON jobs (owner, lease_until) WHERE state IN ('queued', 'running', 'failed');`,
  // Version 2: leases per owner (see OWNERS). The partial index went with them: putting each
  // job in it and taking it out again when it ended was a quarter of the work of a job's insert
  // and done update (callgrind, 200 of each a transaction behind 20,000 queued: 72,600 → 53,000
  // instructions a job; the SQLite thread's CPU a job under bench/durable.ts fell 15-25%).
  `DROP INDEX jobs_pending_owner;
   CREATE TABLE owners (owner TEXT PRIMARY KEY, lease INTEGER NOT NULL, min_lease INTEGER NOT NULL) WITHOUT ROWID;
   INSERT INTO owners (owner, lease, min_lease)
     SELECT coalesce(owner, ''), 0, min(lease_until) FROM jobs WHERE state IN ${PENDING_SQL} GROUP BY 1;`,
];

/*
 * OWNERS. Every owner of pending jobs has a row in `owners` (the key '' stands for jobs with no
 * owner), holding:
 *  - lease: the owner's own lease, which renew() sets. A pending job's lease is the later of its
 *    row's lease_until and its owner's lease, so renewing is one row written, however many jobs
 *    the owner holds (per-job leases rewrote each queued job once per half lease: a million
 *    queued jobs were 67,000 row writes a second with the default 30 s lease).
 *  - min_lease: no pending job of the owner has a lease_until below it (write() lowers it as it
 *    writes pending rows; claim() sets it exactly for the other owners it looked at, once it
 *    has taken all of their claimable jobs).
 * So a claim reads the jobs only when some other owner's max(lease, min_lease) has passed (a
 * dead or stopped server, or jobs with no owner) and on start-up; the jobs table needs no index
 * of pending jobs by owner. Otherwise a poll reads only this small table.
 */

/** A record as the insert statement's positional parameters, in FIELDS order, appended to `out`. */
function pushInsertArgs(out: unknown[], j: JobRecord): void {
  out.push(
    j.id,
    j.fn,
    j.unique,
    j.priority,
    j.data,
    j.state,
    j.attempts,
    j.maxAttempts,
    j.runAt,
    j.worker,
    j.createdAt,
    j.updatedAt,
    j.result,
    j.owner,
    j.leaseUntil,
  );
}

/**
 * Rows per multi-row statement. One statement of 25 rows instead of 25 statements: each run()
 * into better-sqlite3 has a fixed cost, and a batch folded per job (batch.ts) then costs a few
 * statements. Insert + done of 200k jobs, 200 changes a transaction: 15.6 → 10.2 µs CPU a job
 * (medians of 7 on 2 cores; only 25 was tried).
 */
const ROWS_PER_STATEMENT = 25;

const PENDING = `state IN ${PENDING_SQL}`;

/** Keep the lowest lease seen per owner key. */
function lower(low: Map<string, number>, key: string, lease: number): void {
  const cur = low.get(key);
  if (cur === undefined || lease < cur) low.set(key, lease);
}

export class SqliteStore implements JobStore {
  readonly durable = true;
  readonly name: string;
  private db: Database.Database | null = null;
  /** Prepared statements by shape (kind, fields, rows), built once. */
  private readonly statements = new Map<string, Database.Statement>();
  private applyTx!: Database.Transaction<(changes: readonly JobChange[]) => void>;
  /** Where the last page of a claim with includeOwn ended: its owner, lease and last rowid. */
  private ownPage: { owner: string; leaseUntil: number; rowid: number } | null = null;

  constructor(readonly file: string) {
    this.name = `sqlite:${file}`;
  }

  async open(): Promise<void> {
    try {
      if (this.file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(this.file)), { recursive: true });
      const db = new Database(this.file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      // 8 MB page cache instead of SQLite's 2 MB: the queue's hot pages (the table's tail and
      // three indexes) stay cached. Insert + update of 60k jobs, 40 a transaction: 35.4 → 30.7 µs
      // a job with named parameters (16 MB, one run on 2 cores). 8 MB fills a queue of 1M jobs
      // as fast as 16 MB does, with 9 MB less server RSS.
      db.pragma('cache_size = -8000');
      this.db = db;
      this.migrate(db);
    } catch (err) {
      throw new GeartrainError('GT_STORE_UNAVAILABLE', `Could not open the SQLite store ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    const db = this.db;
    // Positional parameters: binding 15 named ones looks each up on the object. Same 60k-job
    // run: insert 15.5 → 13.3 µs a job.
    this.applyTx = db.transaction((changes: readonly JobChange[]) => {
      const plan = planWrite(changes);
      this.inChunks(plan.inserts, (rows) => {
        const args: unknown[] = [];
        for (const j of rows) pushInsertArgs(args, j);
        this.insertStmt(rows.length).run(args);
      });
      const low = new Map<string, number>();
      for (const j of plan.inserts) if (isPending(j.state)) lower(low, j.owner ?? '', j.leaseUntil);
      const reread: string[] = [];
      for (const g of plan.updates) {
        // A row that may now be pending under another owner or lease (a claim, a retry, a job
        // put back): its owner's min_lease is lowered from the row as written.
        const moved = g.fields.includes('owner') || g.fields.includes('leaseUntil') || g.fields.includes('state');
        this.inChunks(g.rows, (rows) => {
          const args: unknown[] = [];
          for (const r of rows) {
            // One row: SET … WHERE id = ? (id last); several: VALUES (id, fields…).
            if (rows.length > 1) args.push(r.id);
            for (const f of g.fields) args.push(r.set[f]);
            if (rows.length === 1) args.push(r.id);
          }
          this.updateStmt(g.fields, rows.length).run(args);
        });
        if (moved) for (const r of g.rows) if (r.set.state === undefined || isPending(r.set.state)) reread.push(r.id);
      }
      this.inChunks(reread, (ids) => {
        for (const { k, m } of this.pendingLeasesStmt(ids.length).all(ids) as { k: string; m: number }[]) lower(low, k, m);
      });
      for (const [k, m] of low) this.lowerStmt.run(k, m);
    });
  }

  /** The lowest lease_until of the pending jobs among `rows` ids, by owner key. */
  private pendingLeasesStmt(rows: number): Database.Statement {
    return this.prepared(
      `pending leases ${rows}`,
      () => `SELECT coalesce(owner, '') AS k, min(lease_until) AS m FROM jobs WHERE id IN (${Array(rows).fill('?').join(', ')}) AND ${PENDING} GROUP BY k`,
    );
  }

  private get lowerStmt(): Database.Statement {
    return this.prepared(
      'lower',
      () =>
        'INSERT INTO owners (owner, lease, min_lease) VALUES (?, 0, ?) ON CONFLICT (owner) DO UPDATE SET min_lease = excluded.min_lease WHERE ' +
        'excluded.min_lease < min_lease',
    );
  }

  private migrate(db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`schema version ${version} is newer than this geartrain understands (${MIGRATIONS.length}); upgrade geartrain`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** `rows` in full chunks of ROWS_PER_STATEMENT, then the rest one by one. */
  private inChunks<T>(rows: readonly T[], run: (chunk: readonly T[]) => void): void {
    let i = 0;
    for (; i + ROWS_PER_STATEMENT <= rows.length; i += ROWS_PER_STATEMENT) run(rows.slice(i, i + ROWS_PER_STATEMENT));
    for (; i < rows.length; i++) run([rows[i]!]);
  }

  private prepared(key: string, sql: () => string): Database.Statement {
    let st = this.statements.get(key);
    if (!st) this.statements.set(key, (st = this.handle.prepare(sql())));
    return st;
  }

  private insertStmt(rows: number): Database.Statement {
    const one = `(${FIELDS.map(() => '?').join(', ')})`;
    return this.prepared(
      `insert ${rows}`,
      () => `INSERT OR REPLACE INTO jobs (${FIELDS.map((f) => COLUMNS[f]).join(', ')}) VALUES ${Array(rows).fill(one).join(', ')}`,
    );
  }

  /** An update of `fields` for `rows` jobs: one row by id, or several through a VALUES list (the ids are distinct: batch.ts folds per job). */
  private updateStmt(fields: readonly (keyof JobFields)[], rows: number): Database.Statement {
    return this.prepared(`update ${fields.join(',')} ${rows}`, () => {
      if (rows === 1) return `UPDATE jobs SET ${fields.map((f) => `${COLUMNS[f]} = ?`).join(', ')} WHERE id = ?`;
      const one = `(${Array(fields.length + 1)
        .fill('?')
        .join(', ')})`;
      const set = fields.map((f, i) => `${COLUMNS[f]} = v.column${i + 2}`).join(', ');
      return `UPDATE jobs SET ${set} FROM (VALUES ${Array(rows).fill(one).join(', ')}) AS v WHERE jobs.id = v.column1`;
    });
  }

  private get handle(): Database.Database {
    if (!this.db) throw new GeartrainError('GT_STORE_UNAVAILABLE', `The SQLite store ${this.file} is not open`);
    return this.db;
  }

  async write(changes: readonly JobChange[]): Promise<void> {
    if (changes.length === 0) return;
    this.handle;
    try {
      this.applyTx.immediate(changes);
    } catch (err) {
      // A value SQLite refuses cannot be written by trying again; a full disk or a locked file can.
      const code = String((err as { code?: unknown }).code ?? '');
      const refused = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code) || err instanceof RangeError || err instanceof TypeError;
      const text = (err as Error).message;
      if (refused) throw new GeartrainError('GT_INVALID_ARGUMENT', `The SQLite store ${this.file} refused the change: ${text}`, { cause: err });
      throw new GeartrainError('GT_STORE_UNAVAILABLE', `Could not write to the SQLite store ${this.file}: ${text}`, { cause: err });
    }
  }

  async ping(): Promise<void> {
    this.handle.prepare('SELECT 1').get();
  }

  async claim(owner: string, leaseUntil: number, limit: number, includeOwn = false): Promise<JobRecord[]> {
    const db = this.handle;
    const now = Date.now();
    return db
      .transaction(() => {
        // Other owners whose jobs may be claimable: no owner, or one whose every job's lease may
        // have passed. Usually none: then no job is read.
        const keys = db.prepare(`SELECT owner FROM owners WHERE owner = '' OR (owner <> ? AND max(lease, min_lease) < ?)`).pluck().all(owner, now) as string[];
        const rows: Row[] = [];
        if (keys.length > 0) {
          const sql = `SELECT j.* FROM jobs j JOIN owners o ON o.owner = coalesce(j.owner, '')
           WHERE j.${PENDING} AND o.owner IN (${keys.map(() => '?').join(', ')}) AND (j.owner IS NULL OR max(j.lease_until, o.lease) < ?)
           ORDER BY j.created_at, j.id LIMIT ?`;
          rows.push(...(db.prepare(sql).all(...keys, now, limit) as Row[]));
        }
        if (includeOwn && rows.length < limit) {
          // Its own, in the order they were written, from where the last page of the same claim
          // (the same lease) ended: a reload reads the table once, not once a page. NOT INDEXED:
          // through the state index SQLite read every pending job and sorted them, each page.
          const page = this.ownPage;
          const from = page !== null && page.owner === owner && page.leaseUntil === leaseUntil ? page.rowid : 0;
          const own = db
            .prepare(
              `SELECT rowid AS gt_rowid, * FROM jobs NOT INDEXED WHERE rowid > ? AND owner = ? AND ${PENDING} AND lease_until <> ? ORDER BY rowid LIMIT ?`,
            )
            .all(from, owner, leaseUntil, limit - rows.length) as Row[];
          if (own.length > 0) {
            const last = own[own.length - 1]!.gt_rowid as number;
            this.ownPage = { owner, leaseUntil, rowid: last };
            // The same rows, leased in one statement (one by one, this was most of a reload).
            db.prepare(`UPDATE jobs NOT INDEXED SET lease_until = ? WHERE rowid > ? AND rowid <= ? AND owner = ? AND ${PENDING} AND lease_until <> ?`).run(
              leaseUntil,
              from,
              last,
              owner,
              leaseUntil,
            );
          }
          rows.push(...own);
        }
        const take = db.prepare('UPDATE jobs SET owner = ?, lease_until = ? WHERE id = ?');
        for (const r of rows) if (r.gt_rowid === undefined) take.run(owner, leaseUntil, r.id);
        if (rows.length > 0) this.lowerStmt.run(owner, leaseUntil);
        // Once the other owners' claimable jobs are all taken (a short page): their exact bounds,
        // and an owner left without pending jobs is forgotten (a stopped server is looked at once).
        if (keys.length > 0 && rows.length < limit) {
          const exact = new Map(
            db
              .prepare(
                `SELECT coalesce(owner, '') AS k, min(lease_until) AS m FROM jobs WHERE ${PENDING} AND coalesce(owner, '') IN ` +
                  `(${keys.map(() => '?').join(', ')}) GROUP BY k`,
              )
              .raw()
              .all(...keys) as [string, number][],
          );
          const set = db.prepare('UPDATE owners SET min_lease = ? WHERE owner = ?');
          const forget = db.prepare('DELETE FROM owners WHERE owner = ?');
          for (const k of keys) {
            const m = exact.get(k);
            if (m === undefined) forget.run(k);
            else set.run(m, k);
          }
        }
        const own = this.ownerLeases().get(owner) ?? 0;
        return rows.map((r) => ({ ...fromRow(r), owner, leaseUntil: Math.max(leaseUntil, own) }));
        // IMMEDIATE: the write lock first. A read that later turns into a write fails at once with
        // "database is locked" when another connection (a second server on the same file) wrote
        // in between; asking for the lock up front waits for it (busy_timeout) instead.
      })
      .immediate();
  }

  async renew(owner: string, leaseUntil: number): Promise<void> {
    this.handle.prepare('UPDATE owners SET lease = ? WHERE owner = ?').run(leaseUntil, owner);
  }

  async release(owner: string): Promise<void> {
    const db = this.handle;
    db.transaction(() => {
      db.prepare(`UPDATE jobs SET lease_until = 0 WHERE owner = ? AND ${PENDING}`).run(owner);
      db.prepare('UPDATE owners SET lease = 0, min_lease = 0 WHERE owner = ?').run(owner);
    }).immediate();
  }

  /** Owner leases set by renew(), by owner key. */
  private ownerLeases(): Map<string, number> {
    return new Map(this.handle.prepare('SELECT owner, lease FROM owners WHERE lease > 0').raw().all() as [string, number][]);
  }

  /** Rows as records, a pending job's lease the later of its own and its owner's. */
  private records(rows: Row[]): JobRecord[] {
    const out = rows.map(fromRow);
    if (!out.some((r) => isPending(r.state))) return out;
    const leases = this.ownerLeases();
    for (const r of out) {
      const own = isPending(r.state) ? leases.get(r.owner ?? '') : undefined;
      if (own !== undefined && own > r.leaseUntil) r.leaseUntil = own;
    }
    return out;
  }

  async get(id: string): Promise<JobRecord | null> {
    const r = this.handle.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return r ? this.records([r])[0]! : null;
  }

  async list(f: JobFilter): Promise<JobRecord[]> {
    const { where, args } = filterSql(f, () => '?');
    const sql = `SELECT * FROM jobs ${where} ORDER BY updated_at DESC LIMIT ?`;
    return this.records(this.handle.prepare(sql).all(...args, f.limit ?? 100) as Row[]);
  }

  async prune(before: number): Promise<number> {
    return this.handle.prepare(`DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND updated_at < ?`).run(before).changes;
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
  }
}
