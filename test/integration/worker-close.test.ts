// Worker.close() while a grab is in flight: the job the server assigns in answer is run, not
// released (releasing a background job costs it one of its attempts). And close() while a
// connection drops: it ends, and nothing reconnects after it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client, Worker } from '../../src/client/index.js';
import { startProxy } from '../helpers/proxy.js';
import { startInProcess } from '../helpers/servers.js';

test('a job assigned in answer to a grab sent before close() runs to completion', async (t) => {
  const srv = await startInProcess();
  t.after(() => srv.stop());
  const client = new Client({ servers: [srv.address] });
  t.after(() => client.close());
  for (let round = 0; round < 20; round++) {
    const fn = `close-race-${round}`;
    await client.submitBackground(fn, 'x');
    const worker = new Worker({ servers: [srv.address] });
    const done: string[] = [];
    worker.addFunction(fn, () => {
      done.push('ran');
      return 'ok';
    });
    await worker.start();
    // start() resolves once connected: the first grab is on the wire now, unanswered.
    await worker.close();
    assert.deepEqual(done, ['ran'], `round ${round}: the assigned job ran before the worker closed`);
  }
});

test('close() while its connection drops: close resolves, and the worker does not connect again', async (t) => {
  const srv = await startInProcess();
  t.after(() => srv.stop());
  const proxy = await startProxy(srv);
  t.after(() => proxy.close());
  const client = new Client({ servers: [srv.address] });
  t.after(() => client.close());
  const fn = 'close-drop';
  const worker = new Worker({ servers: [proxy.address], reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
  let release!: () => void;
  const started = new Promise<void>((resolve) => {
    worker.addFunction(fn, async () => {
      resolve();
      await new Promise<void>((r) => (release = r));
      return 'late';
    });
  });
  await worker.start();
  await client.submitBackground(fn, 'x');
  await started;
  const closing = worker.close({ timeoutMs: 10_000 });
  // The link dies while close() waits for the running job, and the worker sees it die.
  const lost = new Promise((resolve) => worker.once('disconnect', resolve));
  proxy.drop();
  await bounded(lost, 'the worker noticing its connection dropped');
  release();
  await bounded(closing, 'Worker.close() after its connection dropped');
  const accepted = proxy.accepted;
  // Many times the reconnect delay (10-20 ms): a worker that still reconnects has done so by now.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(proxy.accepted, accepted, 'a closed worker connected to the server again');
  assert.equal(proxy.open, 0, 'a closed worker holds a connection');
});

async function bounded<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
