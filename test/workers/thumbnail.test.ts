// The thumbnail worker through a real job server, outputs read back with sharp: sizes, formats,
// orientation, metadata, alpha, animation, fits, no upscaling, up-to-date outputs not made
// again, and every bad input failing alone with a message naming the file.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import sharp from 'sharp';
import { silentLogger } from '../../src/log.js';
import { thumbnailWorker } from '../../src/workers/thumbnail.js';
import { filesUnder, tempFiles } from '../helpers/files.js';
import { ROOT } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

const IMG = (f: string) => path.join(ROOT, 'fixtures/images', f);
const BAD = (f: string) => path.join(ROOT, 'fixtures/bad', f);

/**
 * A GIF of `frames` 1×1 frames on a `side`×`side` logical screen: a few bytes per frame, and a
 * full screen of pixels per frame for a decoder that composes the animation.
 */
function gifFrameBomb(frames: number, side: number): Buffer {
  const u16 = (n: number): number[] => [n & 0xff, n >> 8];
  const head = [...Buffer.from('GIF89a'), ...u16(side), ...u16(side), 0, 0, 0, 0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0'), 3, 1, 0, 0, 0];
  // Graphic control (10 ms), a 1×1 image with a 2-colour local table, LZW: clear, 0, end.
  const frame = [0x21, 0xf9, 4, 4, 10, 0, 0, 0, 0x2c, 0, 0, 0, 0, ...u16(1), ...u16(1), 0x80, 0, 0, 0, 255, 255, 255, 2, 2, 0x44, 0x01, 0];
  return Buffer.concat([Buffer.from(head), ...Array.from({ length: frames }, () => Buffer.from(frame)), Buffer.from([0x3b])]);
}

async function tmp(t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-thumb-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('several sizes and formats from one job, read back with sharp', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker, concurrency: 2 }]);
  const statuses: number[] = [];
  const r = await call(
    'thumbnail',
    {
      input: IMG('photo-landscape.jpg'),
      outDir: out,
      sizes: [
        { width: 320, format: 'webp' },
        { width: 640, format: 'jpeg', quality: 70 },
        { width: 200, format: 'avif' },
        { width: 100, format: 'png' },
      ],
    },
    (n) => statuses.push(n),
  );
  conforms('thumbnail', r);
  assert.deepEqual([r.width, r.height, r.format], [1600, 1067, 'jpeg']);
  assert.deepEqual(
    r.outputs.map((o: { path: string }) => path.basename(o.path)),
    ['photo-landscape-320w.webp', 'photo-landscape-640w.jpg', 'photo-landscape-200w.avif', 'photo-landscape-100w.png'],
  );
  const expect = [
    [320, 213, 'webp'],
    [640, 427, 'jpeg'],
    [200, 133, 'heif'],
    [100, 67, 'png'],
  ];
  for (const [i, o] of r.outputs.entries()) {
    const m = await sharp(o.path).metadata();
    assert.deepEqual([m.width, m.height, m.format], expect[i], o.path);
    assert.deepEqual([o.width, o.height, o.bytes], [m.width, m.height, (await stat(o.path)).size]);
    assert.equal(m.space, 'srgb');
  }
  assert.deepEqual(statuses, [1, 2, 3, 4], 'progress after each output');
  assert.deepEqual((await readdir(out)).sort(), [
    '.geartrain',
    'photo-landscape-100w.png',
    'photo-landscape-200w.avif',
    'photo-landscape-320w.webp',
    'photo-landscape-640w.jpg',
  ]);
});

test('EXIF orientation is applied and metadata stripped; keepable on request', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const src = await sharp(IMG('photo-portrait-exif6.jpg')).metadata();
  assert.deepEqual([src.width, src.height, src.orientation], [1200, 800, 6], 'the fixture is stored landscape with orientation 6');
  const r = await call('thumbnail', { input: IMG('photo-portrait-exif6.jpg'), outDir: out, sizes: [{ width: 400, format: 'jpeg' }] });
  assert.deepEqual([r.width, r.height], [800, 1200], 'the source as displayed');
  const m = await sharp(r.outputs[0].path).metadata();
  assert.deepEqual([m.width, m.height], [400, 600], 'portrait, as the photo is displayed');
  assert.equal(m.orientation, undefined);
  assert.equal(m.exif, undefined, 'EXIF stripped');
  const kept = await call('thumbnail', {
    input: IMG('photo-portrait-exif6.jpg'),
    outDir: out,
    name: 'kept',
    stripMetadata: false,
    sizes: [{ width: 400, format: 'jpeg' }],
  });
  const km = await sharp(kept.outputs[0].path).metadata();
  assert.ok(km.exif, 'EXIF kept when asked');
  assert.deepEqual([km.width, km.height], [400, 600]);
  assert.ok(km.orientation === undefined || km.orientation === 1, 'and still upright');
});

