// The transcode worker through a real job server with Debian's ffmpeg: outputs read back with
// ffprobe and sharp (codecs, sizes, durations, audio, faststart), no upscaling, progress while
// ffmpeg runs, up-to-date outputs, the exact command line (and no capability probe), bad inputs,
// a failing ffmpeg, the timeout and abort killing ffmpeg, and the protocol whitelist that keeps
// a crafted playlist off the network. Also the probe worker, which shares ffmpeg.ts.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import sharp from 'sharp';
import { ffmpegArgv, locate, probe as probeFile, runFfmpeg } from '../../src/workers/ffmpeg.js';
import { probeWorker } from '../../src/workers/probe.js';
import { posterRun, profileRun, transcodeWorker } from '../../src/workers/transcode.js';
import { filesUnder, tempFiles } from '../helpers/files.js';
import { missingTools, ROOT } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

const CLIP = path.join(ROOT, 'fixtures/video/clip.mp4');
const TRUNCATED = path.join(ROOT, 'fixtures/bad/truncated.mp4');
const skip = missingTools('ffmpeg', 'ffprobe');

interface Probed {
  streams: { codec_type: string; codec_name: string; width?: number; height?: number }[];
  format: { duration: string; format_name: string };
}

function ffprobe(file: string): Probed {
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { encoding: 'utf8' })) as Probed;
}
const video = (p: Probed) => p.streams.find((s) => s.codec_type === 'video');
const audio = (p: Probed) => p.streams.find((s) => s.codec_type === 'audio');

async function tmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-transcode-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The top-level MP4 boxes in file order (`ftyp`, `moov`, `mdat`, …). */
async function mp4Boxes(file: string): Promise<string[]> {
  const fh = await open(file);
  try {
    const size = (await fh.stat()).size;
    const boxes: string[] = [];
    const head = Buffer.alloc(16);
    for (let at = 0; at + 8 <= size && boxes.length < 10; ) {
      await fh.read(head, 0, 16, at);
      let len = head.readUInt32BE(0);
      if (len === 1) len = Number(head.readBigUInt64BE(8));
      boxes.push(head.toString('latin1', 4, 8));
      if (len < 8) break;
      at += len;
    }
    return boxes;
  } finally {
    await fh.close();
  }
}

