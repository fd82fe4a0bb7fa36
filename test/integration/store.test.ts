// The JobStore contract, one suite run against every store: memory, SQLite (a temp file), and
// the real MariaDB/MySQL, PostgreSQL and Redis on the machine. Each test gets a store of its
// own (a fresh table, key prefix or file) and everything is dropped at the end.
//
// A database that is not reachable skips its block locally, with the reason; under CI=true
// it fails instead: CI must run them all. Point the suite elsewhere with
// GEARTRAIN_TEST_MYSQL_URL, GEARTRAIN_TEST_POSTGRES_URL and GEARTRAIN_TEST_REDIS_URL.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import pg from 'pg';
import { GeartrainError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { JobRecord, JobStore } from '../../src/store/types.js';
import { withMysql } from '../helpers/stores.js';
import { sleep } from '../helpers/wait.js';

const CI = process.env.CI === 'true';
/** Lower case: it ends up in table names. */
const RUN = `gt_test_${process.pid}_${randomBytes(3).toString('hex')}`;
const PASSWORD = 'n0t-the-pa55word';

// ---- backends --------------------------------------------------------------------------------

interface Backend {
  title: string;
  /** Where the service must be listening; none for in-process stores. */
  service?: { what: string; url: string; env: string };
  /** A new, empty store location, as a URL. */
  fresh(): string;
  /** A store instance on that location (not opened). Two calls give two instances. */
  make(url: string): Promise<JobStore>;
  drop(): Promise<void>;
  /** Why a case does not apply to this store, by case. */
  skip?: Partial<Record<'atomic' | 'refuse' | 'reopen' | 'unreachable' | 'kill', string>>;
  /** A location that cannot be opened, with a password in it if the store has any. */
  unreachable?: string;
  /** Cut the server side of every connection of the store at `url`. */
  kill?(url: string): Promise<void>;
}

let seq = 0;
const withOption = (base: string, key: string, value: string): string => {
  const u = new URL(base);
  u.searchParams.set(key, value);
  return u.href;
};

function memoryBackend(): Backend {
  const stores = new Map<string, MemoryStore>();
  return {
    title: 'memory',
    fresh: () => `memory:${++seq}`,
    // One Map per location: "two instances on one location" are one object here.
    make: async (url) => {
      const store = stores.get(url) ?? new MemoryStore();
      stores.set(url, store);
      return store;
    },
    drop: async () => stores.clear(),
    skip: {
      atomic: 'the memory store applies changes to a Map and has no failure to roll back',
      refuse: 'the memory store holds any value',
      reopen: 'the memory store is not durable: nothing survives close()',
      unreachable: 'the memory store has nothing to connect to',
      kill: 'the memory store has no connection',
    },
  };
}

function sqliteBackend(): Backend {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geartrain-store-'));
  fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
  return {
    title: 'sqlite',
    fresh: () => `sqlite:${path.join(dir, `${++seq}.db`)}`,
    make: (url) => createStore(url),
    drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    unreachable: `sqlite:${path.join(dir, 'not-a-dir', 'jobs.db')}`,
    skip: {
      kill: 'an embedded SQLite file has no connection to cut',
      refuse: 'the SQLite table has no CHECK constraints: it stores any state or priority',
    },
  };
}

function mysqlBackend(): Backend {
  const base = process.env.GEARTRAIN_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
  const tables: string[] = [];
  const admin = <T>(body: (c: mysql.Connection) => Promise<T>): Promise<T> => withMysql(base, body);
  return {
    title: 'mysql (MariaDB/MySQL)',
    service: { what: 'MariaDB/MySQL', url: base, env: 'GEARTRAIN_TEST_MYSQL_URL' },
    fresh: () => {
      const t = `${RUN}_${++seq}`;
      tables.push(t);
      return withOption(base, 'table', t);
    },
    make: (url) => createStore(url),
    drop: () =>
      admin(async (c) => {
        for (const t of tables) await c.query(`DROP TABLE IF EXISTS \`${t}\``);
        await c.query('DELETE FROM geartrain_schema WHERE jobs_table LIKE ?', [`${RUN}%`]).catch(() => {});
      }),
    unreachable: `mysql://root:${PASSWORD}@127.0.0.1:1/test`,
    skip: {
      kill: "MariaDB without performance_schema cannot tell this store's connections from other clients' on a shared server",
    },
  };
}

function postgresBackend(): Backend {
  const base = process.env.GEARTRAIN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const tables: string[] = [];
  const admin = async <T>(body: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      return await body(c);
    } finally {
      await c.end();
    }
  };
  return {
    title: 'postgres',
    service: { what: 'PostgreSQL', url: base, env: 'GEARTRAIN_TEST_POSTGRES_URL' },
    fresh: () => {
      const t = `${RUN}_${++seq}`;
      tables.push(t);
      // The application name marks this store's sessions, for kill().
      return withOption(withOption(base, 'table', t), 'application_name', t);
    },
    make: (url) => createStore(url),
    drop: () =>
      admin(async (c) => {
        for (const t of tables) await c.query(`DROP TABLE IF EXISTS "${t}"`);
        await c.query('DELETE FROM geartrain_schema WHERE jobs_table LIKE $1', [`${RUN}%`]).catch(() => {});
      }),
    unreachable: `postgres://postgres:${PASSWORD}@127.0.0.1:1/test`,
    kill: (url) =>
      admin(async (c) => {
        const name = new URL(url).searchParams.get('application_name');
        const r = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
        assert.ok(r.rowCount! > 0, 'no session to kill');
      }),
  };
}