test('fit inside, cover and contain; never upscaled', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const sizes = [{ width: 300, height: 300, format: 'png' }];
  const dims = async (fit: string) => {
    const r = await call('thumbnail', { input: IMG('photo-landscape.jpg'), outDir: path.join(out, fit), fit, sizes });
    const m = await sharp(r.outputs[0].path).metadata();
    return [m.width, m.height, path.basename(r.outputs[0].path)];
  };
  assert.deepEqual(await dims('inside'), [300, 200, 'photo-landscape-300x300.png']);
  assert.deepEqual(await dims('cover'), [300, 300, 'photo-landscape-300x300.png']);
  assert.deepEqual(await dims('contain'), [300, 300, 'photo-landscape-300x300.png']);
  const big = await call('thumbnail', { input: IMG('alpha.png'), outDir: out, sizes: [{ width: 4000, format: 'webp' }] });
  const m = await sharp(big.outputs[0].path).metadata();
  assert.deepEqual([m.width, m.height], [640, 480], 'not enlarged past the source');
});

/** The top-left pixel of an image as RGBA. */
async function corner(file: string): Promise<number[]> {
  return [...(await sharp(file).extract({ left: 0, top: 0, width: 1, height: 1 }).ensureAlpha().raw().toBuffer())];
}

test('contain pads with transparency (white in JPEG) or with the background asked for', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const payload = {
    input: IMG('photo-landscape.jpg'),
    outDir: out,
    fit: 'contain',
    sizes: [
      { width: 300, height: 300, format: 'png' },
      { width: 300, height: 300, format: 'jpeg' },
    ],
  };
  const plain = await call('thumbnail', payload);
  assert.deepEqual(await corner(plain.outputs[0].path), [0, 0, 0, 0], 'transparent padding in PNG');
  const [r, g, b, a] = await corner(plain.outputs[1].path);
  assert.ok(r! > 245 && g! > 245 && b! > 245 && a === 255, `white padding in JPEG (${[r, g, b, a]})`);
  const red = await call('thumbnail', { ...payload, background: '#f00' });
  assert.deepEqual(
    red.outputs.map((o: { skipped?: true }) => o.skipped),
    [undefined, undefined],
    'another background makes the outputs again',
  );
  assert.deepEqual(await corner(red.outputs[0].path), [255, 0, 0, 255]);
  const [jr, jg, jb] = await corner(red.outputs[1].path);
  assert.ok(jr! > 245 && jg! < 10 && jb! < 10, `red padding in JPEG (${[jr, jg, jb]})`);
  const half = await call('thumbnail', { ...payload, background: '#0000ff80', sizes: [payload.sizes[0]] });
  assert.deepEqual(await corner(half.outputs[0].path), [0, 0, 255, 128]);
});

test('alpha is kept in PNG and WebP and flattened on white in JPEG', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const r = await call('thumbnail', {
    input: IMG('alpha.png'),
    outDir: out,
    sizes: [
      { width: 320, format: 'png' },
      { width: 320, format: 'webp' },
      { width: 320, format: 'jpeg' },
    ],
  });
  for (const o of r.outputs.slice(0, 2)) {
    const m = await sharp(o.path).metadata();
    assert.equal(m.hasAlpha, true, o.path);
    const corner = await sharp(o.path).extract({ left: 0, top: 0, width: 1, height: 1 }).ensureAlpha().raw().toBuffer();
    assert.equal(corner[3], 0, 'the transparent corner stays transparent');
  }
  const white = await corner(r.outputs[2].path);
  assert.ok(white[0]! > 240 && white[1]! > 240 && white[2]! > 240, `white, not black (${white})`);
  const dark = await call('thumbnail', {
    input: IMG('alpha.png'),
    outDir: out,
    background: '#102030',
    sizes: [
      { width: 320, format: 'jpeg' },
      { width: 320, format: 'png' },
    ],
  });
  const [r0, g0, b0] = await corner(dark.outputs[0].path);
  assert.ok(Math.abs(r0! - 16) < 6 && Math.abs(g0! - 32) < 6 && Math.abs(b0! - 48) < 6, `the background under JPEG (${[r0, g0, b0]})`);
  assert.equal(dark.outputs[1].skipped, true, 'a background does not show in a PNG that is not padded: still up to date');
});

