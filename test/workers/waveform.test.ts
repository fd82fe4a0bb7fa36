// The waveform worker through a real job server with Debian's ffmpeg, on tones made with lavfi:
// the peaks show a silence gap where it is, exactly N points, the PNG read back with sharp; the
// outputs are not made again when up to date; non-audio input, the duration cap and the path
// rules give clear errors.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import sharp from 'sharp';
import type { GeartrainError } from '../../src/errors.js';
import { locate } from '../../src/workers/ffmpeg.js';
import { decodePcm } from '../../src/workers/pcm.js';
import { PeakBlocks } from '../../src/workers/peaks.js';
import { type PeaksFile, waveformWorker } from '../../src/workers/waveform.js';
import { missingTools, ROOT } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

const skip = missingTools('ffmpeg', 'ffprobe');

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-waveform-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** 2 s of a 440 Hz sine (amplitude 1/8), 1 s of silence, 2 s of sine: 5 s, encoded as `file`. */
function toneWithGap(file: string, rate = 44100): void {
  const sine = `sine=frequency=440:sample_rate=${rate}:duration=2`;
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-filter_complex',
    `${sine}[a];anullsrc=r=${rate}:cl=mono,atrim=duration=1[b];${sine}[c];[a][b][c]concat=n=3:v=0:a=1`,
    file,
  ]);
}

test('peaks of a tone with a silence gap show the gap; exactly N points; the PNG has the size asked and the gap drawn flat', { skip }, async (t) => {
  const dir = await tempDir(t);
  const input = path.join(dir, 'tone.m4a');
  toneWithGap(input);
  const { call } = await withWorkers(t, [{ factory: waveformWorker }]);
  const statuses: [number, number][] = [];
  const res = await call<{
    durationSeconds: number;
    sampleRate: number;
    outputs: { path: string; format: string; points?: number; width?: number; height?: number }[];
  }>('waveform', { input, outDir: path.join(dir, 'out'), points: 100, width: 500, height: 64 }, (n, d) => statuses.push([n, d]));
  conforms('waveform', res);
  assert.equal(res.sampleRate, 44100);
  assert.ok(Math.abs(res.durationSeconds - 5) < 0.1, `duration ${res.durationSeconds}`);
  assert.deepEqual(
    res.outputs.map((o) => [path.basename(o.path), o.format]),
    [
      ['tone-waveform.json', 'json'],
      ['tone-waveform.png', 'png'],
    ],
  );
  assert.ok(statuses.length > 0 && statuses.at(-1)![0] === statuses.at(-1)![1], `progress reached its end: ${JSON.stringify(statuses.slice(-3))}`);

  const peaks = JSON.parse(await readFile(res.outputs[0]!.path, 'utf8')) as PeaksFile;
  assert.equal(peaks.points, 100);
  assert.equal(peaks.peaks.length, 100);
  const loud = (i: number): number => peaks.peaks[i]![1] - peaks.peaks[i]![0];
  // 100 points over 5 s: the gap is points 40–59. Away from its edges it is silent; the tone
  // on either side reaches its amplitude (1/8 up and down).
  for (let i = 42; i <= 57; i++) assert.ok(loud(i) < 0.01, `point ${i} is silent: ${JSON.stringify(peaks.peaks[i])}`);
  for (const i of [...Array.from({ length: 30 }, (_, k) => 5 + k), ...Array.from({ length: 30 }, (_, k) => 65 + k)]) {
    assert.ok(peaks.peaks[i]![1] > 0.1 && peaks.peaks[i]![0] < -0.1, `point ${i} is loud: ${JSON.stringify(peaks.peaks[i])}`);
  }

  const png = sharp(res.outputs[1]!.path);
  const meta = await png.metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 500, 64]);
  const { data, info } = await png.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const painted = (x: number): number => {
    let n = 0;
    for (let y = 0; y < info.height; y++) if (data[(y * info.width + x) * 4 + 3]! > 0) n++;
    return n;
  };
  // 500 columns over 5 s: the gap is columns 200–299.
  for (const x of [220, 250, 280]) assert.ok(painted(x) <= 2, `column ${x} in the gap is a flat line: ${painted(x)} pixels`);
  for (const x of [50, 150, 350, 450]) assert.ok(painted(x) >= 6, `column ${x} shows the tone: ${painted(x)} pixels`);
});

