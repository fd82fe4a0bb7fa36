// The SQLite store's worker thread: a thread that dies is started again by itself, calls made
// meanwhile fail with the store's name (the journal keeps and retries their changes), and
// nothing committed before is lost.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { GeartrainError } from '../../src/errors.js';
import { ThreadedSqliteStore } from '../../src/store/sqlite-thread.js';
import type { JobRecord } from '../../src/store/types.js';
import { until } from '../helpers/wait.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'geartrain-sqlite-thread-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const job = (id: string): JobRecord => ({
  id,
  fn: 'f',
  unique: id,
  priority: 1,
  data: Buffer.from([0, 1, 2]),
  state: 'queued',
  attempts: 0,
  maxAttempts: 3,
  runAt: 1,
  worker: null,
  createdAt: 1,
  updatedAt: 1,
  result: null,
  owner: 'o',
  leaseUntil: 1,
});

test('a SQLite thread that dies is started again; calls in between fail naming the store; committed rows stay', async () => {
  const file = path.join(tmp, 'restart.db');
  const store = new ThreadedSqliteStore(file);
  await store.open();
  await store.write([{ op: 'insert', job: job('before') }]);

  const thread = (store as unknown as { worker: Worker }).worker;
  await thread.terminate();
  await assert.rejects(
    store.write([{ op: 'insert', job: job('lost') }]),
    (e: unknown) => e instanceof GeartrainError && e.code === 'GT_STORE_UNAVAILABLE' && e.message.includes(file) && /SQLite thread exited/.test(e.message),
  );
  await until(
    'the thread to be back',
    () =>
      store.write([{ op: 'insert', job: job('after') }]).then(
        () => true,
        () => false,
      ),
    5000,
  );
  assert.notEqual((store as unknown as { worker: Worker }).worker, thread, 'a new thread');
  assert.deepEqual((await store.list({})).map((r) => r.id).sort(), ['after', 'before']);
  assert.deepEqual((await store.get('before'))!.data, Buffer.from([0, 1, 2]));

  await store.close();
  await assert.rejects(store.get('before'), /is closed/);
  // Closed on purpose: no thread comes back.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((store as unknown as { worker: Worker | null }).worker, null);
});

test('a SQLite store that cannot open leaves no thread behind', async () => {
  const blocked = path.join(tmp, 'a-file');
  fs.writeFileSync(blocked, 'x');
  const store = new ThreadedSqliteStore(path.join(blocked, 'jobs.db'));
  await assert.rejects(store.open(), (e: unknown) => e instanceof GeartrainError && e.code === 'GT_STORE_UNAVAILABLE');
  assert.equal((store as unknown as { worker: Worker | null }).worker, null);
});