/** ffmpeg processes this process started (the workers under test run in it) that are still running. */
function ffmpegChildren(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (ppid === process.pid && cmd.includes('ffmpeg')) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** An executable script standing in for ffmpeg (or ffprobe): logs its arguments, then runs `body`. */
async function fakeFfmpeg(dir: string, body: string, tool: 'ffmpeg' | 'ffprobe' = 'ffmpeg'): Promise<{ bin: string; log: string }> {
  const bin = path.join(dir, `${tool}-wrapper`);
  const log = path.join(dir, `${tool}-calls.log`);
  const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
  await writeFile(bin, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n${body.replaceAll('FFMPEG', real)}\n`);
  await chmod(bin, 0o755);
  return { bin, log };
}

test('renditions read back with ffprobe and sharp; never upscaled; progress while ffmpeg runs', { skip }, async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const statuses: [number, number][] = [];
  const r = await call(
    'transcode',
    { input: CLIP, outDir: out, profiles: ['mp4-720p', 'mp4-240p', 'webm-720p', 'audio-m4a', 'audio-opus'], poster: { width: 320 } },
    (n, d) => statuses.push([n, d]),
  );
  conforms('transcode', r);
  assert.equal(r.input, CLIP);
  assert.equal(r.durationSeconds, 3);
  assert.deepEqual(
    [r.probe.width, r.probe.height, r.probe.videoCodec, r.probe.audioCodec, r.probe.fps, r.probe.format],
    [640, 360, 'h264', 'aac', 25, 'mov,mp4,m4a,3gp,3g2,mj2'],
  );
  assert.ok(r.probe.bitrate > 100_000, `bitrate ${r.probe.bitrate}`);
  assert.deepEqual(
    r.outputs.map((o: { profile: string; path: string }) => [o.profile, path.basename(o.path)]),
    [
      ['mp4-720p', 'clip-720p.mp4'],
      ['mp4-240p', 'clip-240p.mp4'],
      ['webm-720p', 'clip-720p.webm'],
      ['audio-m4a', 'clip-audio.m4a'],
      ['audio-opus', 'clip-audio.opus'],
    ],
  );
  const [p720, p240, webm, m4a, opus] = r.outputs.map((o: { path: string }) => ffprobe(o.path)) as Probed[];
  assert.deepEqual(
    [video(p720!)?.codec_name, video(p720!)?.width, video(p720!)?.height, audio(p720!)?.codec_name],
    ['h264', 640, 360, 'aac'],
    '720p of a 360p source stays 640×360',
  );
  assert.deepEqual(
    [video(p240!)?.codec_name, video(p240!)?.width, video(p240!)?.height, audio(p240!)?.codec_name],
    ['h264', 426, 240, 'aac'],
    'aspect kept, even width',
  );
  assert.deepEqual(
    [video(webm!)?.codec_name, video(webm!)?.width, video(webm!)?.height, audio(webm!)?.codec_name, webm!.format.format_name],
    ['vp9', 640, 360, 'opus', 'matroska,webm'],
  );
  assert.deepEqual([video(m4a!), audio(m4a!)?.codec_name], [undefined, 'aac'], 'audio only');
  assert.deepEqual([video(opus!), audio(opus!)?.codec_name, opus!.format.format_name], [undefined, 'opus', 'ogg']);
  for (const [i, p] of [p720, p240, webm, m4a, opus].entries()) {
    const o = r.outputs[i];
    assert.ok(Math.abs(Number(p!.format.duration) - 3) < 0.15, `${o.profile}: duration ${p!.format.duration}`);
    assert.ok(Math.abs(o.durationSeconds - 3) < 0.15, `${o.profile}: reported duration ${o.durationSeconds}`);
    assert.equal(o.bytes, (await stat(o.path)).size);
    assert.deepEqual([o.width, o.height], [video(p!)?.width, video(p!)?.height], `${o.profile}: reported size`);
  }
  for (const mp4 of [r.outputs[0].path, r.outputs[1].path]) assert.deepEqual((await mp4Boxes(mp4)).slice(0, 2), ['ftyp', 'moov'], `${mp4}: +faststart`);

  const poster = await sharp(r.poster.path).metadata();
  assert.deepEqual([poster.format, poster.width, poster.height], ['jpeg', 320, 180]);
  assert.deepEqual(
    [path.basename(r.poster.path), r.poster.width, r.poster.height, r.poster.atSeconds, r.poster.format],
    ['clip-poster.jpg', 320, 180, 1, 'jpeg'],
    'min(1 s, duration / 2)',
  );
  const { width, height, channels } = (await sharp(r.poster.path).raw().toBuffer({ resolveWithObject: true })).info;
  assert.deepEqual([width, height, channels], [320, 180, 3], 'decodable');

  const total = statuses[0]![1];
  const per = 3000;
  assert.equal(total, 6 * per, 'one share of the duration per ffmpeg run');
  assert.ok(statuses.every(([, d]) => d === total));
  assert.ok(
    statuses.every(([n], i) => i === 0 || n >= statuses[i - 1]![0]),
    'never goes back',
  );
  assert.deepEqual(statuses.at(-1), [total, total]);
  assert.ok(
    statuses.some(([n, d]) => n > 0 && n < d && n % per !== 0),
    `a status from ffmpeg's own time= while it ran, not only between runs (${JSON.stringify(statuses)})`,
  );
  assert.deepEqual(await tempFiles(out), [], 'no temp file left');
});