test('an animated GIF stays animated in WebP and gives its first frame otherwise', async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const r = await call('thumbnail', {
    input: IMG('animated.gif'),
    outDir: out,
    sizes: [
      { width: 100, format: 'webp' },
      { width: 100, format: 'png' },
    ],
  });
  conforms('thumbnail', r);
  const webp = await sharp(r.outputs[0].path, { animated: true }).metadata();
  assert.equal(webp.pages, 6);
  assert.deepEqual([webp.width, webp.pageHeight], [100, 75]);
  assert.equal(r.outputs[0].animated, true);
  assert.equal(r.outputs[0].height, 75);
  const png = await sharp(r.outputs[1].path).metadata();
  assert.deepEqual([png.width, png.height, png.pages], [100, 75, undefined]);
});

test('an animated WebP input stays animated in WebP and gives its first frame in JPEG', async (t) => {
  const out = await tmp(t);
  const input = path.join(out, 'moving.webp');
  await sharp(IMG('animated.gif'), { animated: true }).webp({ quality: 90 }).toFile(input);
  const { call } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const r = await call('thumbnail', {
    input,
    outDir: path.join(out, 'thumbs'),
    sizes: [
      { width: 120, format: 'webp' },
      { width: 120, format: 'jpeg' },
    ],
  });
  assert.deepEqual([r.width, r.height, r.format], [200, 150, 'webp'], 'the size of one frame');
  const webp = await sharp(r.outputs[0].path, { animated: true }).metadata();
  assert.deepEqual([webp.pages, webp.width, webp.pageHeight], [6, 120, 90]);
  const jpeg = await sharp(r.outputs[1].path).metadata();
  assert.deepEqual([jpeg.width, jpeg.height, jpeg.format], [120, 90, 'jpeg']);
  assert.equal(r.outputs[1].animated, undefined);
});

test('the pixel limit counts every frame a job decodes: all of an animation for an animated output, the first for a still', async (t) => {
  const out = await tmp(t);
  // 6 frames of 200×150 = 30,000 pixels each, 180,000 in all.
  const roomy = await withWorkers(t, [{ factory: thumbnailWorker }], { thumbnail: { maxPixels: 200_000 } });
  const r = await roomy.call('thumbnail', {
    input: IMG('animated.gif'),
    outDir: out,
    sizes: [
      { width: 100, format: 'webp' },
      { width: 100, format: 'jpeg' },
    ],
  });
  assert.equal((await sharp(r.outputs[0].path, { animated: true }).metadata()).pages, 6);
  assert.deepEqual([r.outputs[1].width, r.outputs[1].height], [100, 75]);
  const tight = await withWorkers(t, [{ factory: thumbnailWorker }], { thumbnail: { maxPixels: 40_000 } });
  // Other folders: the outputs above are up to date and would be returned without a look at the input.
  assert.equal(
    await tight.failure('thumbnail', { input: IMG('animated.gif'), outDir: path.join(out, 'tight'), sizes: [{ width: 100, format: 'webp' }] }),
    `GT_MEDIA_TOO_LARGE: ${IMG('animated.gif')} is too large: 200×150 × 6 frames = 180000 pixels exceeds the limit of 40000 pixels (raise it with ` +
      `--max-pixels)`,
  );
  const still = await tight.call('thumbnail', { input: IMG('animated.gif'), outDir: path.join(out, 'still'), sizes: [{ width: 100, format: 'jpeg' }] });
  assert.deepEqual([still.outputs[0].width, still.outputs[0].height], [100, 75]);
  const tighter = await withWorkers(t, [{ factory: thumbnailWorker }], { thumbnail: { maxPixels: 20_000 } });
  assert.equal(
    await tighter.failure('thumbnail', { input: IMG('animated.gif'), outDir: path.join(out, 'tighter'), sizes: [{ width: 100, format: 'jpeg' }] }),
    `GT_MEDIA_TOO_LARGE: ${IMG('animated.gif')} is too large: 200×150 = 30000 pixels exceeds the limit of 20000 pixels (raise it with --max-pixels)`,
  );
});

