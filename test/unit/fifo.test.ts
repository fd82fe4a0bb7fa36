// The intrusive FIFO behind every priority queue: order, O(1) removal from anywhere, and
// links that are cleared so an item can be queued again.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo, type Linked } from '../../src/server/fifo.js';

class Item implements Linked<Item> {
  prev: Item | null = null;
  next: Item | null = null;
  constructor(readonly n: number) {}
}

const items = (count: number): Item[] => Array.from({ length: count }, (_, i) => new Item(i));
const order = (q: Fifo<Item>): number[] => [...q].map((i) => i.n);

/** Walk both directions and check head, tail, size and every link agree. */
function assertConsistent(q: Fifo<Item>): void {
  const forward: Item[] = [];
  for (let n = q.head; n; n = n.next) forward.push(n);
  const backward: Item[] = [];
  for (let n = q.tail; n; n = n.prev) backward.push(n);
  assert.equal(forward.length, q.size, 'size matches the forward walk');
  assert.deepEqual(backward.reverse(), forward, 'prev links mirror next links');
  assert.equal(q.head?.prev ?? null, null);
  assert.equal(q.tail?.next ?? null, null);
  if (q.size === 0) {
    assert.equal(q.head, null);
    assert.equal(q.tail, null);
  }
}

test('push and shift are first in, first out', () => {
  const q = new Fifo<Item>();
  for (const i of items(5)) q.push(i);
  assert.equal(q.size, 5);
  assert.deepEqual(order(q), [0, 1, 2, 3, 4]);
  assert.equal(q.shift()?.n, 0);
  assert.equal(q.shift()?.n, 1);
  assertConsistent(q);
  assert.deepEqual(order(q), [2, 3, 4]);
});

test('shift on an empty queue returns null', () => {
  const q = new Fifo<Item>();
  assert.equal(q.shift(), null);
  assert.equal(q.size, 0);
  assertConsistent(q);
});

test('unshift puts an item at the head (requeue of a job whose worker died)', () => {
  const q = new Fifo<Item>();
  const [a, b, c] = items(3) as [Item, Item, Item];
  q.unshift(a);
  assertConsistent(q);
  q.push(b);
  q.unshift(c);
  assert.deepEqual(order(q), [2, 0, 1]);
  assertConsistent(q);
});

test('remove from the head, the middle and the tail', () => {
  const q = new Fifo<Item>();
  const all = items(5);
  for (const i of all) q.push(i);
  q.remove(all[2]!);
  assert.deepEqual(order(q), [0, 1, 3, 4]);
  assertConsistent(q);
  q.remove(all[0]!);
  assert.deepEqual(order(q), [1, 3, 4]);
  assertConsistent(q);
  q.remove(all[4]!);
  assert.deepEqual(order(q), [1, 3]);
  assertConsistent(q);
  q.remove(all[1]!);
  q.remove(all[3]!);
  assert.deepEqual(order(q), []);
  assertConsistent(q);
});

test('a removed or shifted item has its links cleared and can be queued again', () => {
  const q = new Fifo<Item>();
  const [a, b, c] = items(3) as [Item, Item, Item];
  q.push(a);
  q.push(b);
  q.push(c);
  q.remove(b);
  assert.equal(b.prev, null);
  assert.equal(b.next, null);
  const first = q.shift()!;
  assert.equal(first.next, null);
  q.push(b);
  q.push(first);
  assert.deepEqual(order(q), [2, 1, 0]);
  assertConsistent(q);
});

test('a long queue stays consistent under mixed operations', () => {
  // A seeded walk over push/unshift/shift/remove, compared with a plain array model.
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const q = new Fifo<Item>();
  const model: Item[] = [];
  let next = 0;
  for (let step = 0; step < 20_000; step++) {
    const op = rand(10);
    if (op < 4) {
      const i = new Item(next++);
      q.push(i);
      model.push(i);
    } else if (op < 5) {
      const i = new Item(next++);
      q.unshift(i);
      model.unshift(i);
    } else if (op < 8) {
      assert.equal(q.shift(), model.shift() ?? null);
    } else if (model.length > 0) {
      const victim = model.splice(rand(model.length), 1)[0]!;
      q.remove(victim);
    }
    assert.equal(q.size, model.length);
  }
  assert.deepEqual([...q], model);
  assertConsistent(q);
});
