// The SQLite store's leases per owner (schema version 2): a renewal is one row written however
// many jobs the owner holds, a claim reads jobs only for owners whose leases may have passed,
// an owner left with nothing pending is forgotten, and a version 1 file is migrated with its
// owners and leases. The store suite (store.test.ts) checks the lease rules all stores share.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { JobRecord } from '../../src/store/types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'geartrain-sqlite-leases-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const file = (): string => path.join(tmp, `jobs-${++n}.db`);

const job = (id: string, over: Partial<JobRecord> = {}): JobRecord => ({
  id,
  fn: 'f',
  unique: id,
  priority: 1,
  data: Buffer.from(id),
  state: 'queued',
  attempts: 0,
  maxAttempts: 3,
  runAt: 1,
  worker: null,
  createdAt: 1,
  updatedAt: 1,
  result: null,
  owner: 'srv-a',
  leaseUntil: Date.now() + 600_000,
  ...over,
});

/** The store's own connection: what it has written (total_changes) and its owners table. */
const conn = (s: SqliteStore): Database.Database => (s as unknown as { db: Database.Database }).db;
const changes = (s: SqliteStore): number => conn(s).prepare('SELECT total_changes()').pluck().get() as number;
const owners = (s: SqliteStore): Record<string, number> =>
  Object.fromEntries(conn(s).prepare('SELECT owner, min_lease FROM owners ORDER BY owner').raw().all() as [string, number][]);

test('renewing a lease writes one row, however many jobs the owner holds, and keeps them all', async () => {
  const f = file();
  const a = new SqliteStore(f);
  const other = new SqliteStore(f);
  await a.open();
  await other.open();
  const short = Date.now() + 300;
  await a.write(Array.from({ length: 500 }, (_, i) => ({ op: 'insert' as const, job: job(`r-${i}`, { leaseUntil: short }) })));
  const before = changes(a);
  const long = Date.now() + 600_000;
  await a.renew('srv-a', long);
  assert.equal(changes(a) - before, 1, 'one row written');
  assert.equal((await other.get('r-7'))!.leaseUntil, long);
  assert.ok((await other.list({ limit: 500 })).every((r) => r.leaseUntil === long));
  while (Date.now() <= short) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await other.claim('srv-b', Date.now() + 1000, 100), [], 'a renewed owner keeps its jobs');
  await a.close();
  await other.close();
});

test('a server that stopped is looked at once: its jobs are claimed and it is forgotten', async () => {
  const f = file();
  const a = new SqliteStore(f);
  const b = new SqliteStore(f);
  await a.open();
  await b.open();
  await a.write([
    ...[1, 2, 3].map((i) => ({ op: 'insert' as const, job: job(`s-${i}`, { createdAt: i }) })),
    { op: 'insert', job: job('s-done', { state: 'done' }) },
    { op: 'insert', job: job('s-free', { owner: null, leaseUntil: 0, createdAt: 9 }) },
  ]);
  await b.write([{ op: 'insert', job: job('b-1', { owner: 'srv-b' }) }]);
  assert.deepEqual(Object.keys(owners(a)), ['', 'srv-a', 'srv-b']);
  // A job with no owner is anyone's; srv-a's are leased for 10 minutes.
  assert.deepEqual(
    (await b.claim('srv-b', Date.now() + 60_000, 100)).map((r) => r.id),
    ['s-free'],
  );
  assert.deepEqual(Object.keys(owners(a)), ['srv-a', 'srv-b'], 'no unowned jobs left: the key goes');
  await a.release('srv-a');
  const taken = await b.claim('srv-b', Date.now() + 60_000, 100);
  assert.deepEqual(
    taken.map((r) => r.id),
    ['s-1', 's-2', 's-3'],
  );
  assert.ok(taken.every((r) => r.owner === 'srv-b'));
  assert.deepEqual(Object.keys(owners(a)), ['srv-b'], 'srv-a holds nothing pending any more');
  const before = changes(b);
  assert.deepEqual(await b.claim('srv-b', Date.now() + 60_000, 100), []);
  assert.equal(changes(b), before, 'the next poll writes nothing');
  assert.equal((await a.get('s-done'))!.owner, 'srv-a', 'a finished job keeps its owner');
  await a.close();
  await b.close();
});

