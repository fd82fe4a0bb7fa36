// The database stores on the machine (MariaDB/MySQL, PostgreSQL, Redis) for tests that run job
// servers on them: where each listens, a fresh table or key prefix per test, and cleanup. The
// same URLs and isolation as test/integration/store.test.ts (GEARTRAIN_TEST_*_URL override).
//
// A service that is not reachable skips locally with the reason; under CI=true the suite fails
// instead (call `requireService` in a before hook).

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';

export const CI = process.env.CI === 'true';

export interface DbBackend {
  /** `postgres`, `mysql`, `redis`: also a safe part of names. */
  readonly title: string;
  /** For messages: `PostgreSQL`, … */
  readonly what: string;
  readonly env: string;
  /** The service's base URL (no table or prefix). */
  readonly base: string;
  readonly host: string;
  readonly port: number;
  /** A URL for a store of its own (fresh table or prefix), optionally through `via` (a proxy's port). */
  fresh(via?: number): string;
  /** Delete every table or key this backend's fresh() handed out. */
  drop(): Promise<void>;
}

/** Lower case: it ends up in table names. */
const RUN = `gt_t${process.pid}_${randomBytes(2).toString('hex')}`;
let seq = 0;

function withOption(base: string, key: string, value: string): string {
  const u = new URL(base);
  u.searchParams.set(key, value);
  return u.href;
}

function through(url: string, port: number | undefined): string {
  if (port === undefined) return url;
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.href;
}

function hostPort(base: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(base);
  return { host: u.hostname, port: Number(u.port || defaultPort) };
}

export function postgresBackend(): DbBackend {
  const base = process.env.GEARTRAIN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const tables: string[] = [];
  return {
    title: 'postgres',
    what: 'PostgreSQL',
    env: 'GEARTRAIN_TEST_POSTGRES_URL',
    base,
    ...hostPort(base, 5432),
    fresh(via) {
      const t = `${RUN}_${++seq}`;
      tables.push(t);
      return through(withOption(base, 'table', t), via);
    },
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        for (const t of tables.splice(0)) await c.query(`DROP TABLE IF EXISTS "${t}"`);
        await c.query('DELETE FROM geartrain_schema WHERE jobs_table LIKE $1', [`${RUN}%`]).catch(() => {});
      } finally {
        await c.end();
      }
    },
  };
}

/** `body` on a connection of its own to the MariaDB/MySQL database of `url`, closed after. */
export async function withMysql<T>(url: string, body: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const u = new URL(url);
  const c = await mysql.createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
  });
  try {
    return await body(c);
  } finally {
    await c.end();
  }
}

export function mysqlBackend(): DbBackend {
  const base = process.env.GEARTRAIN_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
  const tables: string[] = [];
  return {
    title: 'mysql',
    what: 'MariaDB/MySQL',
    env: 'GEARTRAIN_TEST_MYSQL_URL',
    base,
    ...hostPort(base, 3306),
    fresh(via) {
      const t = `${RUN}_${++seq}`;
      tables.push(t);
      return through(withOption(base, 'table', t), via);
    },
    drop: () =>
      withMysql(base, async (c) => {
        for (const t of tables.splice(0)) await c.query(`DROP TABLE IF EXISTS \`${t}\``);
        await c.query('DELETE FROM geartrain_schema WHERE jobs_table LIKE ?', [`${RUN}%`]).catch(() => {});
      }),
  };
}

export function redisBackend(): DbBackend {
  const base = process.env.GEARTRAIN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  return {
    title: 'redis',
    what: 'Redis',
    env: 'GEARTRAIN_TEST_REDIS_URL',
    base,
    ...hostPort(base, 6379),
    fresh(via) {
      return through(withOption(base, 'prefix', `${RUN}_${++seq}:`), via);
    },
    async drop() {
      const r = new Redis(base, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
      r.on('error', () => {});
      await r.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${RUN}_*`, 'COUNT', 1000);
          if (keys.length > 0) await r.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        r.disconnect();
      }
    },
  };
}

export const dbBackends = (): DbBackend[] => [postgresBackend(), mysqlBackend(), redisBackend()];

/** Whether something accepts TCP connections where the backend's service should be. */
export function reachable(b: DbBackend): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: b.host, port: b.port });
    s.setTimeout(2000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** describe() options and a before() check for a suite that needs `b`'s service. */
export async function serviceGate(b: DbBackend): Promise<{ skip: string | false; check(): void }> {
  const up = await reachable(b);
  const why = `${b.what} not reachable at ${b.host}:${b.port} (set ${b.env})`;
  return {
    skip: !up && !CI ? `${why}; skipped locally, CI=true fails instead` : false,
    check() {
      if (!up) throw new Error(`${why}: CI must run the ${b.title} tests`);
    },
  };
}