test('a portrait (rotated) source and an odd-sized one keep their aspect with even sides', { skip }, async (t) => {
  const out = await tmp(t);
  const rotated = path.join(out, 'phone.mp4');
  const odd = path.join(out, 'odd.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=321x181:rate=25:duration=1', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', odd]);
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const r = await call('transcode', { input: rotated, outDir: out, profiles: ['mp4-240p'], poster: true });
  assert.deepEqual([r.probe.width, r.probe.height, Math.abs(r.probe.rotation)], [360, 640, 90], 'as displayed');
  const v = video(ffprobe(r.outputs[0].path))!;
  assert.deepEqual([v.width, v.height, r.outputs[0].width, r.outputs[0].height], [240, 426, 240, 426], 'upright, the shorter side bounded');
  const poster = await sharp(r.poster.path).metadata();
  assert.deepEqual([poster.width, poster.height, r.poster.width, r.poster.height], [360, 640, 360, 640]);
  const o = await call('transcode', { input: odd, outDir: out, profiles: ['mp4-720p'] });
  const ov = ffprobe(o.outputs[0].path).streams[0]!;
  assert.deepEqual([ov.width, ov.height, audio(ffprobe(o.outputs[0].path))], [320, 180, undefined], 'even sides, no audio stream invented');
});

test('an output already up to date is not made again; a changed option makes only that one again', { skip }, async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const payload = { input: CLIP, outDir: out, profiles: ['mp4-240p'], poster: true };
  const first = await call('transcode', payload);
  const mtime = (await stat(first.outputs[0].path)).mtimeMs;
  const statuses: [number, number][] = [];
  const again = conforms('transcode', await call('transcode', payload, (n, d) => statuses.push([n, d])));
  assert.deepEqual([again.outputs[0].skipped, again.poster.skipped], [true, true]);
  assert.deepEqual([again.outputs[0].width, again.outputs[0].height, again.probe.width, again.durationSeconds], [426, 240, 640, 3], 'the recorded result');
  assert.equal((await stat(first.outputs[0].path)).mtimeMs, mtime, 'not written again');
  assert.deepEqual(statuses, [], 'no ffmpeg ran');
  const third = await call('transcode', { ...payload, poster: { width: 160, format: 'webp', atSeconds: 10 } });
  assert.deepEqual([third.outputs[0].skipped, third.poster.skipped, path.basename(third.poster.path)], [true, undefined, 'clip-poster.webp']);
  assert.equal(third.poster.atSeconds, 1.5, 'a time past the end is capped at half the duration');
  const webp = await sharp(third.poster.path).metadata();
  assert.deepEqual([webp.format, webp.width, webp.height], ['webp', 160, 90]);
});

