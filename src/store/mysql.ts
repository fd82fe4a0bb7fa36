// The MySQL / MariaDB store (mysql2): the job log in one InnoDB table that several servers
// can share. MariaDB 10.6+ or MySQL 8.0+ (SKIP LOCKED).
//
// claim() is one transaction: `SELECT … FOR UPDATE SKIP LOCKED LIMIT n`, then an UPDATE of
// the rows it locked. A locking read in InnoDB reads the latest committed row, not the
// snapshot, so a job another server claimed a moment ago is seen with its new owner and
// lease and no longer matches; one it holds right now is skipped, not waited for. The SELECT
// has no ORDER BY on purpose: InnoDB locks rows as it reads them, so a sort would read (and
// lock) every candidate before the LIMIT applied, and a concurrent claim would find them all
// locked. Sessions run READ COMMITTED, so rows read but not matching are unlocked at once.
//
// Text columns that are compared (id, fn, uniq, owner) are VARBINARY: MySQL's collations
// would otherwise make 'A' = 'a' and 'a' = 'a ', and two jobs could share an id.

import mysql from 'mysql2/promise';
import { gtError, invalidArgument } from '../errors.js';
import { approxSize, chunk, planWrite } from './batch.js';
import { COLUMNS, FIELDS, fromRow, PENDING_SQL, type Row } from './columns.js';
import { filterSql } from './filter.js';
import { byCreation, renewalDue } from './lease.js';
import { type Failure, NoAnswer, NotConnected, PooledStore, refusedSqlState, withDeadline } from './pooled.js';
import type { JobChange, JobFilter, JobRecord, JobStore } from './types.js';
import { checkIdentifier, parseStoreUrl, type StoreUrl, timeoutOption } from './url.js';

/** Table of schema versions, one row per jobs table (shared by every `?table=`). */
const SCHEMA_TABLE = 'geartrain_schema';
const DEFAULT_TABLE = 'geartrain_jobs';
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,47}$/;
const CONNECT_TIMEOUT_MS = 5000;
const INSERT_CHUNK_ROWS = 5000;
/** The session's temporary table of the updates of one write(). */
const CHANGES = 'geartrain_changes';
const PRUNE_CHUNK = 10_000;
/**
 * Strict mode, so a bad value fails the statement: in the default non-strict modes a NULL in
 * a NOT NULL column of a multi-row INSERT silently becomes '' or 0.
 */
const SQL_MODE = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO';

/**
 * Each entry migrates the schema of one jobs table from version i to i + 1. MySQL DDL is not
 * transactional, so each migration is one statement (this first one creates the table with
 * its indexes at once) and opens take turns under GET_LOCK.
 */