test('a second job for the same input and options writes nothing; other options make it again', { skip }, async (t) => {
  const dir = await tempDir(t);
  const input = path.join(dir, 'tone.wav');
  toneWithGap(input, 8000);
  const { call } = await withWorkers(t, [{ factory: waveformWorker }]);
  const first = await call('waveform', { input, outDir: dir, points: 50 });
  const again = conforms('waveform', await call('waveform', { input, outDir: dir, points: 50 }));
  assert.deepEqual(
    again.outputs.map((o: { skipped?: boolean }) => o.skipped),
    [true, true],
  );
  assert.equal(again.durationSeconds, first.durationSeconds);
  const other = await call('waveform', { input, outDir: dir, points: 60 });
  assert.deepEqual(
    other.outputs.map((o: { skipped?: boolean }) => o.skipped),
    [undefined, undefined],
  );
  assert.equal((JSON.parse(await readFile(other.outputs[0].path, 'utf8')) as PeaksFile).peaks.length, 60);
  // Default PNG size.
  const meta = await sharp(other.outputs[1].path).metadata();
  assert.deepEqual([meta.width, meta.height], [1800, 280]);
});

test('non-audio input, a video without sound, too long an audio and paths outside the allowed folders are refused by name', { skip }, async (t) => {
  const dir = await tempDir(t);
  const text = path.join(dir, 'notes.mp3');
  await writeFile(text, 'this is not audio\n'.repeat(100));
  const silentVideo = path.join(dir, 'silent.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=10:duration=1', '-pix_fmt', 'yuv420p', silentVideo]);
  const long = path.join(dir, 'long.wav');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=100:sample_rate=8000:duration=4', long]);
  const { failure } = await withWorkers(t, [{ factory: waveformWorker }], { allowPaths: [dir], waveform: { maxDurationSeconds: 3 } });
  const out = path.join(dir, 'out');

  assert.match(await failure('waveform', { input: text, outDir: out }), new RegExp(`^GT_MEDIA_INVALID: ${text} is not a valid video or audio file: `));
  assert.equal(
    await failure('waveform', { input: silentVideo, outDir: out }),
    `GT_MEDIA_INVALID: ${silentVideo} is not a valid audio file: it has no audio stream`,
  );
  const image = path.join(ROOT, 'fixtures/images/photo-landscape.jpg');
  const { failure: anywhere } = await withWorkers(t, [{ factory: waveformWorker }]);
  assert.match(
    await anywhere('waveform', { input: image, outDir: out }),
    /^GT_MEDIA_INVALID: .*photo-landscape\.jpg is not a valid video or audio file: it is a still image/,
  );
  assert.equal(await failure('waveform', { input: long, outDir: out }), `GT_MEDIA_TOO_LARGE: ${long} is too large: 4 s of audio exceeds the limit of 3 s`);
  assert.equal(
    await failure('waveform', { input: image, outDir: out }),
    `GT_PATH_NOT_ALLOWED: Input ${image} is not allowed: it is outside the allowed folders (${dir})`,
  );
  assert.match(await failure('waveform', { input: long, outDir: '/tmp' }), /^GT_PATH_NOT_ALLOWED: Output folder \/tmp is not allowed/);
  assert.equal(
    await failure('waveform', { input: long, outDir: out, points: 0 }),
    'GT_PAYLOAD_INVALID: Expected integer between 1 and 100000 for waveform.points but received 0 of type number',
  );
  assert.equal(
    await failure('waveform', { input: long, outDir: out, colour: 'blue' }),
    'GT_PAYLOAD_INVALID: Expected a colour #rrggbb or #rrggbbaa for waveform.colour but received blue of type string',
  );
  // The shared file rules: a playlist is refused whatever its name; a link out of the allowed folders too.
  const playlist = path.join(dir, 'song.mp3');
  await writeFile(playlist, '#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n');
  assert.equal(
    await failure('waveform', { input: playlist, outDir: out }),
    `GT_MEDIA_INVALID: ${playlist} is not a valid video or audio file: its format hls reads other files (a playlist or list); such inputs are refused`,
  );
  const outside = await tempDir(t);
  const elsewhere = path.join(outside, 'real.wav');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=100:sample_rate=8000:duration=1', elsewhere]);
  const link = path.join(dir, 'link.wav');
  await symlink(elsewhere, link);
  assert.match(
    await failure('waveform', { input: link, outDir: out }),
    new RegExp(`^GT_PATH_NOT_ALLOWED: Input ${link} is not allowed: it resolves to .*real\\.wav, outside the allowed folders`),
  );
  assert.deepEqual(await readdir(dir).then((names) => names.sort()), ['link.wav', 'long.wav', 'notes.mp3', 'silent.mp4', 'song.mp3'], 'no output written');
});