test('ffmpeg runs exactly the command profileRun()/posterRun() build, is found once, and never asked for -formats/-encoders', { skip }, async (t) => {
  const out = await tmp(t);
  const fake = await fakeFfmpeg(out, 'exec FFMPEG "$@"');
  const fakeProbe = await fakeFfmpeg(out, 'exec FFMPEG "$@"', 'ffprobe');
  const settings = { transcode: { ffmpegPath: fake.bin, ffprobePath: fakeProbe.bin } };
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }], settings);
  await call('transcode', { input: CLIP, outDir: out, profiles: ['mp4-240p'], poster: true });
  await call('transcode', { input: CLIP, outDir: out, name: 'again', profiles: ['audio-m4a'] });
  const calls = (await readFile(fake.log, 'utf8')).trim().split('\n');
  assert.ok(!calls.some((c) => /(^| )-(formats|encoders|codecs)( |$)/.test(c)), calls.join('\n'));
  assert.deepEqual(
    calls.filter((c) => c.includes('-version')),
    ['-hide_banner -version'],
    'located once per process',
  );
  const probes = (await readFile(fakeProbe.log, 'utf8')).trim().split('\n');
  assert.equal(probes.length, 2, 'one ffprobe per job, ours (no second one from fluent-ffmpeg)');
  // The input is read through the descriptor the allowed-folder check opened.
  for (const p of probes) assert.match(p, /^-v error -protocol_whitelist file -print_format json -show_format -show_streams \/proc\/\d+\/fd\/\d+$/);
  const opened = (c: string): string => /-i (\/proc\/\d+\/fd\/\d+) /.exec(c)![1]!;

  const bin = await locate(settings.transcode);
  const src = await probeFile(bin, CLIP, new AbortController().signal);
  const runs = calls.filter((c) => !c.includes('-version'));
  const expected = [
    posterRun(bin, { format: 'jpeg' }, src, CLIP, path.join(out, 'clip-poster.jpg')),
    profileRun(bin, 'mp4-240p', src, CLIP, path.join(out, 'clip-240p.mp4')),
    profileRun(bin, 'audio-m4a', src, CLIP, path.join(out, 'again-audio.m4a')),
  ];
  assert.equal(src.format, 'mov,mp4,m4a,3gp,3g2,mj2');
  assert.equal(runs.length, expected.length);
  // The first job's poster runs beside its rendition (either may start first); the second job's
  // run comes after both.
  const firstJob = [...runs.slice(0, 2)].sort((a, b) => Number(b.includes('poster')) - Number(a.includes('poster')));
  for (const [i, run] of [...firstJob, runs[2]!].entries()) {
    const e = expected[i]!;
    const argv = ffmpegArgv({ ...e.spec, input: opened(run) });
    const tmpOut = run.split(' ').at(-1)!;
    assert.match(
      tmpOut,
      new RegExp(`^/proc/\\d+/fd/\\d+/${process.pid}\\.[0-9a-f]{8}\\.[0-9a-f]{8}\\.[0-9a-f]{8}\\.${path.basename(e.spec.output).replace('.', '\\.')}$`),
      "a temp file in the output folder's .geartrain/tmp, named after its process",
    );
    assert.equal(run, [...argv.slice(0, -1), tmpOut].join(' '));
    assert.match(run, / -protocol_whitelist file -f mov (-ss \S+ )?-i /, 'local files only, read with the demuxer the probe found');
  }
});