test('an output already up to date is not made again; a changed option or input makes it again', async (t) => {
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
  const mtime = (await stat(first.outputs[0].path)).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  const second = conforms('thumbnail', await call('thumbnail', payload));
  assert.deepEqual(
    second.outputs.map((o: { skipped?: boolean }) => o.skipped),
    [true, true],
  );
  assert.deepEqual(
    second.outputs.map((o: { width: number }) => o.width),
    [160, 200],
  );
  assert.equal((await stat(first.outputs[0].path)).mtimeMs, mtime, 'not written again');
  const third = await call('thumbnail', {
    ...payload,
    sizes: [
      { width: 160, format: 'webp', quality: 40 },
      { width: 200, format: 'jpeg' },
    ],
  });
  assert.deepEqual(
    third.outputs.map((o: { skipped?: boolean }) => o.skipped ?? false),
    [false, true],
    'the changed size is made again, the other is not',
  );
  // An output touched by someone else is made again.
  await utimes(first.outputs[1].path, new Date(), new Date(Date.now() - 60_000));
  const fourth = await call('thumbnail', { ...payload, sizes: [{ width: 200, format: 'jpeg' }] });
  assert.equal(fourth.outputs[0].skipped, undefined);
});

test('every bad input fails alone with a message naming the file; nothing half-written; the worker goes on', async (t) => {
  const out = await tmp(t);
  const { call, failure } = await withWorkers(t, [{ factory: thumbnailWorker }], { thumbnail: { maxFileBytes: 1_000_000 } });
  const sizes = [{ width: 100, format: 'jpeg' }];
  assert.equal(
    await failure('thumbnail', { input: BAD('corrupt.jpg'), outDir: out, sizes }),
    `GT_MEDIA_INVALID: ${BAD('corrupt.jpg')} is not a valid image: VipsJpeg: Bogus marker length`,
  );
  assert.equal(
    await failure('thumbnail', { input: BAD('truncated.jpg'), outDir: out, sizes }),
    `GT_MEDIA_INVALID: ${BAD('truncated.jpg')} is not a valid image: VipsJpeg: premature end of JPEG image`,
  );
  assert.equal(
    await failure('thumbnail', { input: BAD('not-an-image.jpg'), outDir: out, sizes }),
    `GT_MEDIA_INVALID: ${BAD('not-an-image.jpg')} is not a valid image: unsupported image format`,
  );
  assert.equal(
    await failure('thumbnail', { input: BAD('over-limit.png'), outDir: out, sizes }),
    `GT_MEDIA_TOO_LARGE: ${BAD('over-limit.png')} is too large: 8000×7000 = 56000000 pixels exceeds the limit of 50000000 pixels (raise it with --max-pixels)`,
  );
  assert.equal(
    await failure('thumbnail', { input: IMG('photo-large.jpg'), outDir: out, sizes }),
    `GT_MEDIA_TOO_LARGE: ${IMG('photo-large.jpg')} is too large: 1428419 bytes exceeds the limit of 1000000 bytes (raise it with --max-file-size)`,
  );
  assert.equal(await failure('thumbnail', { input: '/nope/missing.jpg', outDir: out, sizes }), 'GT_INPUT_NOT_FOUND: Input /nope/missing.jpg: no such file');
  // With metadata kept, each output decodes the input itself: the failure comes per output.
  assert.equal(
    await failure('thumbnail', { input: BAD('truncated.jpg'), outDir: out, stripMetadata: false, sizes: [...sizes, { width: 50, format: 'webp' }] }),
    `GT_MEDIA_INVALID: ${BAD('truncated.jpg')} is not a valid image: VipsJpeg: premature end of JPEG image`,
  );
  assert.deepEqual(await readdir(out), [], 'no output, no temp file');
  const ok = await call('thumbnail', { input: IMG('photo-landscape.jpg'), outDir: out, sizes });
  assert.equal(ok.outputs[0].width, 100);
  assert.deepEqual(await readdir(out), ['.geartrain', 'photo-landscape-100w.jpg']);
});

