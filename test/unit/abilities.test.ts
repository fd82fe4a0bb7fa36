// A worker's functions: most recently registered first, O(1) changes, safe to change while
// being walked (the registry drops abilities while it iterates them).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Abilities } from '../../src/server/abilities.js';
import { FunctionEntry } from '../../src/server/registry.js';

const naming = { handlePrefix: 'H:test', bootId: 'b', uniquePrefix: 'u', epoch: 0 };
const fns = ['a', 'b', 'c', 'd'].map((n) => new FunctionEntry(n, naming));
const [a, b, c, d] = fns as [FunctionEntry, FunctionEntry, FunctionEntry, FunctionEntry];
const names = (x: Abilities<FunctionEntry>): string[] => [...x.keys()].map((f) => f.name);

test('most recently registered first; registering again keeps the place and takes the timeout', () => {
  const x = new Abilities<FunctionEntry>();
  assert.equal(x.add(a, 0), true);
  assert.equal(x.add(b, 0), true);
  assert.equal(x.add(c, 5000), true);
  assert.deepEqual(names(x), ['c', 'b', 'a']);
  assert.equal(x.add(a, 3000), false);
  assert.deepEqual(names(x), ['c', 'b', 'a']);
  assert.equal(x.get(a), 3000);
  assert.equal(x.get(d), undefined);
  assert.equal(x.size, 3);
});

test('delete from the front, the middle and the end; a deleted one registers at the front again', () => {
  const x = new Abilities<FunctionEntry>();
  for (const f of fns) x.add(f, 0);
  assert.equal(x.delete(c), true);
  assert.equal(x.delete(c), false);
  assert.deepEqual(names(x), ['d', 'b', 'a']);
  x.delete(d);
  x.delete(a);
  assert.deepEqual(names(x), ['b']);
  x.add(a, 0);
  assert.deepEqual(names(x), ['a', 'b']);
  assert.equal(x.has(c), false);
  x.clear();
  assert.deepEqual(names(x), []);
  assert.equal(x.size, 0);
});

test('deleting the function being visited does not end the walk', () => {
  const x = new Abilities<FunctionEntry>();
  for (const f of fns) x.add(f, 0);
  const seen: string[] = [];
  for (const f of x.keys()) {
    seen.push(f.name);
    x.delete(f);
  }
  assert.deepEqual(seen, ['d', 'c', 'b', 'a']);
  assert.equal(x.size, 0);
});
