// `pipeline run thumbnails DIR --notify-url URL` as a user runs it (the built CLI, embedded
// workers): the run's summary and outputs reach a local receiver as one signed POST, which
// verifies with the code docs/workers.md gives.

import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import sharp from 'sharp';
import { runCli as cli } from '../helpers/cli.js';
import { ROOT } from '../helpers/servers.js';
import { documentedVerify, SECRET, webhookReceiver } from '../helpers/webhook.js';

/** A temp folder holding `photos/`, each entry a copy of a file under fixtures/. */
async function photos(t: TestContext, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-notify-url-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [rel, fixture] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, 'photos', rel)), { recursive: true });
    await copyFile(path.join(ROOT, 'fixtures', fixture), path.join(dir, 'photos', rel));
  }
  return dir;
}

test('thumbnails --notify-url POSTs the summary and every output, signed', async (t) => {
  const r = await webhookReceiver(t, await documentedVerify());
  const dir = await photos(t, { 'landscape.jpg': 'images/photo-landscape.jpg', 'trip/portrait.jpg': 'images/photo-portrait-exif6.jpg' });
  const run = await cli(['run', 'thumbnails', 'photos', '--out', 'out', '--json', '--notify-url', `${r.base}/hooks/media`], dir, {
    GEARTRAIN_WEBHOOK_SECRET: SECRET,
  });
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as { steps: { id: string; status: string }[] };
  assert.deepEqual(
    summary.steps.map((s) => [s.id, s.status]),
    [
      ['thumbnail', 'done'],
      ['notify', 'skipped'],
      ['webhook', 'done'],
      ['webhook-failed', 'skipped'],
    ],
  );

  assert.equal(r.received.length, 1);
  const got = r.received[0]!;
  assert.equal(got.path, '/hooks/media');
  assert.equal(got.verified, true);
  assert.equal(got.headers['geartrain-event'], 'thumbnails.done');
  const body = JSON.parse(got.body) as {
    pipeline: string;
    runId: string;
    status: string;
    images: number;
    failed: number;
    outputs: { source: string; file: string; width: number; height: number; format: string }[];
  };
  assert.deepEqual([body.pipeline, body.status], ['thumbnails', 'done']);
  assert.match(body.runId, /^thumbnails-/);
  assert.deepEqual([body.images, body.failed], [2, 0]);
  assert.deepEqual(body.outputs.map((o) => [o.source, o.file]).sort(), [
    ['landscape.jpg', 'landscape-1280w.jpg'],
    ['landscape.jpg', 'landscape-320w.webp'],
    ['landscape.jpg', 'landscape-640w.webp'],
    ['trip/portrait.jpg', 'trip/portrait-1280w.jpg'],
    ['trip/portrait.jpg', 'trip/portrait-320w.webp'],
    ['trip/portrait.jpg', 'trip/portrait-640w.webp'],
  ]);
  // The dimensions the body gives are those of the files on disk.
  for (const o of body.outputs) {
    const m = await sharp(path.join(dir, 'out', o.file)).metadata();
    assert.deepEqual([m.width, m.height, m.format], [o.width, o.height, o.format], o.file);
  }

  // Run again: nothing changed, so the delivery is not sent twice.
  const again = await cli(['run', 'thumbnails', 'photos', '--out', 'out', '--json', '--notify-url', `${r.base}/hooks/media`], dir, {
    GEARTRAIN_WEBHOOK_SECRET: SECRET,
  });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(r.received.length, 1);
});

test('thumbnails --notify-url without a signing secret fails the webhook step and says why', async (t) => {
  const r = await webhookReceiver(t, await documentedVerify());
  const dir = await photos(t, { 'landscape.jpg': 'images/photo-landscape.jpg' });
  const run = await cli(['run', 'thumbnails', 'photos', '--out', 'out', '--notify-url', `${r.base}/hooks/media`], dir, { GEARTRAIN_WEBHOOK_SECRET: '' });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stdout, /webhook +webhook +GT_WEBHOOK_NO_SECRET: The webhook worker has no signing secret of at least 16 characters/);
  assert.equal(r.received.length, 0);
});

test('thumbnails --notify-url when every image fails: one thumbnails.failed POST listing why', async (t) => {
  const r = await webhookReceiver(t, await documentedVerify());
  const dir = await photos(t, { 'broken.jpg': 'bad/truncated.jpg' });
  const run = await cli(['run', 'thumbnails', 'photos', '--out', 'out', '--json', '--notify-url', `${r.base}/hooks/media`], dir, {
    GEARTRAIN_WEBHOOK_SECRET: SECRET,
  });
  assert.equal(run.code, 1, run.stderr);
  assert.equal(r.received.length, 1);
  const got = r.received[0]!;
  assert.equal(got.verified, true);
  assert.equal(got.headers['geartrain-event'], 'thumbnails.failed');
  const body = JSON.parse(got.body) as { status: string; failed: number; failures: { item: string; error: string }[] };
  assert.deepEqual([body.status, body.failed, body.failures.map((f) => f.item)], ['failed', 1, ['broken.jpg']]);
  assert.match(body.failures[0]!.error, /^GT_MEDIA_INVALID: .*broken\.jpg is not a valid image: /);
});
