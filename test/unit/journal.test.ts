// The journal's batches on a real (memory) store: a waiting insert is made into its row only
// when written and its source is told once; a job's later changes in one batch are written in
// order after it, or merged into one change; a whole row written again replaces the batch's
// earlier one for that job, stale fields included.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Journal } from '../../src/server/journal.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { JobRecord } from '../../src/store/types.js';

interface Source {
  id: string;
  state: JobRecord['state'];
}

function setup() {
  const store = new MemoryStore();
  const settled: string[] = [];
  const written: number[] = [];
  const rowsMade: string[] = [];
  const journal = new Journal<Source>(
    store,
    {
      id: (s) => s.id,
      row: (s) => {
        rowsMade.push(s.id);
        const now = Date.now();
        return {
          id: s.id,
          fn: 'j',
          unique: s.id,
          priority: 1,
          data: Buffer.from(s.id),
          state: s.state,
          attempts: 0,
          maxAttempts: 3,
          runAt: now,
          worker: null,
          createdAt: now,
          updatedAt: now,
          result: null,
          owner: 'me',
          leaseUntil: now + 1000,
        };
      },
      settled: (s, err) => settled.push(`${s.id}:${err ? err.message : 'ok'}`),
    },
    pino({ level: 'silent' }),
    { onWrite: (_ms, changes) => written.push(changes) },
  );
  return { store, journal, settled, written, rowsMade };
}

describe('Journal', () => {
  it('makes a waiting insert into its row when written, tells its source once, and writes its later changes after it', async () => {
    const { store, journal, settled, written, rowsMade } = setup();
    const a: Source = { id: 'a', state: 'queued' };
    journal.insert(a);
    // Changed before the write: the row is made from the source as it stands then.
    a.state = 'running';
    journal.update(a, { result: 'later' });
    assert.deepEqual(rowsMade, [], 'no row made while the batch gathers');
    await journal.sync();
    assert.deepEqual(settled, ['a:ok']);
    assert.deepEqual(rowsMade, ['a']);
    assert.deepEqual(written, [2], 'the insert and the update, in order');
    const r = await store.get('a');
    assert.deepEqual([r!.state, r!.result], ['running', 'later']);
  });

  it("merges a job's updates within one batch into one change", async () => {
    const { store, journal, written } = setup();
    journal.insert({ id: 'c', state: 'queued' });
    await journal.sync();
    journal.update('c', { state: 'running', worker: 'w1' });
    journal.update('c', { state: 'done', result: 'ok' });
    await journal.sync();
    assert.deepEqual(written, [1, 1]);
    const r = await store.get('c');
    assert.deepEqual([r!.state, r!.worker, r!.result], ['done', 'w1', 'ok']);
  });

  it('a whole row written again (insertBehind) replaces the earlier one in the batch, fields and all', async () => {
    const { store, journal, written, settled } = setup();
    const b: Source = { id: 'b', state: 'queued' };
    journal.insertBehind(b, { state: 'failed', result: 'first try failed' });
    journal.insertBehind(b, { state: 'done' });
    await journal.sync();
    assert.deepEqual(written, [1], 'one change for the job');
    assert.deepEqual(settled, [], 'nobody waits on an insert behind');
    const r = await store.get('b');
    assert.deepEqual([r!.state, r!.result], ['done', null], 'nothing kept from the replaced row');
  });

  it('refuses an insert at once, recording nothing, once it is closed', async () => {
    const { journal, settled, written } = setup();
    await journal.close();
    assert.throws(() => journal.insert({ id: 'late', state: 'queued' }), /shutting down/);
    assert.deepEqual([settled, written], [[], []]);
  });
});
