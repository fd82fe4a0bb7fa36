// Background no-op jobs with a durable queue: geartrain on its SQLite store (a fresh file per
// run) against gearmand in memory and against gearmand's libsqlite3 queue (also a fresh file);
// then geartrain on MariaDB, PostgreSQL and Redis against gearmand with its own queue in the
// same database (a fresh table or key prefix per run, dropped after it). A database that is not
// running on its usual local port is left out, with a line saying so.
// Each server start measures end to end (submitted AND completed, bounded backlog, as in
// background-noop.ts) and then submit only (the queue fills) on the same server.
// Targets (docs/benchmarks.md): geartrain-sqlite ≥ 1× gearmand in memory; ≥ 20× gearmand with sqlite.
// It sets none for the database stores: their rows are information.
//
// Windows are shorter than background-noop.ts so the scenario stays near a minute at 3 runs
// (2 cases × 2 servers × 3 runs × about 5 s) plus the database cases.

import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { endToEnd as noopEndToEnd } from './background-noop.js';
import { type Case, cpuNote, fmt, type RunningServer, runLoad, type Sample, type Scenario, type ServerArgs } from './lib/harness.js';
import type { LoadConfig } from './load.js';

const endToEnd: Omit<LoadConfig, 'port'> = { ...noopEndToEnd, warmupMs: 500, measureMs: 2000, fn: 'bench_durable' };

const submitOnly: Omit<LoadConfig, 'port'> = {
  ...endToEnd,
  mode: 'submit-only',
  workers: 0,
  warmupMs: 300,
  measureMs: 1200,
  fn: 'bench_durable_fill',
};

/** Temporary directories holding this process's store files; each is removed after its run. */
let dirs: string[] = [];
function tmpDb(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return path.join(dir, 'jobs.db');
}
function cleanup(): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
}

const geartrainSqlite = (): string[] => ['--store', `sqlite:${tmpDb('geartrain-bench-')}`];

async function measure(server: RunningServer, uniques = false): Promise<Sample> {
  const e = await runLoad(server, { ...endToEnd, uniques });
  const s = await runLoad(server, { ...submitOnly, uniques });
  const jobs = e.completed / e.seconds;
  const submits = s.created / s.seconds;
  const perJob = (cores: number, rate: number): string => `${((cores / rate) * 1e6).toFixed(1)} µs cpu/job`;
  return {
    values: { jobs, submits },
    note:
      `e2e ${fmt(jobs, 'jobs/s')} (${perJob(e.serverCpu, jobs)}; ${cpuNote(e)}); submit ${fmt(submits, 'jobs/s')} (${perJob(s.serverCpu, submits)}; ` +
      `${cpuNote(s)})`,
    otherCpu: Math.max(e.otherCpu, s.otherCpu),
    raw: { endToEnd: e, submitOnly: s },
  };
}

function durableCase(
  name: string,
  args: ServerArgs,
  target: number | undefined,
  versus: string,
  store = 'sqlite',
  after: () => void | Promise<void> = cleanup,
  uniques = false,
): Case {
  return {
    name,
    config: { endToEnd, submitOnly, uniques, serverArgs: { geartrain: store, gearmand: versus } },
    serverArgs: args,
    cleanup: after,
    metrics: [
      {
        key: 'jobs',
        label: `bg no-op jobs/s, gt ${store} vs gearmand ${versus}${uniques ? ', unique ids' : ''}`,
        unit: 'jobs/s',
        better: 'higher',
        ...(target === undefined ? {} : { target }),
      },
      { key: 'submits', label: `bg submit-only jobs/s, gt ${store} vs gearmand ${versus}${uniques ? ', unique ids' : ''}`, unit: 'jobs/s', better: 'higher' },
    ],
    measure: (server) => measure(server, uniques),
  };
}

// ---- the database stores -----------------------------------------------------------------

/** Whether something accepts connections on 127.0.0.1:port (within a second). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** The tables (or key prefixes) of this run, for the database's cleanup. */
let runTables: string[] = [];
const nextTable = (): string => {
  const t = `bench_${process.pid}_${Date.now().toString(36)}_${runTables.length}`;
  runTables.push(t);
  return t;
};

