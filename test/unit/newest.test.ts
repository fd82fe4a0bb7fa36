// newest(): the top `limit` items by time without sorting them all (jobs list on a big queue).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newest } from '../../src/store/filter.js';

/** What newest() must return: a stable sort, newest first, cut at limit. */
function bySort(items: { id: number; t: number }[], limit: number): number[] {
  return [...items]
    .sort((a, b) => b.t - a.t)
    .slice(0, limit)
    .map((x) => x.id);
}

test('newest() returns what a stable sort newest-first would, for any limit, ties in input order', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const size of [0, 1, 5, 100, 3000]) {
    // Few distinct times: many ties.
    const items = Array.from({ length: size }, (_, id) => ({ id, t: rand(50) }));
    for (const limit of [0, 1, 3, 100, 1000, 1001, 5000]) {
      assert.deepEqual(
        newest(items, limit, (x) => x.t).map((x) => x.id),
        bySort(items, limit),
        `size ${size}, limit ${limit}`,
      );
    }
  }
});

test('newest() reads an iterable once (a generator over a million jobs)', () => {
  let reads = 0;
  function* gen(): Generator<number> {
    for (let i = 0; i < 10_000; i++) {
      reads++;
      yield i;
    }
  }
  assert.deepEqual(
    newest(gen(), 3, (x) => x),
    [9999, 9998, 9997],
  );
  assert.equal(reads, 10_000);
});
