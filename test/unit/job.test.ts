// Job's packed fields: what a queued job does not use lives in one object made on first use
// (JobExtra), maxAttempts sits in the flags beside the booleans and the priority, and the
// JOB_CREATED replies waiting for a commit are one waiter or a list. Each must read back what
// was written, and setting one must not disturb the others.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommitWaiter } from '../../src/server/job.js';
import { HIGH, type Job, JobRegistry, LOW, type Peer } from '../../src/server/registry.js';

function job(priority = LOW, background = true): Job {
  return new JobRegistry({ handlePrefix: 'H:test' }).submit(null, { fn: 'packed', unique: '', data: Buffer.from('p'), priority, background });
}

/** Whether the job has made its JobExtra (a private field: read for the test only). */
const hasExtra = (j: Job): boolean => (j as unknown as { extra: object | null }).extra !== null;

describe('Job', () => {
  it('a queued background job has no JobExtra; its unused fields read as their defaults', () => {
    const j = job();
    assert.equal(hasExtra(j), false);
    assert.deepEqual(
      [j.worker, j.startedAt, j.timer, j.foreignId, j.retries, j.runAt, j.clientCount, j.numerator, j.denominator],
      [null, 0, null, null, 0, 0, 0, 0, 0],
    );
    // Writing a default back makes nothing.
    j.worker = null;
    j.timer = null;
    j.retries = 0;
    j.runAt = 0;
    j.setProgress(0, 0);
    assert.equal(hasExtra(j), false);
  });

  it('each field set on the JobExtra reads back, and leaves the others alone', () => {
    const j = job();
    const peer = { id: 7 } as unknown as Peer;
    j.retries = 2;
    j.runAt = 1_700_000_000_000;
    j.worker = peer;
    j.startedAt = 12.5;
    j.foreignId = 'other-9';
    j.setProgress(3, 4);
    j.addClient(peer);
    assert.equal(hasExtra(j), true);
    assert.deepEqual(
      [j.retries, j.runAt, j.worker, j.startedAt, j.foreignId, j.numerator, j.denominator, [...j.clients], j.clientCount],
      [2, 1_700_000_000_000, peer, 12.5, 'other-9', 3, 4, [[peer, 1]], 1],
    );
    j.logged = true;
    assert.equal(j.id, 'other-9', 'a foreign id is the log id of a logged job');
    j.setProgress(0, 0);
    j.worker = null;
    assert.deepEqual([j.numerator, j.denominator, j.worker, j.retries], [0, 0, null, 2]);
  });

  it('maxAttempts shares the flags with the booleans and the priority without disturbing them', () => {
    const j = job(HIGH);
    assert.equal(j.maxAttempts, 1, 'one attempt until the job is logged');
    j.queued = true;
    j.logged = true;
    j.maxAttempts = 5;
    assert.deepEqual([j.maxAttempts, j.priority, j.queued, j.logged, j.background, j.cancelled], [5, HIGH, true, true, true, false]);
    j.cancelled = true;
    j.queued = false;
    assert.deepEqual([j.maxAttempts, j.priority, j.queued, j.cancelled], [5, HIGH, false, true]);
    j.maxAttempts = 2 ** 23 - 1;
    assert.equal(j.maxAttempts, 2 ** 23 - 1);
    j.maxAttempts = 1e12;
    assert.equal(j.maxAttempts, 2 ** 23 - 1, 'capped where the flags end');
    j.maxAttempts = 0;
    assert.equal(j.maxAttempts, 1, 'at least one attempt');
    assert.deepEqual([j.priority, j.cancelled, j.logged, j.background], [HIGH, true, true, true]);
  });

  it('commit waiters: none, one or several are each told once, in order; nobody waits after', () => {
    const told: string[] = [];
    const waiter = (name: string): CommitWaiter => ({ settle: (err) => told.push(`${name}:${err ? err.message : 'ok'}`) });
    const a = job();
    assert.equal(a.awaitingCommit, false);
    a.waitForCommit();
    assert.equal(a.awaitingCommit, true);
    a.commitSettled(null);
    assert.equal(a.awaitingCommit, false);
    assert.deepEqual(told, [], 'nobody to tell');

    const b = job();
    b.waitForCommit();
    b.onCommit(waiter('b1'));
    b.commitSettled(null);
    b.commitSettled(null);
    assert.deepEqual(told, ['b1:ok'], 'told once');

    const c = job();
    c.waitForCommit();
    for (const n of ['c1', 'c2', 'c3']) c.onCommit(waiter(n));
    c.commitSettled(new Error('store down'));
    assert.deepEqual(told, ['b1:ok', 'c1:store down', 'c2:store down', 'c3:store down']);
    assert.equal(c.awaitingCommit, false);
  });
});
