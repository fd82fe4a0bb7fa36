// The runner against a real job server and real workers (plain functions, no media): ordering
// by needs, fan-out with a failing item that does not stop its siblings, conditions, retries,
// priorities, resuming a run, and stopping one.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Type from 'typebox';
import { Client, Worker, WorkFail } from '../../src/client/index.js';
import { gtError } from '../../src/errors.js';
import { pipeline } from '../../src/pipelines/builder.js';
import { runPipeline, summarize } from '../../src/pipelines/runner.js';
import { FileRunStore } from '../../src/pipelines/state.js';
import type { RunEvent } from '../../src/pipelines/types.js';
import { startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

async function setup(t: import('node:test').TestContext) {
  const srv = await startInProcess();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-run-'));
  const worker = new Worker({ servers: [srv.address], concurrency: 4 });
  const client = new Client({ servers: [srv.address] });
  const calls: { fn: string; payload: unknown }[] = [];
  t.after(async () => {
    await client.close();
    await worker.close();
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { srv, dir, worker, client, calls, store: new FileRunStore(path.join(dir, 'runs')) };
}

const fanOut = pipeline('fan', { input: 'json' })
  .fn('t-split')
  .fn('t-upper')
  .fn('t-join')
  .step('split', { fn: 't-split', payload: '${{ input }}' })
  .step('each', { fn: 't-upper', forEach: '${{ steps.split.result }}', payload: { word: '${{ item }}' } })
  .step('join', { fn: 't-join', payload: { words: '${{ steps.each.results }}' } })
  .build();

function serveWords(w: Worker, calls: { fn: string; payload: unknown }[], failing = new Set(['bad'])): void {
  w.addFunction('t-split', (job) => {
    calls.push({ fn: 't-split', payload: job.json() });
    return JSON.stringify(String(job.json()).split(' '));
  });
  w.addFunction('t-upper', async (job) => {
    const { word } = job.json<{ word: string }>();
    calls.push({ fn: 't-upper', payload: word });
    if (failing.has(word)) throw gtError('GT_MEDIA_INVALID', word, 'word', 'it is bad');
    return JSON.stringify(word.toUpperCase());
  });
  w.addFunction('t-join', (job) => {
    calls.push({ fn: 't-join', payload: job.json() });
    return JSON.stringify(job.json<{ words: string[] }>().words.join('-'));
  });
}

test('steps run in order of needs; a failed item does not stop its siblings; the summary says why', async (t) => {
  const { worker, client, calls, store, dir } = await setup(t);
  serveWords(worker, calls);
  await worker.start();
  const events: RunEvent[] = [];
  const rec = await runPipeline(fanOut, { id: 'r1', input: 'a bad c', inputSpec: 'a bad c', out: dir }, { client, store, onEvent: (e) => events.push(e) });
  assert.equal(rec.status, 'failed');
  assert.equal(rec.steps.join!.items['-']!.result, 'A-C', 'fan-in gets the results of the items that succeeded, in item order');
  const s = summarize(fanOut, rec);
  assert.deepEqual(
    s.steps.map((x) => [x.id, x.status, x.done, x.failed]),
    [
      ['split', 'done', 1, 0],
      ['each', 'partial', 2, 1],
      ['join', 'done', 1, 0],
    ],
  );
  assert.equal(s.failures.length, 1);
  assert.equal(s.failures[0]!.item, 'bad');
  assert.match(s.failures[0]!.error, /^GT_MEDIA_INVALID: bad is not a valid word: it is bad$/);
  assert.ok(calls.findIndex((c) => c.fn === 't-join') > calls.findLastIndex((c) => c.fn === 't-upper'), 'join ran after every item');
  assert.deepEqual((await store.load('r1'))!.steps.each!.items.a!.result, 'A', 'the record is saved');
  assert.ok(events.some((e) => e.type === 'item-failed' && e.label === 'bad'));
});

test('a run started again skips the items already done and runs the failed ones', async (t) => {
  const { worker, client, calls, store, dir } = await setup(t);
  const failing = new Set(['bad']);
  serveWords(worker, calls, failing);
  await worker.start();
  await runPipeline(fanOut, { id: 'r2', input: 'a bad c', inputSpec: 'a bad c', out: dir }, { client, store });
  calls.length = 0;
  failing.clear(); // the cause of the failure is fixed
  const rec = await runPipeline(fanOut, { id: 'r2', input: 'a bad c', inputSpec: 'a bad c', out: dir }, { client, store });
  assert.equal(rec.status, 'done');
  assert.deepEqual(
    calls.filter((c) => c.fn === 't-upper').map((c) => c.payload),
    ['bad'],
    'only the failed item ran again',
  );
  assert.equal(rec.steps.join!.items['-']!.result, 'A-BAD-C');
  assert.equal(summarize(fanOut, rec).steps[1]!.reused, 2);
  calls.length = 0;
  const third = await runPipeline(fanOut, { id: 'r2', input: 'a bad c', inputSpec: 'a bad c', out: dir }, { client, store });
  assert.equal(third.status, 'done');
  assert.deepEqual(calls, [], 'a third run does no work at all');
});

test('conditions skip steps with their reason; a failed single step skips what needs it', async (t) => {
  const { worker, client, store, dir } = await setup(t);
  worker.addFunction('t-probe', (job) => JSON.stringify({ kind: job.text().includes('mp4') ? 'video' : 'image' }));
  worker.addFunction('t-ok', () => '"ok"');
  worker.addFunction('t-broken', () => {
    throw new WorkFail('no');
  });
  await worker.start();
  const def = pipeline('branches', { input: 'json' })
    .fn('t-probe')
    .fn('t-ok')
    .fn('t-broken')
    .step('probe', { fn: 't-probe', payload: '${{ input }}' })
    .step('image', { fn: 't-ok', needs: ['probe'], when: "${{ steps.probe.result.kind == 'image' }}", payload: {} })
    .step('video', { fn: 't-ok', needs: ['probe'], when: "steps.probe.result.kind == 'video'", payload: {} })
    .step('broken', { fn: 't-broken', needs: ['image'], payload: {} })
    .step('after', { fn: 't-ok', needs: ['broken'], payload: {} })
    .step('last', { fn: 't-ok', needs: ['image', 'video'], payload: {} })
    .build();
  const rec = await runPipeline(def, { id: 'r3', input: 'photo.jpg', inputSpec: 'photo.jpg', out: dir }, { client, store });
  const st = (id: string) => [rec.steps[id]!.status, rec.steps[id]!.reason];
  assert.deepEqual(st('image'), ['done', undefined]);
  assert.deepEqual(st('video'), ['skipped', "condition is false: steps.probe.result.kind == 'video'"]);
  assert.deepEqual(st('broken'), ['failed', undefined]);
  assert.deepEqual(st('after'), ['skipped', 'needs broken, which failed']);
  assert.deepEqual(st('last'), ['done', undefined], 'a skipped need does not block');
  assert.equal(rec.status, 'failed');
});

test('retry resubmits an item that failed in a way a retry can help, not a permanent failure', async (t) => {
  const { worker, client, store, dir } = await setup(t);
  const seen = new Map<string, number>();
  worker.addFunction('t-flaky', (job) => {
    const w = job.text();
    const n = (seen.get(w) ?? 0) + 1;
    seen.set(w, n);
    if (w === '"flaky"' && n === 1) throw new WorkFail('transient');
    if (w === '"corrupt"') throw gtError('GT_MEDIA_INVALID', 'x', 'image', 'corrupt');
    return '1';
  });
  await worker.start();
  const def = pipeline('retry', { input: 'json' })
    .fn('t-flaky')
    .step('s', { fn: 't-flaky', forEach: '${{ input }}', payload: '${{ item }}', retry: 2 })
    .build();
  const rec = await runPipeline(def, { id: 'r4', input: ['flaky', 'corrupt', 'fine'], inputSpec: null, out: dir }, { client, store });
  assert.equal(seen.get('"flaky"'), 2, 'retried once, then succeeded');
  assert.equal(seen.get('"corrupt"'), 1, 'GT_MEDIA_INVALID is not retried');
  assert.equal(rec.steps.s!.items.flaky!.status, 'done');
  assert.equal(rec.steps.s!.items.corrupt!.status, 'failed');
});

test('fan-out tasks are bounded in flight', async (t) => {
  const { worker, client, store, dir } = await setup(t);
  let running = 0;
  let most = 0;
  worker.addFunction('t-slow', async () => {
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 20));
    running--;
    return '1';
  });
  await worker.start();
  const def = pipeline('bounded', { input: 'json' })
    .fn('t-slow')
    .step('s', { fn: 't-slow', forEach: '${{ input }}', payload: '${{ item }}', concurrency: 2 })
    .build();
  const rec = await runPipeline(def, { id: 'r5', input: Array.from({ length: 10 }, (_, i) => `w${i}`), inputSpec: null, out: dir }, { client, store });
  assert.equal(rec.status, 'done');
  assert.equal(most, 2, 'two in flight at a time, never more');
});

test('parallel branches run at their own priority: a high step overtakes a queued low fan-out', async (t) => {
  const { srv, worker, client, store, dir } = await setup(t);
  const order: string[] = [];
  worker.addFunction('t-order', (job) => {
    order.push(job.json<string>());
    return '1';
  });
  const def = pipeline('prio', { input: 'json' })
    .fn('t-order')
    .step('lows', { fn: 't-order', needs: [], forEach: '${{ input }}', payload: '${{ item }}', priority: 'low' })
    .step('high', { fn: 't-order', needs: [], payload: 'urgent', priority: 'high' })
    .build();
  const run = runPipeline(def, { id: 'r7', input: ['l1', 'l2', 'l3'], inputSpec: null, out: dir }, { client, store });
  // Start the worker only once every job is queued, so the server alone decides the order.
  await until('four t-order jobs queued', () => {
    const f = srv.server.registry.functions.get('t-order');
    return f !== undefined && f.queues[0].size + f.queues[1].size + f.queues[2].size === 4;
  });
  await worker.start();
  const rec = await run;
  assert.equal(rec.status, 'done');
  assert.deepEqual(order, ['urgent', 'l1', 'l2', 'l3']);
});

test('stopping a run abandons waiting items; the next run does them', async (t) => {
  const { worker, client, store, dir } = await setup(t);
  worker.addFunction('t-wait', async (job) => {
    await new Promise((r) => setTimeout(r, job.text() === '"slow"' ? 300 : 1));
    return '1';
  });
  await worker.start();
  const def = pipeline('stop', { input: 'json' }).fn('t-wait').step('s', { fn: 't-wait', forEach: '${{ input }}', payload: '${{ item }}' }).build();
  const abort = new AbortController();
  const rec = await runPipeline(
    def,
    { id: 'r6', input: ['fast', 'slow'], inputSpec: null, out: dir },
    {
      client,
      store,
      signal: abort.signal,
      onEvent: (e) => {
        if (e.type === 'item-done' && e.key === 'fast') abort.abort(new Error('stop'));
      },
    },
  );
  assert.equal(rec.status, 'cancelled');
  assert.equal(rec.steps.s!.items.slow, undefined, 'the abandoned item is not recorded as failed');
  const again = await runPipeline(def, { id: 'r6', input: ['fast', 'slow'], inputSpec: null, out: dir }, { client, store });
  assert.equal(again.status, 'done');
  assert.equal(again.steps.s!.reused, 1);
});

test('a missing property inside a text template fails the step, naming the step, the field and the expression', async (t) => {
  const { worker, client, store, dir, calls } = await setup(t);
  worker.addFunction('t-echo', (job) => {
    calls.push({ fn: 't-echo', payload: job.json() });
    return '1';
  });
  await worker.start();
  const def = pipeline('holes', { input: 'json' })
    .fn('t-echo')
    .step('s', { fn: 't-echo', forEach: '${{ input }}', payload: { to: '${{ run.out }}/${{ item.folder }}' } })
    .build();
  const rec = await runPipeline(def, { id: 'r8', input: [{ key: 'one', dir: 'a' }], inputSpec: null, out: dir }, { client, store });
  assert.equal(rec.status, 'failed');
  assert.equal(rec.steps.s!.status, 'failed');
  assert.equal(rec.steps.s!.reason, 'Pipeline holes: step s, item one: payload.to: "${{ run.out }}/${{ item.folder }}": item.folder is undefined');
  assert.deepEqual(calls, [], 'nothing was submitted');
});

test('a failure skips everything downstream of it; an onFailure step runs then, and only then, with the reasons', async (t) => {
  const { worker, client, store, dir, calls } = await setup(t);
  worker.addFunction('t-check', (job) => {
    if (job.json<string>() === 'bad') throw gtError('GT_MEDIA_INVALID', 'bad', 'file', 'it is bad');
    return '"ok"';
  });
  worker.addFunction('t-tell', (job) => {
    calls.push({ fn: 't-tell', payload: job.json() });
    return '1';
  });
  await worker.start();
  const def = pipeline('tell', { input: 'json' })
    .fn('t-check')
    .fn('t-tell')
    .step('check', { fn: 't-check', payload: '${{ input }}' })
    .step('make', { fn: 't-tell', when: "steps.check.result == 'ok'", payload: 'made' })
    .step('ready', { fn: 't-tell', payload: 'ready' })
    .step('sorry', { fn: 't-tell', needs: ['make'], onFailure: true, payload: { why: '${{ steps.check.failures[0].error }}' } })
    .build();
  const bad = await runPipeline(def, { id: 'r9', input: 'bad', inputSpec: 'bad', out: dir }, { client, store });
  assert.deepEqual(Object.fromEntries(Object.entries(bad.steps).map(([id, s]) => [id, [s.status, s.reason]])), {
    check: ['failed', undefined],
    make: ['skipped', 'needs check, which failed'],
    ready: ['skipped', 'needs check, which failed'],
    sorry: ['done', undefined],
  });
  assert.deepEqual(
    calls.map((c) => c.payload),
    [{ why: 'GT_MEDIA_INVALID: bad is not a valid file: it is bad' }],
  );
  calls.length = 0;
  const good = await runPipeline(def, { id: 'r10', input: 'good', inputSpec: 'good', out: dir }, { client, store });
  assert.equal(good.status, 'done');
  assert.deepEqual([good.steps.sorry!.status, good.steps.sorry!.reason], ['skipped', 'nothing it needs failed']);
  assert.deepEqual(
    calls.map((c) => c.payload),
    ['made', 'ready'],
  );
});

test("a declared function's result is checked against its schema: an item whose result does not match fails, naming the step and the path", async (t) => {
  const { worker, client, store, dir } = await setup(t);
  worker.addFunction('t-size', (job) => JSON.stringify(job.json<string>() === 'odd' ? { width: 'wide' } : { width: 320 }));
  await worker.start();
  const def = pipeline('sized', { input: 'json' })
    .fn('t-size', { payload: Type.String(), result: Type.Object({ width: Type.Integer() }) })
    .step('size', { fn: 't-size', forEach: (s) => (Array.isArray(s.input) ? s.input.map(String) : []), payload: (s) => s.item })
    .build();
  const rec = await runPipeline(def, { id: 'r11', input: ['even', 'odd'], inputSpec: null, out: dir }, { client, store });
  assert.equal(rec.steps.size!.items.even!.status, 'done');
  assert.equal(
    rec.steps.size!.items.odd!.error,
    'GT_PIPELINE_INVALID: Pipeline sized: step size, item odd: t-size answered a result its schema refuses: Expected integer for steps.size.result.width ' +
      'but received wide of type string',
  );
  assert.equal(rec.steps.size!.status, 'partial');
});

test('an option with a schema is checked before the run starts, naming it', async (t) => {
  const { client, store, dir } = await setup(t);
  const def = pipeline('opts', { input: 'json', options: { width: { description: 'px', default: 320, schema: Type.Integer({ minimum: 1 }) } } })
    .fn('t-none')
    .step('s', { fn: 't-none', payload: (s) => ({ width: s.options.width }) })
    .build();
  await assert.rejects(runPipeline(def, { id: 'r12', input: null, inputSpec: null, out: dir, options: { width: 0 } }, { client, store }), {
    code: 'GT_PIPELINE_INVALID',
    message: 'Pipeline opts: Expected positive integer for options.width but received 0 of type number',
  });
});

test('a step sees only its ancestors among the steps, whatever else has finished', async (t) => {
  const { worker, client, store, dir, calls } = await setup(t);
  worker.addFunction('t-seen', (job) => {
    calls.push({ fn: 't-seen', payload: job.json() });
    return '1';
  });
  await worker.start();
  const def = pipeline('seen', { input: 'json' })
    .fn('t-seen')
    .step('a', { fn: 't-seen', payload: 'a' })
    .step('b', { fn: 't-seen', payload: (s) => Object.keys(s.steps) })
    .step('c', { fn: 't-seen', needs: [], when: (s) => Object.keys(s.steps).length === 0, payload: 'c' })
    .step('d', { fn: 't-seen', needs: ['b', 'c'], payload: (s) => Object.keys(s.steps).sort() })
    .build();
  const rec = await runPipeline(def, { id: 'r13', input: null, inputSpec: null, out: dir }, { client, store });
  assert.equal(rec.status, 'done');
  assert.equal(rec.steps.c!.status, 'done', 'c needs nothing, so it sees no step, whichever have finished');
  assert.ok(
    calls.some((c) => JSON.stringify(c.payload) === '["a"]'),
    'b sees a',
  );
  assert.ok(
    calls.some((c) => JSON.stringify(c.payload) === '["a","b","c"]'),
    'd sees b, c and, through b, a',
  );
});