function redisBackend(): Backend {
  const base = process.env.GEARTRAIN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const admin = async <T>(body: (r: Redis) => Promise<T>): Promise<T> => {
    const r = new Redis(base, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    r.on('error', () => {});
    await r.connect();
    try {
      return await body(r);
    } finally {
      r.disconnect();
    }
  };
  return {
    title: 'redis',
    service: { what: 'Redis', url: base, env: 'GEARTRAIN_TEST_REDIS_URL' },
    fresh: () => withOption(base, 'prefix', `${RUN}_${++seq}:`),
    make: (url) => createStore(url),
    drop: () =>
      admin(async (r) => {
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${RUN}_*`, 'COUNT', 1000);
          if (keys.length > 0) await r.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      }),
    unreachable: `redis://:${PASSWORD}@127.0.0.1:1/0`,
    kill: (url) =>
      admin(async (r) => {
        const name = `geartrain:${new URL(url).searchParams.get('prefix')}`;
        const list = (await r.client('LIST')) as string;
        const ids = list
          .split('\n')
          .filter((line) => line.includes(` name=${name} `))
          .map((line) => /\bid=(\d+)/.exec(line)![1]!);
        assert.ok(ids.length > 0, 'no connection to kill');
        for (const id of ids) await r.client('KILL', 'ID', id);
      }),
  };
}

/** Whether something accepts TCP connections at the URL's host and port. */
function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || defaultPort) });
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

const PORTS: Record<string, number> = { 'mysql:': 3306, 'mariadb:': 3306, 'postgres:': 5432, 'postgresql:': 5432, 'redis:': 6379, 'rediss:': 6379 };
const backends = [memoryBackend(), sqliteBackend(), mysqlBackend(), postgresBackend(), redisBackend()];
const up = new Map<Backend, boolean>();
for (const b of backends) up.set(b, b.service ? await reachable(b.service.url, PORTS[new URL(b.service.url).protocol] ?? 0) : true);

// ---- helpers -------------------------------------------------------------------------------

const T0 = Date.now();

function job(id: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    fn: 'resize',
    unique: `u-${id}`,
    priority: 1,
    data: Buffer.from(`payload ${id}`),
    state: 'queued',
    attempts: 0,
    maxAttempts: 3,
    runAt: T0,
    worker: null,
    createdAt: T0,
    updatedAt: T0,
    result: null,
    owner: null,
    leaseUntil: 0,
    ...over,
  };
}

const ids = (jobs: readonly JobRecord[]): string[] => jobs.map((j) => j.id).sort();

// ---- the suite -----------------------------------------------------------------------------

