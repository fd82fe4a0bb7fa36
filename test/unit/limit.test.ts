// The one concurrency limiter (client runTasks, thumbnail outputs, cache-warm URLs): list order,
// never more than the limit in flight, the first ones started in one synchronous loop, stop()
// asked before each start, and a rejection that stops further starts and waits for the rest.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLimited } from '../../src/shared/limit.js';

describe('runLimited', () => {
  it('starts items in list order, never more than the limit at once, and settles after the last', async () => {
    const started: number[] = [];
    const ended: number[] = [];
    let active = 0;
    let most = 0;
    await runLimited([30, 5, 20, 1, 10, 2, 7], 3, async (ms, i) => {
      started.push(i);
      most = Math.max(most, ++active);
      await sleep(ms);
      active--;
      ended.push(i);
    });
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(most, 3);
    assert.equal(ended.length, 7);
  });

  it('starts the first `limit` items in the calling tick, before any microtask runs', () => {
    const started: number[] = [];
    void runLimited([1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      await sleep(1);
    });
    assert.deepEqual(started, [1, 2]);
  });

  it('no limit and an empty list', async () => {
    let n = 0;
    await runLimited([1, 2, 3], Number.POSITIVE_INFINITY, async () => void n++);
    assert.equal(n, 3);
    await runLimited([], 4, async () => assert.fail('nothing to run'));
  });

  it('stop(): asked before each start; the runs going finish, the rest never start', async () => {
    const ac = new AbortController();
    const started: number[] = [];
    let finished = 0;
    await runLimited(
      [0, 1, 2, 3, 4, 5],
      2,
      async (i) => {
        started.push(i);
        if (i === 2) ac.abort();
        await sleep(5);
        finished++;
      },
      { stop: () => ac.signal.aborted },
    );
    assert.deepEqual(started, [0, 1, 2]);
    assert.equal(finished, 3);
  });

  it('a rejection stops further starts and is the result once the runs going have ended', async () => {
    const started: number[] = [];
    let slowEnded = false;
    const run = runLimited([0, 1, 2, 3], 2, async (i) => {
      started.push(i);
      if (i === 0) {
        await sleep(20);
        slowEnded = true;
        return;
      }
      throw new Error(`item ${i} failed`);
    });
    await assert.rejects(run, /^Error: item 1 failed$/);
    assert.equal(slowEnded, true);
    assert.deepEqual(started, [0, 1]);
  });

  it('a run that throws before returning a promise counts as a rejection', async () => {
    await assert.rejects(
      runLimited([1], 1, () => {
        throw new Error('thrown at once');
      }),
      /thrown at once/,
    );
  });
});
