// The thumbnail result's placeholder (ThumbHash), dominant colour and srcset, through a real job
// server: the hash read back with the library's decoder, the colour checked on a two-colour
// image, srcset against the outputs made, and already-made outputs giving the same answer.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { thumbHashToAverageRGBA, thumbHashToRGBA } from 'thumbhash';
import { dominantColour } from '../../src/workers/placeholder.js';
import { thumbnailWorker } from '../../src/workers/thumbnail.js';
import { ROOT } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

const IMG = (f: string) => path.join(ROOT, 'fixtures/images', f);

async function tmp(t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-thumbph-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const hashOf = (r: { placeholder: { thumbhash: string } }): Buffer => Buffer.from(r.placeholder.thumbhash, 'base64');

/** The source's mean colour as displayed, 0–255 per channel. */
async function meanRgb(file: string): Promise<number[]> {
  const s = await sharp(await sharp(file).rotate().removeAlpha().toColourspace('srgb').toBuffer()).stats();
  return s.channels.slice(0, 3).map((c) => c.mean);
}

const distance = (a: number[], b: number[]): number => Math.hypot(...a.map((v, i) => v - b[i]!));

test('the placeholder decodes to an image of the source’s average colour and aspect ratio', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  for (const file of ['photo-landscape.jpg', 'photo-portrait-exif6.jpg']) {
    const r = await call('thumbnail', { input: IMG(file), outDir: out, sizes: [{ width: 320, format: 'webp' }] });
    conforms('thumbnail', r);
    const hash = hashOf(r);
    assert.ok(hash.length <= 30, `${file}: a ThumbHash is tiny (${hash.length} bytes)`);
    const avg = thumbHashToAverageRGBA(hash);
    const want = await meanRgb(IMG(file));
    const got = [avg.r, avg.g, avg.b].map((v) => v * 255);
    assert.ok(distance(got, want) < 12, `${file}: placeholder average ${got.map(Math.round)} is near the source's ${want.map(Math.round)}`);
    const decoded = thumbHashToRGBA(hash);
    assert.equal(decoded.w > decoded.h, r.width > r.height, `${file}: the placeholder keeps the orientation as displayed`);
    assert.match(r.placeholder.dominant, /^#[0-9a-f]{6}$/);
  }
});

test('the placeholder keeps alpha', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const r = await call('thumbnail', { input: IMG('alpha.png'), outDir: out, sizes: [{ width: 64, format: 'png' }] });
  const { a } = thumbHashToAverageRGBA(hashOf(r));
  const srcAlpha = (await sharp(IMG('alpha.png')).stats()).channels[3]!.mean / 255;
  assert.ok(Math.abs(a - srcAlpha) < 0.1, `placeholder alpha ${a.toFixed(2)} near the source's ${srcAlpha.toFixed(2)}`);
});

test('the dominant colour is the colour covering most of a two-colour image', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const w = 400;
  const h = 300;
  const px = Buffer.alloc(w * h * 3);
  // 60% #1e90ff on the right, 40% #ff6347 on the left.
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) px.set(x < w * 0.4 ? [0xff, 0x63, 0x47] : [0x1e, 0x90, 0xff], (y * w + x) * 3);
  }
  const input = path.join(out, 'two.png');
  await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(input);
  const r = await call('thumbnail', { input, outDir: out, sizes: [{ width: 100, format: 'jpeg' }] });
  assert.equal(r.placeholder.dominant, '#1e90ff');
});

test('srcset lists exactly the outputs made, per format, by ascending width, under the URL prefix', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const sizes = [
    { width: 640, format: 'webp' },
    { width: 1280, format: 'jpeg' },
    { width: 320, format: 'webp' },
    { width: 200, format: 'avif' },
  ];
  const bare = await call('thumbnail', { input: IMG('photo-landscape.jpg'), outDir: out, name: 'a', sizes });
  assert.deepEqual(bare.srcset, { webp: 'a-320w.webp 320w, a-640w.webp 640w', jpeg: 'a-1280w.jpg 1280w', avif: 'a-200w.avif 200w' });
  const cdn = await call('thumbnail', { input: IMG('photo-landscape.jpg'), outDir: out, name: 'a', sizes, urlPrefix: 'https://cdn.example/img/' });
  assert.equal(cdn.srcset.webp, 'https://cdn.example/img/a-320w.webp 320w, https://cdn.example/img/a-640w.webp 640w');
  const noSlash = await call('thumbnail', { input: IMG('photo-landscape.jpg'), outDir: out, name: 'a', sizes, urlPrefix: '/img' });
  assert.equal(noSlash.srcset.jpeg, '/img/a-1280w.jpg 1280w', 'a prefix without a trailing slash is a folder');
});

