// The PostgreSQL store (pg): the job log in one table that several servers can share.
//
// claim() is one UPDATE over `SELECT … ORDER BY created_at LIMIT n FOR UPDATE SKIP LOCKED`:
// the sub-select locks the rows it returns, a concurrent claim skips them rather than wait,
// and a row another claim updated after this statement's snapshot is re-checked against the
// WHERE clause on its new version before it is locked (READ COMMITTED's EvalPlanQual), so a
// job just taken by another server with a live lease drops out. Two servers never get the
// same job, and neither waits on the other.
//
// write() is one transaction: the batch folded per job (batch.ts), then one
// `INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT DO UPDATE` for the inserts and one
// `UPDATE … FROM unnest(…)` per shape of update: 15 parameters however many rows, so no
// statement meets the 65,535-parameter limit.

import pg from 'pg';
import { approxSize, chunk, planWrite } from './batch.js';
import { COLUMNS, FIELDS, fromRow, PENDING_SQL, type Row } from './columns.js';
import { filterSql } from './filter.js';
import { byCreation, renewalDue } from './lease.js';
import { type Failure, NotConnected, PooledStore, refusedSqlState } from './pooled.js';
import type { JobChange, JobFilter, JobRecord, JobStore } from './types.js';
import { checkIdentifier, parseStoreUrl, type StoreUrl, timeoutOption } from './url.js';

/** Table of schema versions, one row per jobs table (shared by every `?table=`). */
const SCHEMA_TABLE = 'geartrain_schema';
const DEFAULT_TABLE = 'geartrain_jobs';
/** Room for the index names built from it within PostgreSQL's 63-byte identifiers. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,39}$/;
const CONNECT_TIMEOUT_MS = 5000;
/** Rows per statement, and bytes (payloads travel hex-encoded inside array literals). */
const CHUNK_ROWS = 5000;
const CHUNK_BYTES = 32 * 1024 * 1024;
const PRUNE_CHUNK = 10_000;

const SQL_TYPES: Record<keyof JobRecord, string> = {
  id: 'text',
  fn: 'text',
  unique: 'text',
  priority: 'smallint',
  data: 'bytea',
  state: 'text',
  attempts: 'integer',
  maxAttempts: 'integer',
  runAt: 'bigint',
  worker: 'text',
  createdAt: 'bigint',
  updatedAt: 'bigint',
  result: 'text',
  owner: 'text',
  leaseUntil: 'bigint',
};

interface Names {
  /** Quoted table name. */
  jobs: string;
  /** Quoted name of an index of that table. */
  index(suffix: string): string;
}

/**
 * Each entry migrates the schema of one jobs table from version i to i + 1, inside the
 * transaction that records the new version (PostgreSQL's DDL is transactional).
 */
const MIGRATIONS: readonly ((t: Names) => string[])[] = [
  (t) => [
    `CREATE TABLE ${t.jobs} (
       id text PRIMARY KEY,
       fn text NOT NULL,
       uniq text NOT NULL,
       priority smallint NOT NULL CHECK (priority BETWEEN 0 AND 2),
       data bytea,
       state text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'dead', 'cancelled')),
       attempts integer NOT NULL,
       max_attempts integer NOT NULL,
       run_at bigint NOT NULL,
       worker text,
       created_at bigint NOT NULL,
       updated_at bigint NOT NULL,
       result text,
       owner text,
       lease_until bigint NOT NULL
     )`,
    // list(state), prune; id breaks ties so "newest first" is a stable order.
    `CREATE INDEX ${t.index('state_updated')} ON ${t.jobs} (state, updated_at, id)`,
    // list() without a state, since.
    `CREATE INDEX ${t.index('updated')} ON ${t.jobs} (updated_at, id)`,
    // claim() ORs "no owner" (and at start-up "owner = me") with "lease ran out": a bitmap OR
    // of these two partial indexes finds the candidates without visiting the pending jobs
    // that live servers hold, which is most of them. renew() and release() use the first.
    `CREATE INDEX ${t.index('pending_owner')} ON ${t.jobs} (owner, lease_until) WHERE state IN ${PENDING_SQL}`,
    `CREATE INDEX ${t.index('pending_lease')} ON ${t.jobs} (lease_until) WHERE state IN ${PENDING_SQL}`,
  ],
];