interface Db {
  title: string;
  port: number;
  /** geartrain's store URL and gearmand's queue arguments, both on a fresh table. */
  geartrain(table: string): string[];
  gearmand(table: string): string[];
  /** Drop what a run made. */
  drop(tables: string[]): Promise<void>;
}

const DBS: Db[] = [
  {
    title: 'mariadb',
    port: 3306,
    geartrain: (t) => ['--store', `mysql://root@127.0.0.1:3306/test?table=${t}`],
    gearmand: (t) => [
      '-q',
      'MySQL',
      '--mysql-host',
      '127.0.0.1',
      '--mysql-port',
      '3306',
      '--mysql-user',
      'root',
      '--mysql-db',
      'test',
      '--mysql-table',
      `${t}_gq`,
    ],
    async drop(tables) {
      const mysql = (await import('mysql2/promise')).default;
      const c = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
      try {
        for (const t of tables) await c.query(`DROP TABLE IF EXISTS \`${t}\`, \`${t}_gq\``);
        if (tables.length > 0) await c.query(`DELETE FROM geartrain_schema WHERE jobs_table IN (?)`, [tables]).catch(() => {});
      } finally {
        await c.end();
      }
    },
  },
  {
    title: 'postgres',
    port: 5432,
    geartrain: (t) => ['--store', `postgres://postgres@127.0.0.1:5432/test?table=${t}`],
    gearmand: (t) => ['-q', 'Postgres', '--libpq-conninfo', 'host=127.0.0.1 port=5432 user=postgres dbname=test', '--libpq-table', `${t}_gq`],
    async drop(tables) {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
      await c.connect();
      try {
        for (const t of tables) await c.query(`DROP TABLE IF EXISTS "${t}", "${t}_gq"`);
        if (tables.length > 0) await c.query('DELETE FROM geartrain_schema WHERE jobs_table = ANY($1)', [tables]).catch(() => {});
      } finally {
        await c.end();
      }
    },
  },
  {
    title: 'redis',
    port: 6379,
    geartrain: (t) => ['--store', `redis://127.0.0.1:6379/0?prefix=${t}`],
    gearmand: (t) => ['-q', 'redis', '--redis-server', '127.0.0.1', '--redis-port', '6379', '--redis-prefix', `${t}_gq:`],
    async drop(tables) {
      const { Redis } = await import('ioredis');
      const r = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
      await r.connect();
      try {
        for (const t of tables) {
          for (const pattern of [`${t}:*`, `${t}_gq:*`]) {
            for (let cursor = '0'; ; ) {
              const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
              if (keys.length > 0) await r.del(...keys);
              cursor = next;
              if (cursor === '0') break;
            }
          }
        }
      } finally {
        r.disconnect();
      }
    },
  },
];

async function databaseCases(): Promise<Case[]> {
  const cases: Case[] = [];
  for (const db of DBS) {
    if (!(await listening(db.port))) {
      console.log(`durable: no ${db.title} on 127.0.0.1:${db.port}; its cases are left out`);
      continue;
    }
    // One table per server start: geartrain's and gearmand's runs never share one.
    const args: ServerArgs = {
      geartrain: () => db.geartrain(nextTable()),
      gearmand: () => db.gearmand(nextTable()),
    };
    const after = async (): Promise<void> => {
      const tables = runTables;
      runTables = [];
      await db.drop(tables).catch((err: Error) => console.log(`durable: could not drop the ${db.title} bench tables ${tables.join(', ')}: ${err.message}`));
    };
    // With a unique id per job: gearmand's SQL queues refuse anonymous jobs after the first (load.ts).
    cases.push(durableCase(`geartrain ${db.title} vs gearmand ${db.title}`, args, undefined, db.title, db.title, after, true));
  }
  return cases;
}

export const scenario: Scenario = {
  name: 'durable',
  cases: [
    durableCase('geartrain sqlite vs gearmand in memory', { geartrain: geartrainSqlite }, 1, 'memory'),
    durableCase(
      'geartrain sqlite vs gearmand libsqlite3',
      { geartrain: geartrainSqlite, gearmand: () => ['-q', 'libsqlite3', '--libsqlite3-db', tmpDb('gearmand-bench-')] },
      20,
      'sqlite',
    ),
    ...(await databaseCases()),
  ],
};