test('bad inputs fail alone with their codes, naming the file; nothing half-written; the worker goes on', { skip }, async (t) => {
  const out = await tmp(t);
  const text = path.join(out, 'notes.mp4');
  await writeFile(text, 'these are notes, not a video\n');
  const { call, failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const job = (input: string, profiles = ['mp4-240p']) => ({ input, outDir: out, profiles });
  assert.equal(
    await failure('transcode', job(TRUNCATED)),
    `GT_MEDIA_INVALID: ${TRUNCATED} is not a valid video or audio file: moov atom not found (Invalid data found when processing input)`,
  );
  assert.match(
    await failure('transcode', job(text)),
    new RegExp(`^GT_MEDIA_INVALID: ${text} is not a valid video or audio file: .*Invalid data found when processing input`),
  );
  const jpeg = path.join(ROOT, 'fixtures/images/photo-landscape.jpg');
  assert.equal(await failure('transcode', job(jpeg)), `GT_MEDIA_INVALID: ${jpeg} is not a valid video or audio file: it is a still image (jpeg_pipe)`);
  assert.equal(await failure('transcode', job('/nope/missing.mp4')), 'GT_INPUT_NOT_FOUND: Input /nope/missing.mp4: no such file');
  // An audio-only file: fine for audio profiles, refused for video ones before any encode.
  const a = await call('transcode', { input: CLIP, outDir: out, name: 'sound', profiles: ['audio-m4a'] });
  const m4a = a.outputs[0].path as string;
  assert.equal(
    await failure('transcode', job(m4a, ['mp4-240p', 'audio-opus'])),
    `GT_MEDIA_INVALID: ${m4a} is not a valid video or audio file: no video stream for mp4-240p`,
  );
  assert.equal(
    await failure('transcode', { input: m4a, outDir: out, profiles: [], poster: true }),
    `GT_MEDIA_INVALID: ${m4a} is not a valid video or audio file: no video stream for poster`,
  );
  assert.deepEqual((await readdir(out)).sort(), ['.geartrain', 'notes.mp4', 'sound-audio.m4a'], 'no output, no temp file');
  const ok = await call('transcode', job(CLIP));
  assert.equal(ok.outputs[0].height, 240);
});

test('ffmpeg failing mid-way is GT_FFMPEG_FAILED with its last meaningful line; the partial output is removed', { skip }, async (t) => {
  const out = await tmp(t);
  // A file size limit of 20 KB (SIGXFSZ ignored): the write fails part-way, as on a full disk.
  // ffmpeg 5.1 reports it on stderr but exits 0; the worker must still call it a failure.
  const full = await fakeFfmpeg(out, 'trap \'\' XFSZ\nulimit -f 40\nexec FFMPEG "$@"');
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }], { transcode: { ffmpegPath: full.bin } });
  assert.match(
    await failure('transcode', { input: CLIP, outDir: out, profiles: ['mp4-240p'] }),
    new RegExp(`^GT_FFMPEG_FAILED: ffmpeg failed on ${CLIP}: Error (closing file|writing trailer of) \\S+\\.clip-240p\\.mp4: File too large$`),
  );
  // Exiting with an error: the line before "Conversion failed!" is the one that says why.
  const broken = await fakeFfmpeg(
    out,
    'case "$*" in *-version*) exec FFMPEG "$@";; esac\necho \'frame=   10 fps=0.0 q=0.0 size=0kB time=00:00:00.40\' >&2\necho \'[h264 @ 0x55d0c0ffee00] ' +
      "Invalid NAL unit size (1229 > 1024).' >&2\necho 'Error while decoding stream #0:0: Invalid data found when processing input' >&2\necho 'Conversion " +
      "failed!' >&2\nexit 1",
  );
  const b = await withWorkers(t, [{ factory: transcodeWorker }], { transcode: { ffmpegPath: broken.bin } });
  assert.equal(
    await b.failure('transcode', { input: CLIP, outDir: out, profiles: ['mp4-240p'] }),
    `GT_FFMPEG_FAILED: ffmpeg failed on ${CLIP}: Invalid NAL unit size (1229 > 1024). (Error while decoding stream #0:0: Invalid data found when processing ` +
      `input)`,
  );
  const missing = await withWorkers(t, [{ factory: transcodeWorker }], { transcode: { ffmpegPath: path.join(out, 'no-such-ffmpeg') } });
  assert.match(
    await missing.failure('transcode', { input: CLIP, outDir: out, profiles: ['mp4-240p'] }),
    new RegExp(`^GT_FFMPEG_NOT_FOUND: No ffmpeg at ${out}/no-such-ffmpeg found: install ffmpeg`),
  );
  assert.deepEqual(await tempFiles(out), [], 'no partial output');
});

test("a poster that fails stops the rendition encoding beside it; the job fails with the poster's error; nothing left", { skip }, async (t) => {
  const out = await tmp(t);
  // The poster (a .jpg output) fails at once; a rendition is made to run for a minute.
  const fake = await fakeFfmpeg(
    out,
    `case "$*" in *-version*) exec FFMPEG "$@";; *.jpg) echo 'poster: No space left on device' >&2; echo 'Conversion failed!' >&2; exit 1;; esac\nexec ` +
      `FFMPEG -re -stream_loop -1 "$@"`,
  );
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }], { transcode: { ffmpegPath: fake.bin } });
  const started = Date.now();
  const err = await failure('transcode', { input: CLIP, outDir: out, name: 'both', profiles: ['mp4-240p'], poster: true });
  assert.equal(err, `GT_FFMPEG_FAILED: ffmpeg failed on ${CLIP}: poster: No space left on device`);
  assert.ok(Date.now() - started < 30_000, 'the rendition was stopped, not waited for');
  assert.deepEqual(ffmpegChildren(), [], "the rendition's ffmpeg is gone when the job fails");
  assert.deepEqual(
    (await filesUnder(out)).filter((f) => f.startsWith('both') || f.startsWith('.geartrain')),
    [],
    'no output, no temp file',
  );
});