/** SQLSTATEs after which the same operation can simply run again. */
const RETRY_CODES = new Set(['40P01', '40001', '57P01', '57P02', '57P03', '08000', '08003', '08006']);

/**
 * A connection that broke (no SQLSTATE: the error is the driver's) or a SQLSTATE worth another
 * try: again. A value the table cannot hold (22, 23, and 54 program_limit_exceeded, such as an
 * index row too large): refused. Anything else (a dropped table, no permission): down.
 */
function classify(err: unknown): Failure {
  // query_timeout (`?timeout=`): the server stopped answering. A fresh connection would only
  // wait out its connect timeout as well; report the store down now.
  if (err instanceof Error && err.message === 'Query read timeout') return 'down';
  if (!(err instanceof pg.DatabaseError)) return 'retry';
  if (RETRY_CODES.has(err.code ?? '')) return 'retry';
  if (refusedSqlState(err.code) || err.code?.startsWith('54')) return 'refused';
  return 'down';
}

/**
 * PostgreSQL text cannot hold NUL, and the texts that come from workers (an exception's
 * message, a client id) may: those NULs become U+FFFD, rather than fail the whole batch.
 * Names from the Gearman wire (function, unique, handle) cannot contain NUL, their separator.
 */
const FREE_TEXT = new Set<keyof JobRecord>(['worker', 'result']);
const column = (f: keyof JobRecord, v: unknown): unknown => (FREE_TEXT.has(f) && typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v);

export class PostgresStore extends PooledStore<pg.Pool> implements JobStore {
  readonly durable = true;
  protected readonly kind = 'PostgreSQL';
  protected readonly url: StoreUrl;
  private readonly table: string;
  private readonly t: Names;
  private readonly sql: {
    upsert: string;
    claim: string;
    claimWithOwn: string;
    renew: string;
    release: string;
    get: string;
    prune: string;
  };
  private readonly updates = new Map<string, string>();
  /** `?timeout=`: how long one query may wait for PostgreSQL (url.ts). */
  private readonly timeoutMs: number;

  constructor(url: string) {
    super();
    this.url = parseStoreUrl(url, ['table', 'timeout']);
    this.timeoutMs = timeoutOption(this.url);
    this.table = checkIdentifier(
      this.url.options.get('table') ?? DEFAULT_TABLE,
      'table',
      TABLE_NAME,
      'a table name of lowercase letters, digits and _ (at most 40)',
    );
    const jobs = `"${this.table}"`;
    this.t = { jobs, index: (s) => `"${this.table}_${s}"` };
    const cols = FIELDS.map((f) => COLUMNS[f]);
    const arrays = FIELDS.map((f, i) => `$${i + 1}::${SQL_TYPES[f]}[]`);
    this.sql = {
      upsert:
        `INSERT INTO ${jobs} (${cols.join(', ')}) SELECT * FROM unnest(${arrays.join(', ')}) ` +
        `ON CONFLICT (id) DO UPDATE SET ${cols
          .filter((c) => c !== 'id')
          .map((c) => `${c} = EXCLUDED.${c}`)
          .join(', ')}`,
      claim: claimSql(jobs, `owner IS NULL OR (owner <> $1 AND lease_until < $3)`),
      claimWithOwn: claimSql(jobs, `(owner = $1 AND lease_until <> $2) OR owner IS NULL OR lease_until < $3`),
      renew: `UPDATE ${jobs} SET lease_until = $2 WHERE owner = $1 AND lease_until < $3 AND state IN ${PENDING_SQL}`,
      release: `UPDATE ${jobs} SET lease_until = 0 WHERE owner = $1 AND state IN ${PENDING_SQL}`,
      get: `SELECT * FROM ${jobs} WHERE id = $1`,
      prune: `DELETE FROM ${jobs} WHERE id IN (SELECT id FROM ${jobs} ` + `WHERE state IN ('done', 'cancelled') AND updated_at < $1 LIMIT ${PRUNE_CHUNK})`,
    };
  }

