// OutputFolder, the place a media job writes into: what it opens it closes, however its writes
// interleave (two outputs of a job finishing in the same turn of the event loop).

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { OutputFolder } from '../../src/workers/files.js';
import { AllowedPaths } from '../../src/workers/paths.js';

test('writes started in the same turn share one temp folder and every descriptor is closed after', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-outfolder-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const allowed = new AllowedPaths([dir]);
  const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
  let before = 0;
  for (let round = 0; round < 6; round++) {
    // After the first round: what stays open for the process's life (libuv's pool) is counted.
    if (round === 1) before = await fds();
    const out = new OutputFolder(await allowed.outputDir('Output folder', path.join(dir, `out-${round}`, 'nested')));
    await Promise.all(['a', 'b', 'c', 'd'].map((n) => out.write(`${n}.txt`, (tmp) => writeFile(tmp, n))));
    await out.close();
    assert.equal(await readFile(path.join(dir, `out-${round}`, 'nested', 'c.txt'), 'utf8'), 'c');
  }
  // Other descriptors of the process may close meanwhile, never open: a leak shows as more.
  const after = await fds();
  assert.ok(after <= before, `${after - before} descriptors left open by the output folders`);
});
