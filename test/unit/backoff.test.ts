// The one backoff behind every retry and restart delay: doubling from the first delay, held at
// the longest, equal jitter within its bounds, a reset back to the start, and options checked
// with messages that name them. Then the numbers each user keeps.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconnectBackoff } from '../../src/client/backoff.js';
import { backoffPolicy } from '../../src/server/retry.js';
import { Backoff } from '../../src/shared/backoff.js';

describe('Backoff', () => {
  it('doubles from the first delay and holds at the longest', () => {
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' });
    assert.deepEqual(
      Array.from({ length: 7 }, () => b.next()),
      [100, 200, 400, 800, 1000, 1000, 1000],
    );
    assert.equal(b.failures, 7);
  });

  it('grows without a longest delay, and stays finite after many failures', () => {
    const b = new Backoff({ initialDelayMs: 100, jitter: 'none' });
    assert.deepEqual(
      [1, 2, 3, 11].map((n) => b.delayAfter(n)),
      [100, 200, 400, 102_400],
    );
    assert.equal(b.delayAfter(10_000), 100 * 2 ** 30);
    assert.equal(b.delayAfter(0), 100);
  });

  it('equal jitter: a whole number between half the delay and the delay, and not always the same', () => {
    const b = new Backoff({ initialDelayMs: 1000, maxDelayMs: 8000 });
    for (const [failures, ceiling] of [
      [1, 1000],
      [2, 2000],
      [4, 8000],
      [9, 8000],
    ] as const) {
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const d = b.delayAfter(failures);
        assert.ok(Number.isInteger(d) && d >= ceiling / 2 && d <= ceiling, `${d} after ${failures} failures`);
        seen.add(d);
      }
      assert.ok(seen.size > 10, `only ${seen.size} distinct delays after ${failures} failures`);
    }
  });

  it('delayAfter() counts nothing; reset() starts from the first delay again', () => {
    const b = new Backoff({ initialDelayMs: 50, maxDelayMs: 400, jitter: 'none' });
    assert.equal(b.delayAfter(3), 200);
    assert.equal(b.failures, 0);
    b.next();
    b.next();
    assert.equal(b.next(), 200);
    b.reset();
    assert.equal(b.failures, 0);
    assert.equal(b.next(), 50);
  });

  it('refuses options it cannot use, naming them', () => {
    assert.throws(() => new Backoff({ initialDelayMs: 0 }, 'restart'), {
      code: 'GT_INVALID_ARGUMENT',
      message: /^Expected positive integer for restart\.initialDelayMs but received 0 of type number/,
    });
    assert.throws(() => new Backoff({ initialDelayMs: 1.5 }), { message: /for backoff\.initialDelayMs but received 1\.5/ });
    assert.throws(() => new Backoff({ initialDelayMs: 100, maxDelayMs: 50 }, 'restart'), {
      message: /^Expected integer of at least restart\.initialDelayMs \(100\) for restart\.maxDelayMs but received 50 of type number/,
    });
  });
});

describe('the numbers each user keeps', () => {
  it('client reconnects: 100 ms doubling to 5 s with jitter; options named reconnect.*', () => {
    const b = reconnectBackoff();
    const first = b.next();
    assert.ok(first >= 50 && first <= 100, `${first}`);
    for (let i = 0; i < 10; i++) b.next();
    const late = b.next();
    assert.ok(late >= 2500 && late <= 5000, `${late}`);
    assert.throws(() => reconnectBackoff({ initialDelayMs: 200, maxDelayMs: 100 }), { message: /for reconnect\.maxDelayMs but received 100 of type number/ });
    assert.throws(() => reconnectBackoff({ initialDelayMs: -1 }), { message: /^Expected positive integer for reconnect\.initialDelayMs but received -1/ });
  });

  it('server retries: 1 s doubling to 5 minutes with jitter, 3 attempts; a first delay past the cap waits the cap', () => {
    const p = backoffPolicy();
    assert.equal(p.maxAttempts('any'), 3);
    for (const [attempt, ceiling] of [
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [20, 300_000],
    ] as const) {
      const d = p.delayMs(attempt);
      assert.ok(d >= ceiling / 2 && d <= ceiling, `${d} after attempt ${attempt}`);
    }
    const perFn = backoffPolicy({ maxAttempts: (fn) => (fn === 'once' ? 1 : 5), baseDelayMs: 400_000 });
    assert.equal(perFn.maxAttempts('once'), 1);
    assert.equal(perFn.maxAttempts('other'), 5);
    const d = perFn.delayMs(1);
    assert.ok(d >= 150_000 && d <= 300_000, `${d}`);
  });
});
