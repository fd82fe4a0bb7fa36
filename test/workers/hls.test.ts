// The `hls` profile of the transcode worker through a real job server with Debian's ffmpeg, on
// short generated sources: ffprobe opens the master playlist and every variant; the ladder is
// clipped to the source and upright for a sideways phone clip; segments keep their target
// duration; keyframes align across variants; a source without audio has none in the variants;
// a failed encode leaves no playlist folder.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { locate, runFfmpeg } from '../../src/workers/ffmpeg.js';
import { clipLadder, DEFAULT_LADDER } from '../../src/workers/hls.js';
import { transcodeWorker } from '../../src/workers/transcode.js';
import { makeClip } from '../helpers/clips.js';
import { filesUnder, tempDir, tempFiles } from '../helpers/files.js';
import { missingTools, ROOT } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

const skip = missingTools('ffmpeg', 'ffprobe');
const TRUNCATED = path.join(ROOT, 'fixtures/bad/truncated.mp4');

const tmp = (t: TestContext): Promise<string> => tempDir(t, 'gt-hls-');

interface Stream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  side_data_list?: { rotation?: number }[];
}
function ffprobeStreams(file: string): Stream[] {
  return (JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', file], { encoding: 'utf8' })) as { streams: Stream[] })
    .streams;
}

/** Presentation times of the keyframes in one segment. */
function keyframeTimes(segment: string): string[] {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', segment], {
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((l) => /,K/.test(l))
    .map((l) => l.split(',')[0]!);
}

interface Variant {
  path: string;
  width?: number;
  height?: number;
  bandwidth: number;
}

/** Every variant opens; its segments last at most the target + one GOP (the GOP is the segment length). */
async function checkVariants(variants: Variant[], segmentSeconds: number): Promise<void> {
  for (const v of variants) {
    const streams = ffprobeStreams(v.path);
    const video = streams.find((s) => s.codec_type === 'video');
    if (v.width === undefined) assert.equal(video, undefined, `${v.path}: audio only`);
    else {
      assert.deepEqual([video?.codec_name, video?.width, video?.height], ['h264', v.width, v.height], `${v.path}: size as reported`);
      assert.equal(
        video?.side_data_list?.find((d) => d.rotation !== undefined && d.rotation !== 0),
        undefined,
        `${v.path}: upright pixels, no rotation left`,
      );
    }
    const playlist = await readFile(v.path, 'utf8');
    const durations = [...playlist.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
    assert.ok(durations.length > 0, `${v.path}: segments`);
    for (const d of durations) assert.ok(d <= segmentSeconds * 2 + 0.01, `${v.path}: segment of ${d} s`);
    assert.ok(playlist.includes('#EXT-X-ENDLIST'), `${v.path}: complete`);
  }
}

test('the ladder is clipped to the source, never upscaled, and always has a rung', () => {
  const heights = (w: number, h: number): number[] => clipLadder({ width: w, height: h }, DEFAULT_LADDER).map((r) => r.height);
  assert.deepEqual(heights(1920, 1080), [1080, 720, 480, 240]);
  assert.deepEqual(heights(1280, 720), [720, 480, 240]);
  assert.deepEqual(heights(720, 1280), [720, 480, 240], 'a portrait source: the shorter side');
  assert.deepEqual(heights(640, 360), [360, 240], "the source's own size between rungs");
  assert.deepEqual(heights(1366, 768), [720, 480, 240], 'not a near-copy of the 720p rung');
  assert.deepEqual(heights(320, 180), [180], "below the smallest rung: the source's size");
  const own = clipLadder({ width: 640, height: 360 }, DEFAULT_LADDER)[0]!;
  assert.ok(own.videoKbps > 400 && own.videoKbps < 1400, `interpolated rate ${own.videoKbps}`);
});

test('hls: a 1280×720 clip with audio gives 720p, 480p, 240p with aligned keyframes; the master lists them', { skip }, async (t) => {
  const dir = await tmp(t);
  const input = makeClip(path.join(dir, 'talk.mp4'), '1280x720', 8);
  const out = path.join(dir, 'out');
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const statuses: [number, number][] = [];
  const r = conforms('transcode', await call('transcode', { input, outDir: out, profiles: ['hls'] }, (n, d) => statuses.push([n, d])));
  const hls = r.outputs[0];
  assert.equal(hls.profile, 'hls');
  assert.equal(hls.path, path.join(out, 'talk-hls', 'master.m3u8'));
  assert.deepEqual(
    hls.variants.map((v: Variant) => [path.basename(v.path), v.width, v.height]),
    [
      ['720p.m3u8', 1280, 720],
      ['480p.m3u8', 854, 480],
      ['240p.m3u8', 426, 240],
    ],
  );
  assert.deepEqual([hls.width, hls.height], [1280, 720]);
  for (const v of hls.variants as Variant[]) assert.ok(v.bandwidth > 100_000, `${v.path}: bandwidth ${v.bandwidth}`);
  assert.ok(hls.variants[0].bandwidth > hls.variants[1].bandwidth && hls.variants[1].bandwidth > hls.variants[2].bandwidth);

  const master = await readFile(hls.path, 'utf8');
  const inf = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  assert.equal(inf.length, 3);
  for (const l of inf) assert.match(l, /BANDWIDTH=\d+,RESOLUTION=\d+x\d+,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
  const all = ffprobeStreams(hls.path);
  assert.equal(all.filter((s) => s.codec_type === 'video').length, 3, 'ffprobe opens the master: every variant');
  await checkVariants(hls.variants, 4);

  const files = await readdir(path.join(out, 'talk-hls'));
  const segments = files.filter((f) => f.endsWith('.ts'));
  assert.equal(hls.segments, segments.length);
  assert.equal(segments.length, 6, '8 s in 4 s segments, three variants');
  const firsts = ['720p', '480p', '240p'].map((n) => keyframeTimes(path.join(out, 'talk-hls', `${n}-000.ts`)));
  assert.ok(firsts[0]!.length >= 1);
  assert.deepEqual(firsts[1], firsts[0], 'keyframes at the same times in 480p and 720p');
  assert.deepEqual(firsts[2], firsts[0], 'and in 240p');
  const seconds = ['720p', '480p', '240p'].map((n) => keyframeTimes(path.join(out, 'talk-hls', `${n}-001.ts`)));
  assert.deepEqual([seconds[1], seconds[2]], [seconds[0], seconds[0]], 'second segments too');

  const total = statuses[0]![1];
  assert.deepEqual(statuses.at(-1), [total, total]);
  assert.ok(
    statuses.some(([n, d]) => n > 0 && n < d),
    `progress while the one ffmpeg run encodes the ladder (${JSON.stringify(statuses)})`,
  );
  assert.deepEqual(await tempFiles(out), [], 'no temp file');

  // Asked again with other options: the folder is replaced whole, never mixed.
  const again = await call('transcode', {
    input,
    outDir: out,
    profiles: ['hls'],
    hls: { segmentSeconds: 2, ladder: [{ height: 360, videoKbps: 800 }], audioOnly: true },
  });
  const second = again.outputs[0];
  assert.deepEqual(
    second.variants.map((v: Variant) => [path.basename(v.path), v.width, v.height]),
    [
      ['360p.m3u8', 640, 360],
      ['audio.m3u8', undefined, undefined],
    ],
  );
  await checkVariants(second.variants, 2);
  const after = await readdir(path.join(out, 'talk-hls'));
  assert.deepEqual(
    after.filter((f) => f.startsWith('720p')),
    [],
    'the earlier ladder is gone',
  );
  assert.equal(second.segments, after.filter((f) => f.endsWith('.ts')).length);
  assert.ok(second.segments >= 8, `8 s in 2 s segments, two variants: ${second.segments}`);
  assert.deepEqual(await tempFiles(out), [], 'no temp file, no old folder');
  const unchanged = await call('transcode', {
    input,
    outDir: out,
    profiles: ['hls'],
    hls: { segmentSeconds: 2, ladder: [{ height: 360, videoKbps: 800 }], audioOnly: true },
  });
  assert.equal(unchanged.outputs[0].skipped, true, 'up to date: not made again');
});

test('hls: a sideways phone clip gives upright variants', { skip }, async (t) => {
  const dir = await tmp(t);
  const input = makeClip(path.join(dir, 'phone.mp4'), '1280x720', 6, { rotate: 90 });
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const r = await call('transcode', { input, outDir: dir, profiles: ['hls'], hls: { segmentSeconds: 2 } });
  const hls = r.outputs[0];
  assert.deepEqual(
    hls.variants.map((v: Variant) => [v.width, v.height]),
    [
      [720, 1280],
      [480, 854],
      [240, 426],
    ],
  );
  await checkVariants(hls.variants, 2);
});

test('hls: a 640×360 clip without audio gives two variants without audio', { skip }, async (t) => {
  const dir = await tmp(t);
  const input = makeClip(path.join(dir, 'mute.mp4'), '640x360', 6, { silent: true });
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const r = conforms('transcode', await call('transcode', { input, outDir: dir, profiles: ['hls'], hls: { audioOnly: true } }));
  const hls = r.outputs[0];
  assert.deepEqual(
    hls.variants.map((v: Variant) => [path.basename(v.path), v.width, v.height]),
    [
      ['360p.m3u8', 640, 360],
      ['240p.m3u8', 426, 240],
    ],
    'no audio-only variant without audio',
  );
  await checkVariants(hls.variants, 4);
  for (const v of hls.variants as Variant[])
    assert.equal(
      ffprobeStreams(v.path).find((s) => s.codec_type === 'audio'),
      undefined,
      `${v.path}: no audio`,
    );
  assert.doesNotMatch(await readFile(hls.path, 'utf8'), /mp4a/, 'CODECS names no audio');
});

test('hls: a bad input or a killed encode leaves no playlist folder', { skip }, async (t) => {
  const dir = await tmp(t);
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  assert.match(await failure('transcode', { input: TRUNCATED, outDir: path.join(dir, 'a'), profiles: ['hls'] }), /^GT_MEDIA_INVALID: /);
  assert.deepEqual(await filesUnder(path.join(dir, 'a')), []);

  // 60 s of 1280×720 (copied, not encoded): its ladder takes far longer than the 2 s timeout.
  const short = makeClip(path.join(dir, 'short.mp4'), '1280x720', 6);
  const long = path.join(dir, 'long.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-stream_loop', '9', '-i', short, '-c', 'copy', long]);
  const timed = await withWorkers(t, [{ factory: transcodeWorker }], { transcode: { timeoutMs: 2000 } });
  assert.equal(
    await timed.failure('transcode', { input: long, outDir: path.join(dir, 'b'), profiles: ['hls'] }),
    `GT_FFMPEG_FAILED: ffmpeg failed on ${long}: killed after the 2000 ms timeout`,
  );
  assert.deepEqual(await filesUnder(path.join(dir, 'b')), [], 'no folder, no segment, no temp file');
});

test('hls: options are checked and named', { skip }, async (t) => {
  const dir = await tmp(t);
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const input = path.join(dir, 'x.mp4');
  assert.match(await failure('transcode', { input, outDir: dir, profiles: ['mp4-240p'], hls: {} }), /transcode\.hls/);
  assert.match(await failure('transcode', { input, outDir: dir, profiles: ['hls'], hls: { segmentSeconds: 0 } }), /transcode\.hls\.segmentSeconds/);
  assert.match(
    await failure('transcode', {
      input,
      outDir: dir,
      profiles: ['hls'],
      hls: {
        ladder: [
          { height: 720, videoKbps: 2800 },
          { height: 720, videoKbps: 1000 },
        ],
      },
    }),
    /transcode\.hls\.ladder\[1\]\.height/,
  );
  assert.match(
    await failure('transcode', { input, outDir: dir, profiles: ['hls'], hls: { ladder: [{ height: 720 }] } }),
    /transcode\.hls\.ladder\[0\]\.videoKbps/,
  );
});

test('runFfmpeg passes every argument as given: a value holding one space stays one argument', { skip }, async (t) => {
  const dir = await tmp(t);
  const input = makeClip(path.join(dir, 'in.mp4'), '320x180', 1, { silent: true });
  const bin = await locate();
  const output = path.join(dir, 'out.mp4');
  await runFfmpeg(bin, {
    input,
    inputArgs: ['-ss', '0'],
    args: ['-c', 'copy', '-metadata', 'title=two words', '-f', 'mp4'],
    output,
    signal: new AbortController().signal,
  });
  const tags = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', output], { encoding: 'utf8' })) as {
    format: { tags: { title?: string } };
  };
  assert.equal(tags.format.tags.title, 'two words');
});