test('a GIF frame bomb is refused from its header when every frame would be decoded; its first frame alone is fine', async (t) => {
  const out = await tmp(t);
  const bomb = path.join(out, 'bomb.gif');
  await writeFile(bomb, gifFrameBomb(7000, 2000));
  assert.ok((await stat(bomb)).size < 250_000, 'a small file');
  const { call, failure } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const t0 = performance.now();
  assert.equal(
    await failure('thumbnail', { input: bomb, outDir: path.join(out, 'thumbs'), sizes: [{ width: 64, format: 'webp' }] }),
    `GT_MEDIA_TOO_LARGE: ${bomb} is too large: 2000×2000 × 7000 frames = 28000000000 pixels exceeds the limit of 50000000 pixels (raise it with --max-pixels)`,
  );
  // Read from the header in well under a second; decoding the frames takes minutes. The margin
  // is for a loaded machine.
  assert.ok(performance.now() - t0 < 5000, `refused after ${Math.round(performance.now() - t0)} ms`);
  assert.deepEqual(await filesUnder(path.join(out, 'thumbs')), [], 'nothing written');
  // A still output decodes the first frame only: 4 megapixels, within the limit.
  const still = await call('thumbnail', { input: bomb, outDir: path.join(out, 'thumbs'), sizes: [{ width: 64, format: 'png' }] });
  assert.deepEqual([still.outputs[0].width, still.outputs[0].height], [64, 64]);
});