test('the decode stops at the cap in samples, whatever the header claimed; abort and a broken file end it too', { skip }, async (t) => {
  const dir = await tempDir(t);
  const wav = path.join(dir, 'six.wav');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=100:sample_rate=8000:duration=6', '-c:a', 'pcm_s16le', wav]);
  const bin = await locate();
  let seen = 0;
  const opts = {
    signal: new AbortController().signal,
    timeoutMs: 60_000,
    maxSamples: 2 * 8000,
    limitText: '2 s',
    onSamples: (s: Int16Array) => {
      seen += s.length;
    },
  };
  await assert.rejects(
    decodePcm(bin, wav, opts),
    (err: GeartrainError) => err.message === `${wav} is too large: its audio exceeds the limit of 2 s` && err.code === 'GT_MEDIA_TOO_LARGE',
  );
  assert.ok(seen <= 2 * 8000, `no samples past the cap were handed on (${seen})`);
  assert.equal(await decodePcm(bin, wav, { ...opts, maxSamples: 6 * 8000 }), 6 * 8000);
  const ac = new AbortController();
  ac.abort(new Error('stopped'));
  await assert.rejects(decodePcm(bin, wav, { ...opts, signal: ac.signal }), /stopped/);
  const broken = path.join(dir, 'broken.wav');
  await writeFile(broken, (await readFile(wav)).subarray(0, 20));
  await assert.rejects(
    decodePcm(bin, broken, opts),
    (err: GeartrainError) => err.code === 'GT_MEDIA_INVALID' && err.message.startsWith(`${broken} is not a valid audio file: `),
  );
});

test('PeakBlocks: exactly N buckets whatever the length; a short input repeats samples; nothing gives zeros', () => {
  for (const [samples, n] of [
    [1, 10],
    [7, 10],
    [1000, 10],
    [123_457, 100],
    [2_000_000, 1000],
  ] as const) {
    const p = new PeakBlocks(n);
    const s = new Int16Array(samples);
    for (let i = 0; i < samples; i++) s[i] = i % 2 === 0 ? 16384 : -16384;
    // In uneven chunks, as a pipe delivers them.
    for (let at = 0; at < samples; at += 4099) p.push(s.subarray(at, Math.min(samples, at + 4099)));
    const b = p.buckets(n);
    assert.equal(b.length, n);
    assert.equal(p.samples, samples);
    if (samples >= 2 * n)
      assert.ok(
        b.every(([lo, hi]) => lo === -0.5 && hi === 0.5),
        `${samples}/${n}`,
      );
  }
  // A ramp: bucket i of 10 over 0..9999 holds values from i*1000 to i*1000+999.
  const p = new PeakBlocks(10);
  const ramp = Int16Array.from({ length: 10_000 }, (_, i) => i);
  p.push(ramp);
  const b = p.buckets(10);
  for (let i = 0; i < 10; i++) {
    assert.ok(Math.abs(b[i]![0] * 32768 - i * 1000) <= 63, `bucket ${i} starts near ${i * 1000}: ${b[i]![0] * 32768}`);
    assert.ok(Math.abs(b[i]![1] * 32768 - (i * 1000 + 999)) <= 63, `bucket ${i} ends near ${i * 1000 + 999}: ${b[i]![1] * 32768}`);
  }
  assert.deepEqual(new PeakBlocks(3).buckets(3), [
    [0, 0],
    [0, 0],
    [0, 0],
  ]);
});
