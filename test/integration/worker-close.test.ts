// Worker.close() while a grab is in flight: the job the server assigns in answer is run, not
// released (releasing a background job costs it one of its attempts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Worker } from '../../src/client/index.js';
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
