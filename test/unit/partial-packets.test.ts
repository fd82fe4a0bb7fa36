// PartialPackets alone, with fake connections and mocked timers: the total is bounded by
// closing the largest holder, a holder whose packet stops progressing is closed after the
// timeout, and one the server itself stopped reading is not.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type PartialHolder, PartialPackets } from '../../src/server/partial-packets.js';

class FakeConn implements PartialHolder {
  readPaused = false;
  dropped: [string, number] | null = null;
  constructor(readonly name: string) {}
  dropPartial(reason: 'buffered' | 'stalled', bytes: number): void {
    this.dropped = [reason, bytes];
  }
}

test('past maxBuffered the largest holder is closed, and only as many as it takes', () => {
  const p = new PartialPackets({ maxBuffered: 100, timeoutMs: 1000 });
  const [a, b, c] = [new FakeConn('a'), new FakeConn('b'), new FakeConn('c')];
  p.update(a, 50);
  p.update(b, 30);
  p.update(c, 20);
  assert.equal(p.bytes, 100);
  assert.equal(a.dropped, null, 'at the limit, nothing is closed');
  p.update(c, 25);
  assert.deepEqual(a.dropped, ['buffered', 50]);
  assert.equal(b.dropped, null);
  assert.equal(c.dropped, null);
  assert.equal(p.bytes, 55);
  assert.equal(p.holders, 2);
  assert.deepEqual(p.closed, { buffered: 1, stalled: 0 });
  p.update(b, 0); // b finished its packet
  assert.equal(p.bytes, 25);
  p.stop();
});

test('a packet with no new byte for timeoutMs is closed; one that progresses, or that the server paused, is not', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const p = new PartialPackets({ maxBuffered: 1000, timeoutMs: 400 });
  const stalled = new FakeConn('stalled');
  const slow = new FakeConn('slow');
  const paused = new FakeConn('paused');
  p.update(stalled, 10);
  p.update(slow, 10);
  p.update(paused, 10);
  paused.readPaused = true;
  for (let ms = 0; ms < 2000; ms += 100) {
    p.update(slow, 10 + ms / 100); // a byte now and then
    t.mock.timers.tick(100);
  }
  assert.deepEqual(stalled.dropped, ['stalled', 10]);
  assert.equal(slow.dropped, null);
  assert.equal(paused.dropped, null, 'the server stopped reading it: not its stall');
  paused.readPaused = false;
  t.mock.timers.tick(400);
  assert.equal(paused.dropped, null, 'not before the timeout after reading resumes');
  t.mock.timers.tick(100);
  assert.deepEqual(paused.dropped, ['stalled', 10], 'within one sweep (100 ms here) after it');
  p.stop();
});