  protected async connect(): Promise<pg.Pool> {
    const pool = new pg.Pool({
      connectionString: this.url.url.href,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // Client side: a server that stops answering fails the query (and its client is dropped).
      query_timeout: this.timeoutMs,
      keepAlive: true,
      fallback_application_name: 'geartrain',
    });
    // An idle client whose server went away (database restarted): the pool drops it and the
    // next query connects anew. Without a listener the 'error' event would end the process.
    pool.on('error', () => {});
    // The same for a client in use: pg emits its socket error on the client as well as failing
    // the query, and the pool listens only to idle clients, so a connection reset while a
    // transaction was open ended the server process. The query's own failure is what run()
    // acts on.
    pool.on('connect', (client) => client.on('error', () => {}));
    try {
      const client = await pool.connect();
      try {
        await this.migrate(client);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return pool;
  }

  protected endPool(pool: pg.Pool): Promise<void> {
    return pool.end();
  }

  private async migrate(c: pg.PoolClient): Promise<void> {
    await c.query('BEGIN');
    try {
      // Servers starting together take turns; the lock ends with the transaction.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('${SCHEMA_TABLE}'))`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (jobs_table text PRIMARY KEY, version integer NOT NULL)`);
      const r = await c.query<{ version: number }>(`SELECT version FROM ${SCHEMA_TABLE} WHERE jobs_table = $1`, [this.table]);
      const version = r.rows[0]?.version ?? 0;
      if (version > MIGRATIONS.length) {
        throw new Error(`schema version ${version} of table ${this.table} is newer than this geartrain understands (${MIGRATIONS.length}); upgrade geartrain`);
      }
      for (let v = version; v < MIGRATIONS.length; v++) for (const stmt of MIGRATIONS[v]!(this.t)) await c.query(stmt);
      if (version < MIGRATIONS.length) {
        await c.query(`INSERT INTO ${SCHEMA_TABLE} (jobs_table, version) VALUES ($1, $2) ON CONFLICT (jobs_table) DO UPDATE SET version = EXCLUDED.version`, [
          this.table,
          MIGRATIONS.length,
        ]);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /** Run `body` on one client, in a transaction if `tx`; retried and classified as pooled.ts says. */
  private run<T>(what: string, tx: boolean, body: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.retrying(
      what,
      async (pool) => {
        let client: pg.PoolClient;
        try {
          client = await pool.connect();
        } catch (err) {
          throw new NotConnected(err);
        }
        try {
          if (tx) await client.query('BEGIN');
          const out = await body(client);
          if (tx) await client.query('COMMIT');
          client.release();
          return out;
        } catch (err) {
          // A client that broke, or cannot even roll back, is not handed out again.
          let broken = !(err instanceof pg.DatabaseError);
          if (tx && !broken) await client.query('ROLLBACK').catch(() => (broken = true));
          client.release(broken);
          throw err;
        }
      },
      classify,
    );
  }

  async ping(): Promise<void> {
    await this.run('reach', false, (c) => c.query('SELECT 1'));
  }

  async write(changes: readonly JobChange[]): Promise<void> {
    if (changes.length === 0) return;
    const plan = planWrite(changes);
    await this.run('write to', true, async (c) => {
      for (const rows of chunk(plan.inserts, CHUNK_ROWS, CHUNK_BYTES, approxSize)) {
        await c.query(
          this.sql.upsert,
          FIELDS.map((f) => rows.map((r) => column(f, r[f]))),
        );
      }
      for (const g of plan.updates) {
        const sql = this.updateSql(g.fields);
        for (const rows of chunk(g.rows, CHUNK_ROWS, CHUNK_BYTES, (r) => approxSize(r.set))) {
          await c.query(sql, [rows.map((r) => r.id), ...g.fields.map((f) => rows.map((r) => column(f, r.set[f])))]);
        }
      }
    });
  }

  /** `UPDATE t SET a = v.a … FROM unnest($1::text[], $2::…[]) AS v(id, a …)`, built once per shape. */
  private updateSql(fields: readonly (keyof JobRecord)[]): string {
    const sig = fields.join(',');
    let sql = this.updates.get(sig);
    if (!sql) {
      const cols = fields.map((f) => COLUMNS[f]);
      const arrays = ['$1::text[]', ...fields.map((f, i) => `$${i + 2}::${SQL_TYPES[f]}[]`)];
      sql =
        `UPDATE ${this.t.jobs} AS t SET ${cols.map((c) => `${c} = v.${c}`).join(', ')} ` +
        `FROM unnest(${arrays.join(', ')}) AS v(id, ${cols.join(', ')}) WHERE t.id = v.id`;
      this.updates.set(sig, sql);
    }
    return sql;
  }

  async claim(owner: string, leaseUntil: number, limit: number, includeOwn = false): Promise<JobRecord[]> {
    const [name, text] = includeOwn ? [`gt_claim_own_${this.table}`, this.sql.claimWithOwn] : [`gt_claim_${this.table}`, this.sql.claim];
    const r = await this.run('claim jobs from', false, (c) => c.query<Row>({ name, text, values: [owner, leaseUntil, Date.now(), limit] }));
    return r.rows.map(fromRow).sort(byCreation);
  }

  /** Only the leases less than half renewed (see renewalDue): the others keep their row untouched. */
  async renew(owner: string, leaseUntil: number): Promise<void> {
    const values = [owner, leaseUntil, renewalDue(leaseUntil)];
    await this.run('renew leases in', false, (c) => c.query({ name: `gt_renew_${this.table}`, text: this.sql.renew, values }));
  }

  async release(owner: string): Promise<void> {
    await this.run('release leases in', false, (c) => c.query({ name: `gt_release_${this.table}`, text: this.sql.release, values: [owner] }));
  }

  async get(id: string): Promise<JobRecord | null> {
    const r = await this.run('read from', false, (c) => c.query<Row>({ name: `gt_get_${this.table}`, text: this.sql.get, values: [id] }));
    return r.rows[0] ? fromRow(r.rows[0]) : null;
  }

  async list(f: JobFilter): Promise<JobRecord[]> {
    const { where, args } = filterSql(f, (n) => `$${n}`);
    const sql = `SELECT * FROM ${this.t.jobs} ${where} ORDER BY updated_at DESC, id DESC LIMIT $${args.length + 1}`;
    args.push(f.limit ?? 100);
    const r = await this.run('list', false, (c) => c.query<Row>(sql, args));
    return r.rows.map(fromRow);
  }

  /** In chunks, so a week of finished jobs does not become one huge transaction. */
  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.run('prune', false, (c) => c.query(this.sql.prune, [before]));
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < PRUNE_CHUNK) return total;
    }
  }
}

/**
 * One statement: the sub-select locks up to $4 candidates (skipping rows another claim holds),
 * the UPDATE gives them to $1 until $2. $3 is now.
 */
function claimSql(jobs: string, candidates: string): string {
  return (
    `UPDATE ${jobs} SET owner = $1, lease_until = $2 WHERE id IN (` +
    `SELECT id FROM ${jobs} WHERE state IN ${PENDING_SQL} AND (${candidates}) ` +
    `ORDER BY created_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *`
  );
}