test('the timeout and an aborted job kill ffmpeg and leave no temp file', { skip }, async (t) => {
  const out = await tmp(t);
  const long = path.join(out, 'long.mp4');
  // 90 s of video without re-encoding: many seconds of VP9, so it is surely caught mid-encode.
  execFileSync('ffmpeg', ['-v', 'error', '-stream_loop', '29', '-i', CLIP, '-c', 'copy', long]);
  const fake = await fakeFfmpeg(out, 'exec FFMPEG "$@"');
  const settings = { transcode: { timeoutMs: 4000, ffmpegPath: fake.bin } };
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }], settings);
  assert.equal(
    await failure('transcode', { input: long, outDir: path.join(out, 'a'), profiles: ['webm-720p'] }),
    `GT_FFMPEG_FAILED: ffmpeg failed on ${long}: killed after the 4000 ms timeout`,
  );
  assert.ok((await readFile(fake.log, 'utf8')).includes('libvpx-vp9'), 'ffmpeg had started');
  assert.deepEqual(ffmpegChildren(), [], 'ffmpeg is gone when the job fails');
  assert.deepEqual(await filesUnder(path.join(out, 'a')), [], 'no temp file');

  // The Worker's own timeout aborts ctx.signal: the client hears at once, ffmpeg is stopped after.
  const aborting = await withWorkers(t, [{ factory: transcodeWorker, timeoutMs: 4000 }], { transcode: { ffmpegPath: fake.bin } });
  assert.match(
    await aborting.failure('transcode', { input: long, outDir: path.join(out, 'b'), profiles: ['webm-720p'] }),
    /^Job transcode \(.+\) failed$/,
    'WORK_FAIL',
  );
  for (let i = 0; i < 100 && (ffmpegChildren().length > 0 || (await filesUnder(path.join(out, 'b'))).length > 0); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(ffmpegChildren(), [], 'ffmpeg stopped');
  assert.deepEqual(await filesUnder(path.join(out, 'b')), [], 'no temp file');
});

test('a playlist pointing at the network is refused: only local files are read', { skip }, async (t) => {
  const out = await tmp(t);
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url!);
    res.end('x');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const segments = path.join(out, 'segments.m3u8');
  await writeFile(segments, `#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXT-X-KEY:METHOD=AES-128,URI="${url}/key"\n#EXTINF:3,\n${url}/segment.ts\n#EXT-X-ENDLIST\n`);
  const variants = path.join(out, 'variants.m3u8');
  await writeFile(variants, `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n${url}/720p.m3u8\n`);
  const concat = path.join(out, 'list.ffconcat');
  await writeFile(concat, `ffconcat version 1.0\nfile ${url}/a.mp4\n`);
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  for (const input of [segments, variants, concat]) {
    assert.match(
      await failure('transcode', { input, outDir: out, profiles: ['mp4-240p'] }),
      new RegExp(`^GT_(MEDIA_INVALID|FFMPEG_FAILED): ${input} is not a valid video or audio file: `),
    );
  }
  // ffmpeg itself holds the same line, not only the probe in front of it.
  const bin = await locate();
  const src = await probeFile(bin, CLIP, new AbortController().signal);
  const run = profileRun(bin, 'mp4-240p', src, segments, path.join(out, 'direct.mp4'));
  await assert.rejects(
    runFfmpeg(bin, { ...run.spec, signal: new AbortController().signal }),
    (err: Error & { code?: string }) => err.code === 'GT_FFMPEG_FAILED',
  );
  assert.deepEqual(requests, [], 'no request reached the server');
});

