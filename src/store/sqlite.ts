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
import { planWrite, type JobFields } from './batch.js';
import { COLUMNS, FIELDS, PENDING_SQL, fromRow, type Row } from './columns.js';
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
];

/** A record as the insert statement's positional parameters, in FIELDS order, appended to `out`. */
function pushInsertArgs(out: unknown[], j: JobRecord): void {
  out.push(j.id, j.fn, j.unique, j.priority, j.data, j.state, j.attempts, j.maxAttempts, j.runAt, j.worker, j.createdAt, j.updatedAt, j.result, j.owner, j.leaseUntil);
}

/**
 * Rows per multi-row statement. One statement of 25 rows instead of 25 statements: each run()
 * into better-sqlite3 has a fixed cost, and a batch folded per job (batch.ts) then costs a few
 * statements. Insert + done of 200k jobs, 200 changes a transaction: 15.6 → 10.2 µs CPU a job
 * (medians of 7, 2-core bench machine; only 25 was tried).
 */
const ROWS_PER_STATEMENT = 25;

const PENDING = `state IN ${PENDING_SQL}`;

export class SqliteStore implements JobStore {
  readonly durable = true;
  readonly name: string;
  private db: Database.Database | null = null;
  /** Prepared statements by shape (kind, fields, rows), built once. */
  private readonly statements = new Map<string, Database.Statement>();
  private applyTx!: Database.Transaction<(changes: readonly JobChange[]) => void>;

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
      // a job with named parameters (16 MB, one run, 2-core bench machine). 8 MB filled a queue
      // of 1M jobs as fast as 16 MB did, and the server's RSS was 9 MB less.
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
      for (const g of plan.updates) {
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
      }
    });
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
    return this.prepared(`insert ${rows}`, () => `INSERT OR REPLACE INTO jobs (${FIELDS.map((f) => COLUMNS[f]).join(', ')}) VALUES ${Array(rows).fill(one).join(', ')}`);
  }

  /** An update of `fields` for `rows` jobs: one row by id, or several through a VALUES list (the ids are distinct: batch.ts folds per job). */
  private updateStmt(fields: readonly (keyof JobFields)[], rows: number): Database.Statement {
    return this.prepared(`update ${fields.join(',')} ${rows}`, () => {
      if (rows === 1) return `UPDATE jobs SET ${fields.map((f) => `${COLUMNS[f]} = ?`).join(', ')} WHERE id = ?`;
      const one = `(${Array(fields.length + 1).fill('?').join(', ')})`;
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
    return db.transaction(() => {
      // One OR over (own, unowned, expired) made SQLite read every pending row and sort them,
      // every poll (1 s): with 300k jobs queued that was most of the server's time and the
      // fill rate fell from 25k to under 5k jobs/s. As a UNION each arm is a range of the
      // partial index (owner, lease_until), and a server's own live rows are never read.
      const own = includeOwn ? `SELECT * FROM jobs WHERE ${PENDING} AND owner = @owner UNION ALL ` : '';
      const rows = db
        .prepare(
          `SELECT * FROM (${own}SELECT * FROM jobs WHERE ${PENDING} AND owner IS NULL
             UNION ALL SELECT * FROM jobs INDEXED BY jobs_pending_owner WHERE ${PENDING} AND owner < @owner AND lease_until < @now
             UNION ALL SELECT * FROM jobs INDEXED BY jobs_pending_owner WHERE ${PENDING} AND owner > @owner AND lease_until < @now)
           ORDER BY created_at LIMIT @limit`,
        )
        .all({ owner, now, limit }) as Row[];
      const take = db.prepare('UPDATE jobs SET owner = ?, lease_until = ? WHERE id = ?');
      for (const r of rows) {
        take.run(owner, leaseUntil, r.id);
        r.owner = owner;
        r.lease_until = leaseUntil;
      }
      return rows.map(fromRow);
      // IMMEDIATE: the write lock first. A read that later turns into a write fails at once with
      // "database is locked" when another connection (a second server on the same file) wrote
      // in between; asking for the lock up front waits for it (busy_timeout) instead.
    }).immediate();
  }

  async renew(owner: string, leaseUntil: number): Promise<void> {
    // Only rows with less than half of a lease left: renewing every pending row every poll
    // rewrote each queued job once a second (20k row updates/s behind a 20k backlog, about 13%
    // of the server's CPU in bench/durable.ts). A row is still never less than half a lease
    // from expiry while its owner polls, so no other server can take it.
    const now = Date.now();
    const halfway = now + Math.floor((leaseUntil - now) / 2);
    this.handle.prepare(`UPDATE jobs SET lease_until = ? WHERE owner = ? AND lease_until < ? AND ${PENDING}`).run(leaseUntil, owner, halfway);
  }

  async release(owner: string): Promise<void> {
    this.handle.prepare(`UPDATE jobs SET lease_until = 0 WHERE owner = ? AND ${PENDING}`).run(owner);
  }

  async get(id: string): Promise<JobRecord | null> {
    const r = this.handle.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  async list(f: JobFilter): Promise<JobRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.state !== undefined) (where.push('state = ?'), args.push(f.state));
    if (f.fn !== undefined) (where.push('fn = ?'), args.push(f.fn));
    if (f.since !== undefined) (where.push('updated_at >= ?'), args.push(f.since));
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC LIMIT ?`;
    return (this.handle.prepare(sql).all(...args, f.limit ?? 100) as Row[]).map(fromRow);
  }

  async prune(before: number): Promise<number> {
    return this.handle.prepare(`DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND updated_at < ?`).run(before).changes;
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
  }
}