test('srcset: names are URL-encoded, and outputs of the same width (never upscaled) are listed once', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  // The source is 1600 wide: 2000w and 3000w both come out 1600 wide.
  const r = await call('thumbnail', {
    input: IMG('photo-landscape.jpg'),
    outDir: out,
    name: 'my photo, 1',
    sizes: [
      { width: 3000, format: 'webp' },
      { width: 2000, format: 'webp' },
      { width: 800, format: 'webp' },
      { width: 300, height: 300, format: 'png' },
    ],
  });
  assert.deepEqual(
    r.outputs.map((o: { width: number }) => o.width),
    [1600, 1600, 800, 300],
  );
  assert.deepEqual(r.srcset, { webp: 'my%20photo%2C%201-800w.webp 800w, my%20photo%2C%201-2000w.webp 1600w', png: 'my%20photo%2C%201-300x300.png 300w' });
});

test('already-made outputs give the same placeholder, colour and srcset; placeholder: false leaves them out', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const payload = {
    input: IMG('photo-landscape.jpg'),
    outDir: out,
    sizes: [
      { width: 160, format: 'webp' },
      { width: 200, format: 'jpeg' },
    ],
  };
  const first = await call('thumbnail', payload);
  const second = await call('thumbnail', payload);
  assert.deepEqual(
    second.outputs.map((o: { skipped?: boolean }) => o.skipped),
    [true, true],
  );
  assert.deepEqual(second.placeholder, first.placeholder);
  assert.deepEqual(second.srcset, first.srcset);
  const off = await call('thumbnail', { ...payload, placeholder: false });
  assert.equal(off.placeholder, undefined);
  assert.deepEqual(off.srcset, first.srcset, 'srcset costs nothing and stays');
  // Outputs made without a placeholder, then asked again with one: the outputs are not made again.
  const other = await tmp(t);
  await call('thumbnail', { ...payload, outDir: other, placeholder: false });
  const again = await call('thumbnail', { ...payload, outDir: other });
  assert.deepEqual(
    again.outputs.map((o: { skipped?: boolean }) => o.skipped),
    [true, true],
  );
  assert.deepEqual(again.placeholder, first.placeholder);
  const record = JSON.parse(await readFile(path.join(other, '.geartrain', 'photo-landscape-160w.webp.json'), 'utf8'));
  assert.deepEqual(record.info.placeholder, first.placeholder, 'kept in the record for the next job');
});

test('the placeholder is given when every output keeps metadata (no shared decoded buffer)', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const r = await call('thumbnail', { input: IMG('photo-portrait-exif6.jpg'), outDir: out, stripMetadata: false, sizes: [{ width: 200, format: 'jpeg' }] });
  const decoded = thumbHashToRGBA(hashOf(r));
  assert.ok(decoded.h > decoded.w, 'portrait, as displayed');
});

test('placeholder and urlPrefix are checked at the boundary, naming the field', async (t) => {
  const { failure } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const base = { input: IMG('alpha.png'), outDir: '/tmp/x', sizes: [{ width: 10, format: 'png' }] };
  const cases: [unknown, string][] = [
    [{ ...base, placeholder: 'no' }, 'Expected boolean for thumbnail.placeholder but received no of type string'],
    [
      { ...base, urlPrefix: 'https://cdn.example/my img/' },
      'Expected a URL prefix of 1 to 4096 characters without whitespace or commas for thumbnail.urlPrefix but received https://cdn.example/my img/ of type ' +
        'string',
    ],
    [
      { ...base, urlPrefix: 'https://cdn.example/a,b/' },
      'Expected a URL prefix of 1 to 4096 characters without whitespace or commas for thumbnail.urlPrefix but received https://cdn.example/a,b/ of type string',
    ],
  ];
  for (const [payload, message] of cases) assert.equal(await failure('thumbnail', payload), `GT_PAYLOAD_INVALID: ${message}`);
});

test('the dominant colour counts opaque pixels only, unless none is', () => {
  // 70% transparent black, 30% opaque #ff6347; then a wholly transparent #336699.
  const px = Buffer.alloc(100 * 4);
  for (let i = 0; i < 100; i++) px.set(i < 70 ? [0, 0, 0, 0] : [0xff, 0x63, 0x47, 255], i * 4);
  assert.equal(dominantColour(px), '#ff6347');
  const clear = Buffer.alloc(100 * 4);
  for (let i = 0; i < 100; i++) clear.set([0x33, 0x66, 0x99, 0], i * 4);
  assert.equal(dominantColour(clear), '#336699');
});