test('playlists and lists are refused by their format, whatever their name; nothing they point at is read', { skip }, async (t) => {
  const dir = await tmp(t);
  const allowed = path.join(dir, 'allowed');
  const outside = path.join(dir, 'outside');
  await mkdir(allowed);
  await mkdir(outside);
  const segment = path.join(outside, 'secret.ts');
  execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP, '-c', 'copy', '-f', 'mpegts', segment]);
  // An HLS playlist and an ffconcat list named .mp4, each pointing at the segment outside.
  const hls = path.join(allowed, 'holiday.mp4');
  await writeFile(hls, `#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n${segment}\n#EXT-X-ENDLIST\n`);
  const concat = path.join(allowed, 'party.mp4');
  await writeFile(concat, `ffconcat version 1.0\nfile '${segment}'\n`);
  const relative = path.join(allowed, 'near.mp4');
  await writeFile(relative, `ffconcat version 1.0\nfile 'near.ts'\n`);
  await writeFile(path.join(allowed, 'near.ts'), await readFile(segment));
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }, { factory: probeWorker }], { allowPaths: [allowed] });
  const out = path.join(allowed, 'out');
  for (const [input, format] of [
    [hls, 'hls'],
    [concat, 'concat'],
    [relative, 'concat'],
  ] as const) {
    const refused =
      `GT_MEDIA_INVALID: ${input} is not a valid video or audio file: its format ${format} reads other files (a playlist or list); such inputs ` +
      `are refused`;
    assert.equal(await failure('transcode', { input, outDir: out, profiles: ['mp4-240p'], poster: true }), refused);
    assert.equal(await failure('probe', { input }), refused);
  }
  assert.deepEqual(await filesUnder(out), [], 'nothing made');
});

test("runFfmpeg alone: progress in ms of the input's duration, then a report of what it wrote", { skip }, async (t) => {
  const out = await tmp(t);
  const bin = await locate();
  const src = await probeFile(bin, CLIP, new AbortController().signal);
  const run = profileRun(bin, 'mp4-240p', src, CLIP, path.join(out, 'alone.mp4'));
  const seen: [number, number][] = [];
  const report = await runFfmpeg(bin, { ...run.spec, signal: new AbortController().signal, onProgress: (done, total) => seen.push([done, total]) });
  assert.ok(seen.length > 0 && seen.every(([d, n]) => n === 3000 && d >= 0 && d <= n), JSON.stringify(seen));
  assert.deepEqual([report.width, report.height], [426, 240]);
  assert.ok(Math.abs(report.seconds! - 3) < 0.15, String(report.seconds));
});