test('a job put back in the queue under a past lease is claimable (min_lease follows updates)', async () => {
  const f = file();
  const a = new SqliteStore(f);
  await a.open();
  await a.write([{ op: 'insert', job: job('u-1', { state: 'done', leaseUntil: 5 }) }]);
  assert.deepEqual(owners(a), {}, 'a finished job needs no owner row');
  await a.write([{ op: 'update', id: 'u-1', set: { state: 'queued' } }]);
  assert.deepEqual(owners(a), { 'srv-a': 5 });
  assert.deepEqual(
    (await a.claim('srv-z', Date.now() + 1000, 10)).map((r) => r.id),
    ['u-1'],
  );
  await a.close();
});

test('a version 1 job log is migrated: leases and owners carry over', async () => {
  const f = file();
  const v1 = new Database(f);
  v1.exec(`CREATE TABLE jobs (
     id TEXT PRIMARY KEY, fn TEXT NOT NULL, uniq TEXT NOT NULL, priority INTEGER NOT NULL, data BLOB,
     state TEXT NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL, run_at INTEGER NOT NULL,
     worker TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, result TEXT, owner TEXT,
     lease_until INTEGER NOT NULL);
   CREATE INDEX jobs_state_updated ON jobs (state, updated_at);
   CREATE INDEX jobs_pending_owner ON jobs (owner, lease_until) WHERE state IN ('queued', 'running', 'failed');
   PRAGMA user_version = 1;`);
  const row = v1.prepare(`INSERT INTO jobs VALUES (?, 'f', ?, 1, x'00', ?, 0, 3, 1, NULL, ?, 1, NULL, ?, ?)`);
  row.run('dead-1', 'dead-1', 'queued', 1, 'srv-dead', 5);
  row.run('dead-2', 'dead-2', 'running', 2, 'srv-dead', 7);
  row.run('live-1', 'live-1', 'queued', 3, 'srv-live', Date.now() + 600_000);
  row.run('old-done', 'old-done', 'done', 4, 'srv-gone', 1);
  v1.close();

  const s = new SqliteStore(f);
  await s.open();
  assert.equal(conn(s).pragma('user_version', { simple: true }), 2);
  assert.deepEqual(conn(s).prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'jobs_pending_owner'`).all(), []);
  assert.deepEqual(owners(s), { 'srv-dead': 5, 'srv-live': (await s.get('live-1'))!.leaseUntil });
  const got = await s.claim('srv-new', Date.now() + 1000, 10);
  assert.deepEqual(
    got.map((r) => [r.id, r.state]),
    [
      ['dead-1', 'queued'],
      ['dead-2', 'running'],
    ],
  );
  assert.deepEqual(Object.keys(owners(s)), ['srv-live', 'srv-new']);
  await s.close();
});

test('a reload in pages takes each job once: its own by where the last page ended, a dead owner’s first', async () => {
  const s = new SqliteStore(file());
  await s.open();
  await s.write([
    ...Array.from({ length: 25 }, (_, i) => ({
      op: 'insert' as const,
      job: job(`own-${String(i).padStart(2, '0')}`, { leaseUntil: 1 + i, createdAt: 100 + i }),
    })),
    ...Array.from({ length: 5 }, (_, i) => ({ op: 'insert' as const, job: job(`dead-${i}`, { owner: 'srv-dead', leaseUntil: 1, createdAt: 200 + i }) })),
  ]);
  const lease = Date.now() + 600_000;
  const pages: string[][] = [];
  for (let i = 0; i < 5; i++) pages.push((await s.claim('srv-a', lease, 10, true)).map((r) => r.id));
  assert.deepEqual(
    pages.map((p) => p.length),
    [10, 10, 10, 0, 0],
  );
  assert.deepEqual(pages[0]!.slice(0, 5), ['dead-0', 'dead-1', 'dead-2', 'dead-3', 'dead-4'], 'the dead owner’s jobs first');
  assert.equal(new Set(pages.flat()).size, 30);
  assert.ok((await s.list({ limit: 100 })).every((r) => r.owner === 'srv-a' && r.leaseUntil === lease));
  await s.close();
});