for (const b of backends) {
  const missing = b.service && !up.get(b);
  const why = missing ? `${b.service!.what} not reachable at ${new URL(b.service!.url).host} (set ${b.service!.env})` : undefined;
  describe(`JobStore: ${b.title}`, { skip: missing && !CI ? `${why}; skipped locally, CI=true fails instead` : false }, () => {
    const opened: JobStore[] = [];

    before(() => {
      if (missing) throw new Error(`${why}: CI must run the ${b.title} store tests`);
    });
    after(async () => {
      for (const s of opened) await s.close().catch(() => {});
      if (!missing) await b.drop();
    });

    const locations = new Map<JobStore, string>();
    const where = (s: JobStore): string => locations.get(s)!;

    /** Open a new instance on `url` (a fresh location if none). */
    async function open(url = b.fresh()): Promise<JobStore> {
      const s = await b.make(url);
      opened.push(s);
      locations.set(s, url);
      await s.open();
      return s;
    }

    it('round-trips every field, binary data with NULs and a 1 MiB payload', async () => {
      const s = await open();
      const big = randomBytes(1024 * 1024);
      big.fill(0, 1000, 2000);
      const jobs = [
        job('rt-1', {
          fn: 'thumb\u00e9\u00ff', // the server decodes names from the wire as latin1
          unique: 'uniq \u00fc 1',
          priority: 2,
          data: Buffer.from([0, 0xff, 0, 10, 0, 0x80]),
          state: 'running',
          attempts: 2,
          maxAttempts: 7,
          runAt: T0 + 5,
          worker: 'host-1 client-9',
          createdAt: T0 - 10,
          updatedAt: T0 + 1,
          result: 'émoji 🎞 text',
          owner: 'srv-a',
          leaseUntil: T0 + 30_000,
        }),
        job('rt-2', { data: big, priority: 0 }),
        job('rt-3', { data: null, state: 'done', result: 'ok' }),
        job('rt-4', { data: Buffer.alloc(0) }),
      ];
      await s.write(jobs.map((j) => ({ op: 'insert', job: j })));
      for (const j of jobs) assert.deepEqual(await s.get(j.id), j, j.id);
      assert.equal(await s.get('no-such-job'), null);
    });

    it('ids differing only in case or trailing spaces are different jobs', async () => {
      const s = await open();
      const jobs = ['Case-A', 'case-a', 'case-a ', 'case-\u00e4'].map((id, i) => job(id, { fn: i % 2 ? 'Fn' : 'fn', data: Buffer.from([i]) }));
      await s.write(jobs.map((j) => ({ op: 'insert', job: j })));
      for (const j of jobs) assert.deepEqual(await s.get(j.id), j, JSON.stringify(j.id));
      assert.deepEqual(ids(await s.list({ fn: 'fn' })), ['Case-A', 'case-a ']);
    });

    it('texts from workers may hold NUL; the batch still commits', async () => {
      const s = await open();
      await s.write([
        { op: 'insert', job: job('nul-1', { worker: 'host\0id' }) },
        { op: 'update', id: 'nul-1', set: { state: 'failed', result: 'bad\0byte' } },
      ]);
      const got = (await s.get('nul-1'))!;
      // PostgreSQL text cannot hold NUL: it becomes U+FFFD there.
      assert.match(got.result!, /^bad[\0\uFFFD]byte$/u);
      assert.match(got.worker!, /^host[\0\uFFFD]id$/u);
    });

    it('one write() larger than a statement: many payloads and updates, still one batch', async () => {
      const s = await open();
      const mib = Array.from({ length: 24 }, (_, i) => job(`big-${i}`, { data: Buffer.alloc(1024 * 1024, i) }));
      const small = Array.from({ length: 6000 }, (_, i) => job(`small-${i}`, { data: null }));
      await s.write([...mib, ...small].map((j) => ({ op: 'insert', job: j })));
      await s.write([
        ...small.map((j, i) => ({ op: 'update' as const, id: j.id, set: { state: 'running' as const, worker: `w ${i}`, updatedAt: T0 + i } })),
        ...mib.map((j) => ({ op: 'update' as const, id: j.id, set: { data: Buffer.alloc(1024 * 1024, 0xee) } })),
      ]);
      assert.deepEqual(await s.get('small-5999'), { ...small[5999]!, state: 'running', worker: 'w 5999', updatedAt: T0 + 5999 });
      assert.deepEqual((await s.get('big-23'))!.data, Buffer.alloc(1024 * 1024, 0xee));
      assert.equal((await s.list({ state: 'running', limit: 10_000 })).length, 6000);
    });

    it('an insert of an existing id replaces the whole row', async () => {
      const s = await open();
      await s.write([{ op: 'insert', job: job('up-1', { worker: 'w 1', result: 'x', owner: 'srv-a', leaseUntil: T0 + 9 }) }]);
      const again = job('up-1', { fn: 'other', data: Buffer.from([1, 0, 2]) });
      await s.write([{ op: 'insert', job: again }]);
      assert.deepEqual(await s.get('up-1'), again);
      assert.equal((await s.list({})).length, 1);
    });

    it('an update changes only the fields it names; an unknown id is left alone', async () => {
      const s = await open();
      const j = job('upd-1', { owner: 'srv-a', leaseUntil: T0 + 100 });
      await s.write([{ op: 'insert', job: j }]);
      await s.write([{ op: 'update', id: 'upd-1', set: { state: 'running', worker: 'h 1', updatedAt: T0 + 10 } }]);
      assert.deepEqual(await s.get('upd-1'), { ...j, state: 'running', worker: 'h 1', updatedAt: T0 + 10 });
      await s.write([{ op: 'update', id: 'upd-1', set: { state: 'done', data: null, result: 'fine', attempts: 1, updatedAt: T0 + 20 } }]);
      assert.deepEqual(await s.get('upd-1'), { ...j, state: 'done', worker: 'h 1', data: null, result: 'fine', attempts: 1, updatedAt: T0 + 20 });
      await s.write([{ op: 'update', id: 'upd-nope', set: { state: 'done' } }]);
      assert.equal(await s.get('upd-nope'), null);
    });

    it('changes in one batch apply in their order', async () => {
      const s = await open();
      const z2 = job('ord-z', { fn: 'second' });
      await s.write([
        { op: 'insert', job: job('ord-x') },
        { op: 'update', id: 'ord-y', set: { state: 'dead' } }, // before its insert: no row yet
        { op: 'update', id: 'ord-x', set: { state: 'running', worker: 'w 2' } },
        { op: 'insert', job: job('ord-y') },
        { op: 'insert', job: job('ord-z', { state: 'failed' }) },
        { op: 'update', id: 'ord-x', set: { state: 'done', data: null, updatedAt: T0 + 1 } },
        { op: 'update', id: 'ord-z', set: { result: 'lost' } },
        { op: 'insert', job: z2 },
      ]);
      assert.deepEqual(await s.get('ord-x'), job('ord-x', { state: 'done', worker: 'w 2', data: null, updatedAt: T0 + 1 }));
      assert.deepEqual(await s.get('ord-y'), job('ord-y'));
      assert.deepEqual(await s.get('ord-z'), z2);
      await s.write([]);
    });

    it('write() is atomic: a batch with one bad change applies nothing', { skip: b.skip?.atomic }, async () => {
      const s = await open();
      const before = [job('at-b'), job('at-c')];
      await s.write(before.map((j) => ({ op: 'insert', job: j })));
      const noFn = null as unknown as string;
      // The bad insert travels with good ones.
      await assert.rejects(
        s.write([
          { op: 'insert', job: job('at-a') },
          { op: 'update', id: 'at-b', set: { state: 'running', updatedAt: T0 + 5 } },
          { op: 'insert', job: job('at-bad', { fn: noFn }) },
        ]),
      );
      // The bad update comes after statements that succeed: they must be rolled back.
      await assert.rejects(
        s.write([
          { op: 'insert', job: job('at-a') },
          { op: 'update', id: 'at-b', set: { state: 'running', updatedAt: T0 + 5 } },
          { op: 'update', id: 'at-c', set: { fn: noFn } },
        ]),
      );
      assert.equal(await s.get('at-a'), null);
      assert.equal(await s.get('at-bad'), null);
      assert.deepEqual(await s.get('at-b'), before[0]);
      assert.deepEqual(await s.get('at-c'), before[1]);
      // And the store still works.
      await s.write([{ op: 'insert', job: job('at-a') }]);
      assert.deepEqual(await s.get('at-a'), job('at-a'));
    });

    it('a value the store cannot hold is refused (GT_INVALID_ARGUMENT), not reported as the store being down', { skip: b.skip?.refuse }, async () => {
      const s = await open();
      await s.ping();
      await s.write([{ op: 'insert', job: job('ref-1') }]);
      const refusal = async (changes: Parameters<JobStore['write']>[0]): Promise<GeartrainError> => {
        const err = await s.write(changes).then(
          () => assert.fail('write() succeeded'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof GeartrainError, String(err));
        return err;
      };
      const bad = await refusal([{ op: 'update', id: 'ref-1', set: { state: 'bogus' as 'done' } }]);
      assert.equal(bad.code, 'GT_INVALID_ARGUMENT', bad.message);
      assert.ok(!bad.message.includes('\n'), bad.message);
      const badInsert = await refusal([{ op: 'insert', job: job('ref-2', { priority: 9 as 0 }) }]);
      assert.equal(badInsert.code, 'GT_INVALID_ARGUMENT', badInsert.message);
      assert.equal((await s.get('ref-1'))!.state, 'queued');
      await s.ping();
    });

    it('claim leases pending jobs to one owner; another gets them once the lease has run out', async () => {
      const a = await open();
      const other = await open(where(a));
      const pending = [
        ...[1, 2, 3, 4].map((i) => job(`cl-q${i}`)),
        job('cl-run', { state: 'running', owner: 'srv-gone', leaseUntil: T0 - 1 }),
        job('cl-fail', { state: 'failed', owner: 'srv-gone', leaseUntil: T0 - 1 }),
      ];
      const finished = (['done', 'dead', 'cancelled'] as const).map((state) => job(`cl-${state}`, { state }));
      const held = job('cl-held', { owner: 'srv-live', leaseUntil: Date.now() + 600_000 });
      await a.write([...pending, ...finished, held].map((j) => ({ op: 'insert', job: j })));

      const lease = Date.now() + 700;
      const got = await a.claim('srv-a', lease, 100);
      assert.deepEqual(ids(got), ids(pending));
      for (const j of got) {
        assert.equal(j.owner, 'srv-a');
        assert.equal(j.leaseUntil, lease);
        assert.deepEqual(await other.get(j.id), j, 'claim returns the jobs as stored');
      }
      assert.deepEqual(await other.claim('srv-b', Date.now() + 60_000, 100), [], 'a live lease is not taken');
      assert.deepEqual(await a.claim('srv-a', lease, 100), [], 'its own jobs only with includeOwn');
      assert.deepEqual(ids(await a.claim('srv-a', lease + 1, 100, true)), ids(pending), 'includeOwn: its own jobs again');
      assert.equal((await a.claim('srv-a', lease, 2, true)).length, 2, 'limit');

      while (Date.now() <= lease + 1) await sleep(20);
      const taken = await other.claim('srv-b', Date.now() + 60_000, 100);
      assert.deepEqual(ids(taken), ids(pending));
      assert.ok(taken.every((j) => j.owner === 'srv-b'));
      assert.deepEqual(await a.claim('srv-a', Date.now() + 60_000, 100), []);
      assert.equal((await a.get('cl-held'))!.owner, 'srv-live');
    });

    it('includeOwn at start-up takes back the owner’s jobs, expired or not; without it they stay', async () => {
      const s = await open();
      const live = [1, 2, 3].map((i) => job(`own-live-${i}`, { owner: 'srv-a', leaseUntil: Date.now() + 900_000 }));
      const expired = [1, 2].map((i) => job(`own-exp-${i}`, { state: 'running', owner: 'srv-a', leaseUntil: T0 - 1 }));
      const mine = [...live, ...expired];
      await s.write(mine.map((j) => ({ op: 'insert', job: j })));
      assert.deepEqual(await s.claim('srv-a', Date.now() + 1000, 100), [], 'not without includeOwn, even expired');
      const lease = Date.now() + 600_000;
      const got = await s.claim('srv-a', lease, 100, true);
      assert.deepEqual(ids(got), ids(mine));
      assert.ok(got.every((j) => j.leaseUntil === lease && j.owner === 'srv-a'));
      // Each job once, however it qualified, and the limit holds across both kinds.
      const fresh = [1, 2, 3].map((i) => job(`own-new-${i}`, { createdAt: T0 - 100 + i }));
      await s.write(fresh.map((j) => ({ op: 'insert', job: j })));
      const some = ids(await s.claim('srv-a', Date.now() + 5000, 7, true)); // shorter than the leases held
      assert.equal(new Set(some).size, 7, some.join());
      assert.deepEqual(ids(await s.claim('srv-a', lease + 2, 100, true)), ids([...mine, ...fresh]));
    });

    it('includeOwn in pages with one lease: each of the owner’s jobs once, then nothing', async () => {
      const s = await open();
      const mine = Array.from({ length: 25 }, (_, i) => job(`pg-${String(i).padStart(2, '0')}`, { owner: 'srv-a', leaseUntil: T0 + i, createdAt: T0 + i }));
      await s.write(mine.map((j) => ({ op: 'insert', job: j })));
      const lease = Date.now() + 600_000;
      const pages: string[][] = [];
      for (let i = 0; i < 4; i++) pages.push(ids(await s.claim('srv-a', lease, 10, true)));
      assert.deepEqual(
        pages.map((p) => p.length),
        [10, 10, 5, 0],
      );
      assert.deepEqual(pages.flat().sort(), ids(mine));
      assert.equal((await s.claim('srv-a', lease + 1, 100, true)).length, 25, 'another lease: all of them again');
    });

    it('an owner holding more jobs than the limit still takes over a dead server’s jobs', async () => {
      const s = await open();
      const far = Date.now() + 600_000;
      const held = Array.from({ length: 20 }, (_, i) => job(`st-held-${i}`, { owner: 'srv-a', leaseUntil: far, createdAt: T0 - 100 + i }));
      const orphans = Array.from({ length: 5 }, (_, i) => job(`st-orphan-${i}`, { owner: 'srv-dead', leaseUntil: T0 - 1, createdAt: T0 + i }));
      await s.write([...held, ...orphans].map((j) => ({ op: 'insert', job: j })));
      assert.deepEqual(ids(await s.claim('srv-a', far, 5)), ids(orphans));
    });

    it('two owners claiming at once never get the same job', async () => {
      const s1 = await open();
      const s2 = await open(where(s1));
      const all = Array.from({ length: 200 }, (_, i) => job(`cc-${String(i).padStart(3, '0')}`, { createdAt: T0 + i }));
      await s1.write(all.map((j) => ({ op: 'insert', job: j })));
      const seen = new Map<string, string>();
      let rounds = 0;
      for (; rounds < 10; rounds++) {
        const far = Date.now() + 600_000;
        const [g1, g2] = await Promise.all([s1.claim('srv-1', far, 50), s2.claim('srv-2', far, 50)]);
        if (g1.length + g2.length === 0) break;
        for (const [owner, got] of [
          ['srv-1', g1],
          ['srv-2', g2],
        ] as const) {
          assert.ok(got.length <= 50);
          for (const j of got) {
            assert.equal(j.owner, owner);
            assert.ok(!seen.has(j.id), `${j.id} claimed by ${seen.get(j.id)} and ${owner}`);
            seen.set(j.id, owner);
          }
        }
        // Finish what was claimed, so the next round claims new jobs.
        const done = (got: JobRecord[]) => got.map((j) => ({ op: 'update' as const, id: j.id, set: { state: 'done' as const, updatedAt: Date.now() } }));
        await Promise.all([s1.write(done(g1)), s2.write(done(g2))]);
      }
      assert.equal(seen.size, 200, 'every job claimed once');
      assert.ok(rounds >= 2, `${rounds} rounds`);
    });

    it('renew extends the lease of the owner’s pending jobs only', async () => {
      const a = await open();
      const other = await open(where(a));
      await a.write([
        ...[1, 2, 3].map((i) => ({ op: 'insert' as const, job: job(`rn-${i}`) })),
        { op: 'insert', job: job('rn-done', { state: 'done', owner: 'srv-a', leaseUntil: 5 }) },
        { op: 'insert', job: job('rn-b', { owner: 'srv-b', leaseUntil: T0 + 1 }) },
      ]);
      const short = Date.now() + 300;
      assert.equal((await a.claim('srv-a', short, 3)).length, 3);
      const long = Date.now() + 600_000;
      await a.renew('srv-a', long);
      for (const i of [1, 2, 3]) assert.equal((await other.get(`rn-${i}`))!.leaseUntil, long);
      assert.equal((await other.get('rn-done'))!.leaseUntil, 5, 'a finished job keeps its lease');
      assert.equal((await other.get('rn-b'))!.leaseUntil, T0 + 1, "another owner's lease is untouched");
      while (Date.now() <= short) await sleep(20);
      assert.deepEqual(ids(await other.claim('srv-c', Date.now() + 1000, 100)), ['rn-b'], 'renewed jobs are not taken');
    });

    it('release makes the owner’s jobs claimable at once', async () => {
      const a = await open();
      const other = await open(where(a));
      await a.write([1, 2, 3, 4].map((i) => ({ op: 'insert', job: job(`rl-${i}`, { state: i === 4 ? 'running' : 'queued' }) })));
      assert.equal((await a.claim('srv-a', Date.now() + 600_000, 100)).length, 4);
      assert.deepEqual(await other.claim('srv-b', Date.now() + 600_000, 100), []);
      await a.release('srv-a');
      const got = await other.claim('srv-b', Date.now() + 600_000, 100);
      assert.deepEqual(ids(got), ['rl-1', 'rl-2', 'rl-3', 'rl-4']);
      assert.equal(got.find((j) => j.id === 'rl-4')!.state, 'running', 'release changes only the lease');
    });

    it('list filters by state, function and time, newest first, up to a limit', async () => {
      const s = await open();
      const states = ['queued', 'running', 'failed', 'dead', 'done', 'cancelled'] as const;
      const jobs = Array.from({ length: 18 }, (_, i) =>
        job(`ls-${String(i).padStart(2, '0')}`, { fn: i % 3 === 0 ? 'f-three' : 'f-other', state: states[i % 6]!, updatedAt: T0 + i * 1000 }),
      );
      await s.write(jobs.map((j) => ({ op: 'insert', job: j })));
      const newestFirst = (pred: (j: JobRecord) => boolean): string[] =>
        jobs
          .filter(pred)
          .reverse()
          .map((j) => j.id);
      const listed = async (f: Parameters<JobStore['list']>[0]): Promise<string[]> => (await s.list(f)).map((j) => j.id);

      assert.deepEqual(
        await listed({}),
        newestFirst(() => true),
      );
      assert.deepEqual(
        await listed({ state: 'failed' }),
        newestFirst((j) => j.state === 'failed'),
      );
      assert.deepEqual(
        await listed({ fn: 'f-three' }),
        newestFirst((j) => j.fn === 'f-three'),
      );
      assert.deepEqual(
        await listed({ fn: 'f-three', state: 'queued' }),
        newestFirst((j) => j.fn === 'f-three' && j.state === 'queued'),
      );
      assert.deepEqual(
        await listed({ since: T0 + 12_000 }),
        newestFirst((j) => j.updatedAt >= T0 + 12_000),
      );
      assert.deepEqual(
        await listed({ since: T0 + 5000, state: 'done', fn: 'f-other' }),
        newestFirst((j) => j.updatedAt >= T0 + 5000 && j.state === 'done' && j.fn === 'f-other'),
      );
      assert.deepEqual(await listed({ limit: 3 }), newestFirst(() => true).slice(0, 3));
      assert.deepEqual(await listed({ state: 'queued', limit: 1 }), ['ls-12']);
      assert.deepEqual(await listed({ fn: 'no-such-fn' }), []);
      assert.deepEqual(await listed({ since: T0 + 99_000 }), []);
      const full = await s.list({ state: 'dead' });
      assert.deepEqual(full[0], jobs[15], 'whole records');

      // A job that changes state and time moves in every index.
      await s.write([{ op: 'update', id: 'ls-00', set: { state: 'failed', fn: 'f-moved', updatedAt: T0 + 50_000 } }]);
      assert.ok(!(await listed({ state: 'queued' })).includes('ls-00'));
      assert.deepEqual((await listed({ state: 'failed' }))[0], 'ls-00');
      assert.deepEqual(await listed({ fn: 'f-moved' }), ['ls-00']);
      assert.ok(!(await listed({ fn: 'f-three' })).includes('ls-00'));
      assert.deepEqual((await listed({ limit: 1 }))[0], 'ls-00');

      // The default limit is 100.
      await s.write(Array.from({ length: 110 }, (_, i) => ({ op: 'insert' as const, job: job(`ls-many-${i}`, { data: null }) })));
      assert.equal((await s.list({})).length, 100);
    });

    it('prune deletes done and cancelled jobs last updated before the cutoff', async () => {
      const s = await open();
      const cutoff = T0;
      const old = cutoff - 1000;
      const jobs = [
        job('pr-done-old', { state: 'done', updatedAt: old }),
        job('pr-cancelled-old', { state: 'cancelled', updatedAt: old }),
        job('pr-done-new', { state: 'done', updatedAt: cutoff }),
        job('pr-dead-old', { state: 'dead', updatedAt: old }),
        job('pr-failed-old', { state: 'failed', updatedAt: old }),
        job('pr-queued-old', { state: 'queued', updatedAt: old }),
      ];
      await s.write(jobs.map((j) => ({ op: 'insert', job: j })));
      assert.equal(await s.prune(cutoff), 2);
      assert.equal(await s.get('pr-done-old'), null);
      assert.equal(await s.get('pr-cancelled-old'), null);
      assert.deepEqual(ids(await s.list({})), ids(jobs.slice(2)));
      assert.deepEqual(ids(await s.list({ state: 'done' })), ['pr-done-new']);
      assert.deepEqual(await s.list({ state: 'cancelled' }), []);
      assert.equal(await s.prune(cutoff), 0);

      // More than one chunk of deletes.
      await s.write(
        Array.from({ length: 2500 }, (_, i) => ({ op: 'insert' as const, job: job(`pr-bulk-${i}`, { state: 'done', data: null, updatedAt: old - i }) })),
      );
      assert.equal(await s.prune(cutoff), 2500);
      assert.deepEqual(ids(await s.list({ limit: 1000 })), ids(jobs.slice(2)));
    });

    it('reopens with its data, and opening again does not migrate it away', { skip: b.skip?.reopen }, async () => {
      const first = await open();
      const j = job('ro-1', { data: Buffer.from([0, 1, 0]), owner: 'srv-a', leaseUntil: T0 + 1 });
      await first.write([{ op: 'insert', job: j }]);
      await Promise.all([first.close(), first.close()]);
      await first.close();
      await assert.rejects(first.get('ro-1'), GeartrainError, 'a closed store refuses calls');
      // Two servers starting on the same store at once.
      const [second, third] = await Promise.all([open(where(first)), open(where(first))]);
      assert.deepEqual(await second.get('ro-1'), j);
      assert.deepEqual(await third.get('ro-1'), j);
      await second.write([{ op: 'insert', job: job('ro-2') }]);
      await second.close();
      const fourth = await open(where(first));
      assert.deepEqual(ids(await fourth.list({})), ['ro-1', 'ro-2']);
    });

    it('open() of an unreachable store fails fast with one line and no password', { skip: b.skip?.unreachable }, async () => {
      const s = await b.make(b.unreachable!);
      const started = Date.now();
      const err = await s.open().then(
        () => assert.fail('open() succeeded'),
        (e: unknown) => e,
      );
      assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`);
      assert.ok(err instanceof GeartrainError, String(err));
      assert.equal(err.code, 'GT_STORE_UNAVAILABLE');
      assert.ok(!err.message.includes(PASSWORD), err.message);
      assert.ok(!err.message.includes('\n'), err.message);
      assert.match(err.message, /127\.0\.0\.1:1|not-a-dir/);
      await s.close();
    });

    it('recovers by itself when its connections are cut', { skip: b.skip?.kill }, async () => {
      const s = await open();
      await s.write([{ op: 'insert', job: job('kill-1') }]);
      await b.kill!(where(s));
      // The next calls may fail, but quickly and with the store's code, and soon succeed.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const started = Date.now();
        try {
          await s.write([{ op: 'update', id: 'kill-1', set: { state: 'running' } }]);
          break;
        } catch (err) {
          assert.ok(err instanceof GeartrainError && err.code === 'GT_STORE_UNAVAILABLE', String(err));
          assert.ok(Date.now() - started < 6000, 'a failing call fails fast');
          assert.ok(Date.now() < deadline, `not back after 10 s: ${err.message}`);
          await sleep(100);
        }
      }
      assert.equal((await s.get('kill-1'))!.state, 'running');
    });
  });
}
