// GEARTRAIN_HEAP_GROWING_PERCENT: V8's heap growth for the server process (src/server/heap.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { GeartrainError } from '../../src/errors.js';
import { tuneHeapGrowth } from '../../src/server/heap.js';
import { CLI } from '../helpers/servers.js';

test('the heap growth setting: V8 default unless set, a percentage when set, one clear error otherwise', () => {
  assert.equal(tuneHeapGrowth({}), 0);
  assert.equal(tuneHeapGrowth({ GEARTRAIN_HEAP_GROWING_PERCENT: '' }), 0);
  assert.equal(tuneHeapGrowth({ GEARTRAIN_HEAP_GROWING_PERCENT: '50' }), 50);
  for (const bad of ['x', '-5', '1.5', '1001']) {
    assert.throws(
      () => tuneHeapGrowth({ GEARTRAIN_HEAP_GROWING_PERCENT: bad }),
      (e: unknown) =>
        e instanceof GeartrainError &&
        e.message === `Expected an integer percentage between 0 and 1000 for GEARTRAIN_HEAP_GROWING_PERCENT but received ${bad} of type string`,
    );
  }
});

test('pipeline server refuses a bad GEARTRAIN_HEAP_GROWING_PERCENT with one line and exit 2', () => {
  const r = spawnSync(process.execPath, [CLI, 'server', '--port', '0', '--store', 'memory:'], {
    encoding: 'utf8',
    env: { ...process.env, GEARTRAIN_HEAP_GROWING_PERCENT: 'lots' },
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /GEARTRAIN_HEAP_GROWING_PERCENT but received lots of type string \(GT_INVALID_ARGUMENT\)/);
});