const MIGRATIONS: readonly ((table: string) => string[])[] = [
  (t) => [
    `CREATE TABLE \`${t}\` (
       id VARBINARY(255) NOT NULL PRIMARY KEY,
       fn VARBINARY(2048) NOT NULL,
       uniq VARBINARY(255) NOT NULL,
       priority TINYINT NOT NULL CHECK (priority BETWEEN 0 AND 2),
       data LONGBLOB NULL,
       state VARCHAR(9) CHARACTER SET ascii COLLATE ascii_bin NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'dead', 'cancelled')),
       attempts INT NOT NULL,
       max_attempts INT NOT NULL,
       run_at BIGINT NOT NULL,
       worker TEXT NULL,
       created_at BIGINT NOT NULL,
       updated_at BIGINT NOT NULL,
       result MEDIUMTEXT NULL,
       owner VARBINARY(255) NULL,
       lease_until BIGINT NOT NULL,
       KEY state_updated (state, updated_at),
       KEY owner_lease (owner, lease_until),
       KEY lease (lease_until),
       KEY updated (updated_at)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  ],
];

/** Column types of the temporary table of updates: wide enough for any value of the table's. */
const CHANGE_TYPES: Record<keyof JobRecord, string> = {
  id: 'VARBINARY(255)',
  fn: 'VARBINARY(2048)',
  unique: 'VARBINARY(255)',
  priority: 'INT',
  data: 'LONGBLOB',
  state: 'VARCHAR(16) CHARACTER SET ascii',
  attempts: 'BIGINT',
  maxAttempts: 'BIGINT',
  runAt: 'BIGINT',
  worker: 'MEDIUMTEXT CHARACTER SET utf8mb4',
  createdAt: 'BIGINT',
  updatedAt: 'BIGINT',
  result: 'MEDIUMTEXT CHARACTER SET utf8mb4',
  owner: 'VARBINARY(255)',
  leaseUntil: 'BIGINT',
};

/** Errors after which the same operation can simply run again (see run()). */
const RETRY_ERRNOS = new Set([1213 /* deadlock */, 1205 /* lock wait timeout */, 1927 /* connection killed */, 4031 /* idle disconnect */]);
/** Errors caused by the data that carry no 22/23 SQLSTATE: bad string value, bad datetime, statement over max_allowed_packet. */
const REFUSED_ERRNOS = new Set([1366, 1292, 1153]);

/**
 * A value the table cannot hold: refused (checked first: MariaDB closes the connection after a
 * statement over max_allowed_packet, which would otherwise look like a broken connection). A
 * connection that broke under the statement, a deadlock: again. Anything else: down.
 */
function classify(err: unknown): Failure {
  const e = err as { fatal?: boolean; errno?: number; sqlState?: string };
  if (REFUSED_ERRNOS.has(e.errno ?? 0) || refusedSqlState(e.sqlState)) return 'refused';
  if (e.fatal === true || RETRY_ERRNOS.has(e.errno ?? 0)) return 'retry';
  return 'down';
}

const quote = (c: string): string => `\`${c}\``;

export class MysqlStore extends PooledStore<mysql.Pool> implements JobStore {
  readonly durable = true;
  protected readonly kind = 'MySQL';
  protected readonly url: StoreUrl;
  private readonly table: string;
  /** Connections whose session settings are made (by the driver's connection object). */
  private readonly ready = new WeakSet<object>();
  private readonly sql: { upsert: string; claim: string; claimWithOwn: string; renew: string; release: string };
  /**
   * Bytes one statement may take: half the server's max_allowed_packet, read at open. chunk()
   * already counts payloads twice (they travel as hex), so this leaves room to spare.
   */
  private statementBytes = 4 * 1024 * 1024;
  /** `?timeout=`: how long one operation may wait for MySQL (url.ts). */
  private readonly timeoutMs: number;

  constructor(url: string) {
    super();
    this.url = parseStoreUrl(url, ['table', 'timeout']);
    this.timeoutMs = timeoutOption(this.url);
    this.table = checkIdentifier(
      this.url.options.get('table') ?? DEFAULT_TABLE,
      'table',
      TABLE_NAME,
      'a table name of lowercase letters, digits and _ (at most 48)',
    );
    const u = this.url.url;
    if (u.pathname.length <= 1) throw gtError('GT_STORE_URL_INVALID', `${this.name} (no database: mysql://user:password@host:3306/DATABASE)`);
    for (const key of u.searchParams.keys()) throw invalidArgument('no option but table or timeout', 'store URL', key);
    const t = quote(this.table);
    const cols = FIELDS.map((f) => quote(COLUMNS[f]));
    this.sql = {
      // VALUES(col) is deprecated in MySQL 8.0.20 in favour of a row alias that MariaDB lacks.
      upsert: `INSERT INTO ${t} (${cols.join(', ')}) VALUES ? ON DUPLICATE KEY UPDATE ${cols
        .slice(1)
        .map((c) => `${c} = VALUES(${c})`)
        .join(', ')}`,
      claim: `SELECT * FROM ${t} WHERE state IN ${PENDING_SQL} AND (owner IS NULL OR (owner <> ? AND lease_until < ?)) LIMIT ? FOR UPDATE SKIP LOCKED`,
      claimWithOwn:
        `SELECT * FROM ${t} WHERE state IN ${PENDING_SQL} AND ((owner = ? AND lease_until <> ?) OR owner IS NULL OR lease_until < ?) LIMIT ? FOR UPDATE ` +
        `SKIP LOCKED`,
      renew: `UPDATE ${t} SET lease_until = ? WHERE owner = ? AND lease_until < ? AND state IN ${PENDING_SQL}`,
      release: `UPDATE ${t} SET lease_until = 0 WHERE owner = ? AND state IN ${PENDING_SQL}`,
    };
  }

  protected async connect(): Promise<mysql.Pool> {
    const u = this.url.url;
    const pool = mysql.createPool({
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port ? Number(u.port) : 3306,
      user: decodeURIComponent(u.username) || undefined,
      password: this.url.password || undefined,
      database: decodeURIComponent(u.pathname.slice(1)),
      charset: 'utf8mb4',
      connectTimeout: CONNECT_TIMEOUT_MS,
      enableKeepAlive: true,
      supportBigNumbers: true,
      connectionLimit: 10,
    });
    // A broken connection's error reaches the statement that was running; the pool removes
    // the connection on the first 'error' only, and one more with nobody listening would end
    // the process.
    pool.pool.on('connection', (c) => c.on('error', () => {}));
    try {
      await this.withConnection(pool, async (c) => {
        await this.migrate(c);
        const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT @@max_allowed_packet AS m');
        this.statementBytes = Math.floor(Number(rows[0]?.m ?? 2 * this.statementBytes) / 2);
      });
    } catch (err) {
      await pool.end().catch(() => {});
      throw err instanceof NotConnected ? err.cause : err;
    }
    return pool;
  }

  protected endPool(pool: mysql.Pool): Promise<void> {
    return pool.end();
  }

  private async migrate(c: mysql.PoolConnection): Promise<void> {
    const lock = `geartrain:${this.table}`; // at most 64 characters
    const [got] = await c.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, 30) AS got', [lock]);
    if (got[0]?.got !== 1) throw new Error(`another server held the schema lock ${lock} for 30 s`);
    try {
      await c.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (jobs_table VARCHAR(64) NOT NULL PRIMARY KEY, version INT NOT NULL) ENGINE=InnoDB`);
      const [rows] = await c.query<mysql.RowDataPacket[]>(`SELECT version FROM ${SCHEMA_TABLE} WHERE jobs_table = ?`, [this.table]);
      const version = Number(rows[0]?.version ?? 0);
      if (version > MIGRATIONS.length) {
        throw new Error(`schema version ${version} of table ${this.table} is newer than this geartrain understands (${MIGRATIONS.length}); upgrade geartrain`);
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        for (const stmt of MIGRATIONS[v]!(this.table)) await c.query(stmt);
        await c.query(`INSERT INTO ${SCHEMA_TABLE} (jobs_table, version) VALUES (?, ?) ON DUPLICATE KEY UPDATE version = VALUES(version)`, [this.table, v + 1]);
      }
    } finally {
      await c.query('SELECT RELEASE_LOCK(?)', [lock]);
    }
  }

  /** One pooled connection, its session set up on first use; dropped if it broke. */
  private async withConnection<T>(pool: mysql.Pool, body: (c: mysql.PoolConnection) => Promise<T>): Promise<T> {
    let c: mysql.PoolConnection;
    try {
      c = await pool.getConnection();
    } catch (err) {
      throw new NotConnected(err);
    }
    try {
      if (!this.ready.has(c.connection)) {
        await c.query(`SET SESSION sql_mode = '${SQL_MODE}'`);
        await c.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
        this.ready.add(c.connection);
      }
      const out = await withDeadline(body(c), this.timeoutMs);
      c.release();
      return out;
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal === true || err instanceof NoAnswer) c.destroy();
      else c.release();
      throw err;
    }
  }

  /** Run `body` on one connection, in a transaction if `tx`; retried and classified as pooled.ts says. */
  private run<T>(what: string, tx: boolean, body: (c: mysql.PoolConnection) => Promise<T>): Promise<T> {
    return this.retrying(
      what,
      (pool) =>
        this.withConnection(pool, async (c) => {
          if (!tx) return body(c);
          await c.query('START TRANSACTION');
          try {
            const out = await body(c);
            await c.query('COMMIT');
            return out;
          } catch (err) {
            // A connection that cannot even roll back is not handed out again.
            await c.query('ROLLBACK').catch(() => c.destroy());
            throw err;
          }
        }),
      classify,
    );
  }

  async ping(): Promise<void> {
    await this.run('reach', false, (c) => c.query('SELECT 1'));
  }

  async write(changes: readonly JobChange[]): Promise<void> {
    if (changes.length === 0) return;
    const plan = planWrite(changes);
    const budget = this.statementBytes;
    await this.run('write to', true, async (c) => {
      for (const rows of chunk(plan.inserts, INSERT_CHUNK_ROWS, budget, approxSize)) {
        await c.query(this.sql.upsert, [rows.map((r) => FIELDS.map((f) => r[f]))]);
      }
      for (const g of plan.updates) {
        // A multi-row UPDATE: the new values go into a temporary table of exactly typed
        // columns, then one UPDATE joins it. (A derived table of literals would be shorter,
        // but MariaDB 10.11 silently cuts binary literals in a UNION to 64 KiB.)
        const cols = g.fields.map((f) => quote(COLUMNS[f]));
        await c.query(`DROP TEMPORARY TABLE IF EXISTS ${CHANGES}`);
        await c.query(
          `CREATE TEMPORARY TABLE ${CHANGES} (id ${CHANGE_TYPES.id} PRIMARY KEY, ` +
            `${g.fields.map((f) => `${quote(COLUMNS[f])} ${CHANGE_TYPES[f]} NULL`).join(', ')})`,
        );
        for (const rows of chunk(g.rows, INSERT_CHUNK_ROWS, budget, (r) => approxSize(r.set))) {
          await c.query(`INSERT INTO ${CHANGES} (id, ${cols.join(', ')}) VALUES ?`, [rows.map((r) => [r.id, ...g.fields.map((f) => r.set[f] ?? null)])]);
        }
        await c.query(`UPDATE ${quote(this.table)} AS t JOIN ${CHANGES} AS v ON t.id = v.id SET ${cols.map((col) => `t.${col} = v.${col}`).join(', ')}`);
        await c.query(`DROP TEMPORARY TABLE ${CHANGES}`);
      }
    });
  }

  async claim(owner: string, leaseUntil: number, limit: number, includeOwn = false): Promise<JobRecord[]> {
    return this.run('claim jobs from', true, async (c) => {
      const args = includeOwn ? [owner, leaseUntil, Date.now(), limit] : [owner, Date.now(), limit];
      const [rows] = await c.query<mysql.RowDataPacket[]>(includeOwn ? this.sql.claimWithOwn : this.sql.claim, args);
      if (rows.length === 0) return [];
      const jobs = rows.map((r) => fromRow(r as Row));
      await c.query(`UPDATE ${quote(this.table)} SET owner = ?, lease_until = ? WHERE id IN (?)`, [owner, leaseUntil, jobs.map((j) => j.id)]);
      for (const j of jobs) {
        j.owner = owner;
        j.leaseUntil = leaseUntil;
      }
      return jobs.sort(byCreation);
    });
  }

  /** Only the leases less than half renewed (see renewalDue): the others keep their row untouched. */
  async renew(owner: string, leaseUntil: number): Promise<void> {
    await this.run('renew leases in', false, (c) => c.query(this.sql.renew, [leaseUntil, owner, renewalDue(leaseUntil)]));
  }

  async release(owner: string): Promise<void> {
    await this.run('release leases in', false, (c) => c.query(this.sql.release, [owner]));
  }

  async get(id: string): Promise<JobRecord | null> {
    const [rows] = await this.run('read from', false, (c) => c.query<mysql.RowDataPacket[]>(`SELECT * FROM ${quote(this.table)} WHERE id = ?`, [id]));
    return rows[0] ? fromRow(rows[0] as Row) : null;
  }

  async list(f: JobFilter): Promise<JobRecord[]> {
    const { where, args } = filterSql(f, () => '?');
    const sql = `SELECT * FROM ${quote(this.table)} ${where} ORDER BY updated_at DESC, id DESC LIMIT ?`;
    const [rows] = await this.run('list', false, (c) => c.query<mysql.RowDataPacket[]>(sql, [...args, f.limit ?? 100]));
    return rows.map((r) => fromRow(r as Row));
  }

  /** In chunks, so a week of finished jobs does not become one huge transaction. */
  async prune(before: number): Promise<number> {
    const sql = `DELETE FROM ${quote(this.table)} WHERE state IN ('done', 'cancelled') AND updated_at < ? LIMIT ${PRUNE_CHUNK}`;
    let total = 0;
    for (;;) {
      const [r] = await this.run('prune', false, (c) => c.query<mysql.ResultSetHeader>(sql, [before]));
      total += r.affectedRows;
      if (r.affectedRows < PRUNE_CHUNK) return total;
    }
  }
}