test('payloads are checked at the boundary, naming the field', { skip }, async (t) => {
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const base = { input: CLIP, outDir: '/tmp/x' };
  const cases: [unknown, string][] = [
    [
      { ...base, profiles: ['mp4-480p', 'mp4-4k'] },
      'Expected one of mp4-1080p, mp4-720p, mp4-480p, mp4-240p, webm-720p, audio-m4a, audio-opus, hls for transcode.profiles[1] but received mp4-4k of type ' +
        'string',
    ],
    [{ ...base, profiles: [] }, 'Expected at least one profile, a poster or a storyboard for transcode.profiles but received [] of type array'],
    [{ ...base, profiles: 'mp4-480p' }, 'Expected array of 0 to 8 items for transcode.profiles but received mp4-480p of type string'],
    [{ ...base, profiles: ['mp4-480p', 'mp4-480p'] }, 'Expected each profile once for transcode.profiles[1] but received mp4-480p of type string'],
    [{ ...base, profiles: [], poster: 'yes' }, 'Expected true or a JSON object for transcode.poster but received yes of type string'],
    [{ ...base, profiles: [], poster: { format: 'png' } }, 'Expected one of jpeg, webp for transcode.poster.format but received png of type string'],
    [{ ...base, profiles: [], poster: { atSeconds: -1 } }, 'Expected number of at least 0 for transcode.poster.atSeconds but received -1 of type number'],
    [{ ...base, profiles: [], poster: { width: 8 } }, 'Expected integer between 16 and 7680 for transcode.poster.width but received 8 of type number'],
    [{ ...base, profiles: [], poster: { at: 3 } }, 'Expected one of the fields atSeconds, width, format for transcode.poster.at but received 3 of type number'],
    [
      { ...base, profiles: ['mp4-480p'], name: '../up' },
      'Expected a file name of 1 to 200 characters without folders, a leading dot, control characters or NUL for transcode.name but received ../up of type ' +
        'string',
    ],
    [
      { ...base, profiles: ['mp4-480p'], name: 'a\r\nb' },
      'Expected a file name of 1 to 200 characters without folders, a leading dot, control characters or NUL for transcode.name but received a\r\nb of type ' +
        'string',
    ],
    [
      { ...base, input: 'clip\u0000.mp4', profiles: ['mp4-480p'] },
      'Expected a path of 1 to 4096 characters without NUL for transcode.input but received clip\u0000.mp4 of type string',
    ],
    [
      { ...base, profile: ['mp4-480p'], profiles: ['mp4-480p'] },
      'Expected one of the fields input, outDir, profiles, poster, storyboard, hls, name for transcode.profile but received ["mp4-480p"] of type array',
    ],
    [{ outDir: '/tmp', profiles: ['mp4-480p'] }, 'Expected a path of 1 to 4096 characters without NUL for transcode.input but received undefined'],
  ];
  for (const [payload, message] of cases) assert.equal(await failure('transcode', payload), `GT_PAYLOAD_INVALID: ${message}`);
});

test('allowed folders are enforced for the input and the output folder', { skip }, async (t) => {
  const out = await tmp(t);
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }], { allowPaths: [out] });
  assert.equal(
    await failure('transcode', { input: CLIP, outDir: out, profiles: ['mp4-240p'] }),
    `GT_PATH_NOT_ALLOWED: Input ${CLIP} is not allowed: it is outside the allowed folders (${out})`,
  );
  const inside = path.join(out, 'clip.mp4');
  await writeFile(inside, await readFile(CLIP));
  assert.equal(
    await failure('transcode', { input: inside, outDir: '/tmp', profiles: ['mp4-240p'] }),
    `GT_PATH_NOT_ALLOWED: Output folder /tmp is not allowed: it is outside the allowed folders (${out})`,
  );
});

test('probe tells an image from a video and refuses what is neither', { skip }, async (t) => {
  const { call, failure } = await withWorkers(t, [{ factory: probeWorker }]);
  const v = conforms('probe', await call('probe', { input: CLIP }));
  assert.deepEqual([v.kind, v.width, v.height, v.durationSeconds, v.videoCodec, v.audioCodec], ['video', 640, 360, 3, 'h264', 'aac']);
  const i = conforms('probe', await call('probe', { input: path.join(ROOT, 'fixtures/images/photo-portrait-exif6.jpg') }));
  assert.deepEqual([i.kind, i.format, i.width, i.height], ['image', 'jpeg', 800, 1200]);
  const g = conforms('probe', await call('probe', { input: path.join(ROOT, 'fixtures/images/animated.gif') }));
  assert.deepEqual([g.kind, g.pages, g.height], ['image', 6, 150]);
  const bad = path.join(ROOT, 'fixtures/bad/not-an-image.jpg');
  assert.equal(await failure('probe', { input: bad }), `GT_MEDIA_INVALID: ${bad} is not a valid video or audio file: Invalid data found when processing input`);
  assert.equal(
    await failure('probe', { input: TRUNCATED }),
    `GT_MEDIA_INVALID: ${TRUNCATED} is not a valid video or audio file: moov atom not found (Invalid data found when processing input)`,
  );
});
