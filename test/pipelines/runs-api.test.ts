// Pipeline runs through the HTTP API: the records a run leaves under its output folder are what
// GET /api/v1/runs and /runs/:id show (pipeline server --runs DIR).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Client, Worker } from '../../src/client/index.js';
import { pipeline } from '../../src/pipelines/builder.js';
import { runPipeline } from '../../src/pipelines/runner.js';
import { runStoreFor, runsIn } from '../../src/pipelines/worker.js';
import { startInProcess } from '../helpers/servers.js';

test('GET /api/v1/runs lists the runs under an output folder with per-step progress', async (t) => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'gt-runs-api-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const srv = await startInProcess({ http: { port: 0 }, runs: runsIn([out]) });
  t.after(() => srv.stop());
  const worker = new Worker({ servers: [srv.address] });
  worker.addFunction('t-double', (job) => String(Number(job.text()) * 2));
  await worker.start();
  const client = new Client({ servers: [srv.address] });
  t.after(async () => {
    await client.close();
    await worker.close();
  });
  const def = pipeline('doubles', { input: 'json' }).fn('t-double').step('d', { fn: 't-double', forEach: '${{ input }}', payload: '${{ item }}' }).build();
  const rec = await runPipeline(def, { id: 'run-1', input: [1, 2, 3], inputSpec: [1, 2, 3], out }, { client, store: runStoreFor(out) });
  assert.equal(rec.status, 'done');
  const h = srv.server.httpAddress()!;
  const { runs } = (await (await fetch(`http://127.0.0.1:${h.port}/api/v1/runs`)).json()) as { runs: { id: string; status: string }[] };
  assert.deepEqual(
    runs.map((r) => [r.id, r.status]),
    [['run-1', 'done']],
  );
  const one = (await (await fetch(`http://127.0.0.1:${h.port}/api/v1/runs/run-1`)).json()) as {
    record: { steps: Record<string, { total: number; items: Record<string, { result: unknown }> }> };
  };
  assert.equal(one.record.steps.d!.total, 3);
  assert.deepEqual(
    Object.values(one.record.steps.d!.items).map((i) => i.result),
    [2, 4, 6],
  );
  const missing = await fetch(`http://127.0.0.1:${h.port}/api/v1/runs/nope`);
  assert.equal(missing.status, 404);
});
