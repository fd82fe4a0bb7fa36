// The job log on the memory store. The store keeps no copy of pending jobs (it reads them from
// the server's registry) and is written only when a job fails or ends; what `jobs list` and
// `jobs show` answer must be the same as with a store that keeps every row.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { adminCommand } from '../../src/client/admin.js';
import { Client, Worker } from '../../src/client/index.js';
import { backoffPolicy } from '../../src/server/retry.js';
import { createStore } from '../../src/store/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { adminJobs } from '../helpers/joblog.js';
import { startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
});

describe('job log on the memory store', () => {
  it('lists queued, running, failed and done jobs; keeps no row for a pending job', async () => {
    const store = new MemoryStore();
    // A long first retry delay: the failed job stays `failed` while the test looks at it.
    const s = await startInProcess({ store, retry: backoffPolicy({ maxAttempts: 3, baseDelayMs: 60_000 }) });
    closers.push(() => s.stop());
    const c = new Client({ servers: [s.address] });
    closers.push(() => c.close());
    for (const p of ['q1', 'q2']) await c.submitBackground('mem_idle', p);
    const queued = await adminJobs(s.port, 'jobs list function=mem_idle');
    assert.deepEqual(queued.map((r) => [r.state, r.payload, r.attempts, r.worker]).sort(), [
      ['queued', 'q1', 0, null],
      ['queued', 'q2', 0, null],
    ]);
    assert.match(String(queued[0]!.unique), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(queued[0]!.handle, s.server.registry.findById(String(queued[0]!.id))!.handle);
    assert.deepEqual(await store.list({ fn: 'mem_idle' }).then((rs) => rs.length), 2);
    await s.server.joblog!.sync();
    assert.equal((store as unknown as { jobs: Map<string, unknown> }).jobs.size, 0, 'no row kept for a queued job');

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const w = new Worker({ servers: [s.address], clientId: 'mem-w', concurrency: 3 });
    w.addFunction('mem_slow', () => held);
    w.addFunction('mem_bad', () => {
      throw new Error('no luck');
    });
    w.addFunction('mem_ok', (job) => `done ${job.text()}`);
    await w.start();
    closers.push(() => w.close({ timeoutMs: 1000 }));
    await c.submitBackground('mem_slow', 's1');
    await c.submitBackground('mem_bad', 'b1');
    await c.submitBackground('mem_ok', 'o1');

    const running = await until('the slow job to run', async () => (await adminJobs(s.port, 'jobs list state=running'))[0]);
    assert.equal(running.fn, 'mem_slow');
    assert.match(String(running.worker), / mem-w$/);
    const failed = await until('the bad job to fail', async () => (await adminJobs(s.port, 'jobs list state=failed'))[0]);
    assert.equal(failed.fn, 'mem_bad');
    assert.equal(failed.attempts, 1);
    assert.match(String(failed.result), /no luck/);
    assert.equal(failed.payload, 'b1', 'a failed job keeps its payload for the retry');
    const done = await until('the ok job to be done', async () => (await adminJobs(s.port, 'jobs list state=done'))[0]);
    assert.deepEqual([done.fn, done.result, done.attempts, done.payload, done.handle], ['mem_ok', 'done o1', 1, null, null]);
    assert.match(String(done.worker), / mem-w$/);

    const [shown] = await adminJobs(s.port, `jobs show ${String(failed.id)}`);
    assert.equal(shown!.state, 'failed');
    // An operator's retry runs it now, not after the backoff; it fails again, a fresh attempt.
    const [retried] = await adminJobs(s.port, `jobs retry ${String(failed.id)}`);
    assert.deepEqual([retried!.state, retried!.attempts], ['queued', 0]);
    await until('the retried job to fail again', async () => {
      const [r] = await adminJobs(s.port, `jobs show ${String(failed.id)}`);
      return r!.state === 'failed' && r!.attempts === 1 && Number(r!.updatedAt) > Number(failed.updatedAt);
    });
    assert.equal((await adminJobs(s.port, 'jobs list function=mem_bad')).length, 1, 'still one job');
    release();
    await until('the slow job to be done', async () => (await adminJobs(s.port, 'jobs list function=mem_slow state=done')).length === 1);
    assert.equal(await adminCommand('127.0.0.1', s.port, `jobs cancel ${String(queued[0]!.id)}`), 'OK\r\n');
    const after = await adminJobs(s.port, 'jobs list function=mem_idle');
    assert.deepEqual(after.map((r) => r.state).sort(), ['cancelled', 'queued']);
  });

  it('keeps the newest N completed jobs (memory:?keep=N); a bad keep is refused naming it', async () => {
    const store = await createStore('memory:?keep=3');
    const s = await startInProcess({ store });
    closers.push(() => s.stop());
    const c = new Client({ servers: [s.address] });
    closers.push(() => c.close());
    for (let i = 1; i <= 5; i++) await c.submitBackground('mem_keep', `k${i}`);
    const queued = await adminJobs(s.port, 'jobs list function=mem_keep');
    const idOf = new Map(queued.map((r) => [r.payload, String(r.id)]));
    const w = new Worker({ servers: [s.address] });
    w.addFunction('mem_keep', (job) => `ran ${job.text()}`);
    await w.start();
    closers.push(() => w.close({ timeoutMs: 1000 }));
    await until('five jobs to be done', () => s.server.registry.stats.get('mem_keep')?.completed === 5);
    const done = await adminJobs(s.port, 'jobs list state=done function=mem_keep');
    assert.deepEqual(
      done.map((r) => r.result),
      ['ran k5', 'ran k4', 'ran k3'],
      'the newest three, newest first',
    );
    assert.deepEqual(
      done.map((r) => r.id),
      [idOf.get('k5'), idOf.get('k4'), idOf.get('k3')],
    );
    assert.deepEqual(
      (await adminJobs(s.port, `jobs show ${idOf.get('k4')!}`)).map((r) => [r.state, r.attempts, r.payload]),
      [['done', 1, null]],
    );
    assert.match(await adminCommand('127.0.0.1', s.port, `jobs show ${idOf.get('k1')!}`), /^ERR /, 'the oldest is no longer kept');
    assert.equal((await adminJobs(s.port, 'jobs list state=failed')).length, 0);

    await assert.rejects(createStore('memory:?keep=lots'), /keep= expects how many completed jobs to keep/);
    await assert.rejects(createStore('memory:?kept=3'), /memory: takes one option, keep=N/);
  });
});