test('a job that times out stops its decode: nothing is written after it ended, and the next job waits for the work to end', async (t) => {
  const out = await tmp(t);
  const bomb = path.join(out, 'bomb.gif');
  // 2000 frames: about a minute of decoding here when let run.
  await writeFile(bomb, gifFrameBomb(2000, 2000));
  const lines: { msg: string; outcome?: string; job?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
  const { call, failure } = await withWorkers(t, [{ factory: thumbnailWorker, timeoutMs: 2000 }], { thumbnail: { maxPixels: 1e13 } }, logger);
  const bombOut = path.join(out, 'bomb-thumbs');
  assert.match(
    await failure('thumbnail', { input: bomb, outDir: bombOut, sizes: [{ width: 64, format: 'webp' }] }),
    /^Job thumbnail \(.+\) failed$/,
    'WORK_FAIL at the timeout',
  );
  const next = await call('thumbnail', { input: IMG('alpha.png'), outDir: path.join(out, 'next'), sizes: [{ width: 16, format: 'png' }] });
  assert.equal(next.outputs[0].width, 16);
  const ended = lines.filter((l) => l.msg === 'job done' || l.msg === 'job failed');
  assert.deepEqual(
    ended.map((l) => l.outcome),
    ['failed', 'complete'],
    "the timed-out job's work ended (and failed) before the next job ran",
  );
  assert.deepEqual(await filesUnder(bombOut), [], 'no output, no record, no temp file');
});

test('a worker error reaches the client as GT_JOB_EXCEPTION carrying the code and message', async (t) => {
  const out = await tmp(t);
  const { client } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const err = await client.submit('thumbnail', JSON.stringify({ input: BAD('not-an-image.jpg'), outDir: out, sizes: [{ width: 10, format: 'png' }] })).then(
    () => assert.fail('the job must fail'),
    (e: { code: string; exception: string }) => e,
  );
  assert.equal(err.code, 'GT_JOB_EXCEPTION');
  assert.equal(err.exception, `GT_MEDIA_INVALID: ${BAD('not-an-image.jpg')} is not a valid image: unsupported image format`);
});

test('an output that cannot be written is not blamed on the image', async (t) => {
  const out = await tmp(t);
  const { call, failure } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const notADir = path.join(out, 'file');
  await writeFile(notADir, 'x');
  const text = await failure('thumbnail', { input: IMG('alpha.png'), outDir: path.join(notADir, 'thumbs'), sizes: [{ width: 10, format: 'png' }] });
  assert.match(text, /^ENOTDIR: not a directory/);
  assert.ok(text.includes(notADir), text);
  assert.deepEqual(await readdir(out), ['file']);
  const ok = await call('thumbnail', { input: IMG('alpha.png'), outDir: out, sizes: [{ width: 10, format: 'png' }] });
  assert.equal(ok.outputs[0].width, 10);
});

test('an aborted job starts no further output', async (t) => {
  const out = await tmp(t);
  const dw = thumbnailWorker({}, silentLogger);
  const ac = new AbortController();
  const done: number[] = [];
  const payload = dw.parse({
    input: IMG('photo-landscape.jpg'),
    outDir: out,
    sizes: [
      { width: 64, format: 'png' },
      { width: 32, format: 'png' },
      { width: 16, format: 'png' },
    ],
  });
  const run = dw.run(payload, {
    progress: (n: number) => {
      done.push(n);
      if (n === 1) ac.abort(new Error('job timed out'));
    },
    signal: ac.signal,
    log: silentLogger,
  });
  await assert.rejects(run, /job timed out/);
  // Two outputs are encoded at once: the second may finish, the third never starts.
  assert.equal(done[0], 1);
  const files = await readdir(out);
  assert.ok(files.includes('photo-landscape-64w.png'), String(files));
  assert.ok(!files.includes('photo-landscape-16w.png'), String(files));
  assert.deepEqual(await tempFiles(out), [], 'no temp file left');
});

test('payloads are checked at the boundary, naming the field', async (t) => {
  const { failure } = await withWorkers(t, [{ factory: thumbnailWorker }]);
  const base = { input: IMG('alpha.png'), outDir: '/tmp/x' };
  const cases: [unknown, string][] = [
    [{ ...base, sizes: [{ width: 0, format: 'webp' }] }, 'Expected integer between 1 and 16384 for thumbnail.sizes[0].width but received 0 of type number'],
    [{ ...base, sizes: [{ width: 10, format: 'bmp' }] }, 'Expected one of jpeg, webp, avif, png for thumbnail.sizes[0].format but received bmp of type string'],
    [{ ...base, sizes: [] }, 'Expected array of 1 to 32 items for thumbnail.sizes but received [] of type array'],
    [
      { ...base, sizes: [{ width: 10, format: 'png' }], fit: 'stretch' },
      'Expected one of inside, cover, contain for thumbnail.fit but received stretch of type string',
    ],
    [
      { ...base, sizes: [{ width: 10, format: 'png', widht: 3 }] },
      'Expected one of the fields width, format, height, quality for thumbnail.sizes[0].widht but received 3 of type number',
    ],
    [{ outDir: '/tmp', sizes: [] }, 'Expected a path of 1 to 4096 characters without NUL for thumbnail.input but received undefined'],
    [
      { ...base, sizes: [{ width: 10, format: 'png' }], background: 'red' },
      'Expected a colour #rgb, #rgba, #rrggbb or #rrggbbaa for thumbnail.background but received red of type string',
    ],
    [
      { ...base, sizes: [{ width: 10, format: 'png' }], name: '../up' },
      'Expected a file name of 1 to 200 characters without folders, a leading dot, control characters or NUL for thumbnail.name but received ../up of type ' +
        'string',
    ],
    [
      { ...base, sizes: [{ width: 10, format: 'png' }], name: 'a\u0000b' },
      'Expected a file name of 1 to 200 characters without folders, a leading dot, control characters or NUL for thumbnail.name but received a\u0000b of ' +
        'type string',
    ],
    [
      { ...base, sizes: [{ width: 10, format: 'png' }], name: 'two\nlines' },
      'Expected a file name of 1 to 200 characters without folders, a leading dot, control characters or NUL for thumbnail.name but received two\nlines of ' +
        'type string',
    ],
    [
      { ...base, input: '/tmp/a\u0000.png', sizes: [{ width: 10, format: 'png' }] },
      'Expected a path of 1 to 4096 characters without NUL for thumbnail.input but received /tmp/a\u0000.png of type string',
    ],
    [
      { ...base, outDir: '/tmp/out\u0000', sizes: [{ width: 10, format: 'png' }] },
      'Expected a path of 1 to 4096 characters without NUL for thumbnail.outDir but received /tmp/out\u0000 of type string',
    ],
    [
      { ...base, sizes: [{ width: 10, format: 'png' }], colour: 'x' },
      'Expected one of the fields input, outDir, sizes, fit, position, stripMetadata, placeholder, background, name, urlPrefix for thumbnail.colour but ' +
        'received x of type string',
    ],
  ];
  for (const [payload, message] of cases) assert.equal(await failure('thumbnail', payload), `GT_PAYLOAD_INVALID: ${message}`);
});

test('allowed folders are enforced', async (t) => {
  const out = await tmp(t);
  const { failure } = await withWorkers(t, [{ factory: thumbnailWorker }], { allowPaths: [out] });
  assert.equal(
    await failure('thumbnail', { input: IMG('alpha.png'), outDir: out, sizes: [{ width: 10, format: 'png' }] }),
    `GT_PATH_NOT_ALLOWED: Input ${IMG('alpha.png')} is not allowed: it is outside the allowed folders (${out})`,
  );
  const elsewhere = path.join(os.tmpdir(), 'gt-thumb-elsewhere');
  await writeFile(path.join(out, 'a.png'), await readFile(IMG('alpha.png')));
  assert.equal(
    await failure('thumbnail', { input: path.join(out, 'a.png'), outDir: elsewhere, sizes: [{ width: 10, format: 'png' }] }),
    `GT_PATH_NOT_ALLOWED: Output folder ${elsewhere} is not allowed: it is outside the allowed folders (${out})`,
  );
});
