// Smart crop: `fit: cover` with `position: centre | attention | entropy`, read back from the
// outputs. The input is a flat grey 1200×600 image with a small, detailed, colourful subject near
// its right edge: a square crop from the centre misses it, attention and entropy keep it.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import sharp from 'sharp';
import { thumbnailWorker } from '../../src/workers/thumbnail.js';
import { withWorkers } from '../helpers/workers.js';

async function tmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-crop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** 1200×600 flat grey with a 160×160 subject of coloured noise at x 980–1140, y 220–380. */
async function offCentreSubject(file: string): Promise<void> {
  const side = 160;
  const noise = Buffer.alloc(side * side * 3);
  let seed = 12345;
  for (let i = 0; i < noise.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    noise[i] = seed >> 23;
  }
  const subject = await sharp(noise, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
  await sharp({ create: { width: 1200, height: 600, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([{ input: subject, left: 980, top: 220 }])
    .png()
    .toFile(file);
}

/** Pixels of the output that are not the background's grey: the subject's share of the crop. */
async function detail(file: string): Promise<number> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (Math.abs(data[i]! - 128) > 8 || Math.abs(data[i + 1]! - 128) > 8 || Math.abs(data[i + 2]! - 128) > 8) n++;
  }
  return n / (info.width * info.height);
}

/** The subject scaled with the image (600 → 300 high: ×0.5) is 80×80 of a 300×300 crop. */
const WHOLE_SUBJECT = (80 * 80) / (300 * 300);

test('cover with position attention or entropy keeps an off-centre subject that a centre crop cuts off', async (t) => {
  const dir = await tmp(t);
  const input = path.join(dir, 'scene.png');
  await offCentreSubject(input);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const crop = async (position?: string): Promise<{ file: string; width: number; height: number }> => {
    const outDir = path.join(dir, position ?? 'default');
    const res = await call('thumbnail', {
      input,
      outDir,
      sizes: [{ width: 300, height: 300, format: 'png' }],
      fit: 'cover',
      ...(position ? { position } : {}),
    });
    const o = res.outputs[0];
    return { file: o.path, width: o.width, height: o.height };
  };
  const centre = await crop('centre');
  const byDefault = await crop();
  const attention = await crop('attention');
  const entropy = await crop('entropy');
  for (const o of [centre, byDefault, attention, entropy]) {
    const m = await sharp(o.file).metadata();
    assert.deepEqual([m.width, m.height, o.width, o.height], [300, 300, 300, 300]);
  }
  assert.equal(await detail(centre.file), 0, 'the centre crop is flat grey');
  assert.equal(await detail(byDefault.file), 0, 'centre is the default');
  assert.ok((await detail(attention.file)) > 0.9 * WHOLE_SUBJECT, `the attention crop holds the subject: ${await detail(attention.file)}`);
  assert.ok((await detail(entropy.file)) > 0.9 * WHOLE_SUBJECT, `the entropy crop holds the subject: ${await detail(entropy.file)}`);
});

test('a changed position makes the output again; the same one finds it up to date', async (t) => {
  const dir = await tmp(t);
  const input = path.join(dir, 'scene.png');
  await offCentreSubject(input);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const payload = { input, outDir: dir, sizes: [{ width: 200, height: 200, format: 'png' }], fit: 'cover' };
  const first = await call('thumbnail', payload);
  assert.equal(first.outputs[0].skipped, undefined);
  assert.equal((await call('thumbnail', { ...payload, position: 'centre' })).outputs[0].skipped, true, 'centre is the default');
  const moved = await call('thumbnail', { ...payload, position: 'attention' });
  assert.equal(moved.outputs[0].skipped, undefined);
  assert.ok((await detail(moved.outputs[0].path)) > 0.05, 'the subject is in the 200×200 crop');
  assert.equal((await call('thumbnail', { ...payload, position: 'attention' })).outputs[0].skipped, true);
});

test('position is checked: one of the three, and only with fit cover', async (t) => {
  const dir = await tmp(t);
  const input = path.join(dir, 'scene.png');
  await offCentreSubject(input);
  const { failure } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const base = { input, outDir: dir, sizes: [{ width: 200, height: 200, format: 'png' }] };
  assert.equal(
    await failure('thumbnail', { ...base, fit: 'cover', position: 'center' }),
    'GT_PAYLOAD_INVALID: Expected one of centre, attention, entropy for thumbnail.position but received center of type string',
  );
  assert.equal(
    await failure('thumbnail', { ...base, position: 'attention' }),
    'GT_PAYLOAD_INVALID: Expected fit cover (a position says where to crop) for thumbnail.fit but received inside of type string',
  );
  assert.equal(
    await failure('thumbnail', { ...base, fit: 'contain', position: 'entropy' }),
    'GT_PAYLOAD_INVALID: Expected fit cover (a position says where to crop) for thumbnail.fit but received contain of type string',
  );
});
