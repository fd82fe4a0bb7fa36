// The transcode worker through a real job server with Debian's ffmpeg: outputs read back with
// ffprobe and sharp, progress, no upscaling, bad inputs, the timeout, and the protocol
// whitelist that keeps a crafted playlist off the network. Also the probe worker.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { transcodeWorker } from '../../src/workers/transcode.js';
import { probeWorker } from '../../src/workers/probe.js';
import { ROOT, missingTools } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';

const CLIP = path.join(ROOT, 'fixtures/video/clip.mp4');
const skip = missingTools('ffmpeg', 'ffprobe');

function probe(file: string): { streams: { codec_type: string; codec_name: string; width?: number; height?: number }[]; format: { duration: string } } {
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { encoding: 'utf8' }));
}

async function tmp(t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-transcode-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('MP4 and WebM renditions, audio-only and a poster; never upscaled; progress sent', { skip }, async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const statuses: [number, number][] = [];
  const r = await call('transcode', { input: CLIP, outDir: out, profiles: ['mp4-720p', 'mp4-480p', 'webm-720p', 'audio-m4a'], poster: { width: 320 } }, (n, d) => statuses.push([n, d]));
  assert.equal(r.durationSeconds, 3);
  assert.deepEqual([r.probe.width, r.probe.height, r.probe.videoCodec, r.probe.audioCodec], [640, 360, 'h264', 'aac']);
  assert.deepEqual(r.outputs.map((o: { path: string }) => path.basename(o.path)), ['clip-720p.mp4', 'clip-480p.mp4', 'clip-720p.webm', 'clip-audio.m4a']);
  const [p720, p480, webm, m4a] = r.outputs.map((o: { path: string }) => probe(o.path));
  const v = (p: ReturnType<typeof probe>) => p.streams.find((s) => s.codec_type === 'video');
  const a = (p: ReturnType<typeof probe>) => p.streams.find((s) => s.codec_type === 'audio');
  assert.deepEqual([v(p720)!.codec_name, v(p720)!.width, v(p720)!.height, a(p720)!.codec_name], ['h264', 640, 360, 'aac'], '720p of a 360p source stays 360p');
  assert.deepEqual([v(p480)!.width, v(p480)!.height], [640, 360]);
  assert.deepEqual([v(webm)!.codec_name, a(webm)!.codec_name], ['vp9', 'opus']);
  assert.equal(v(m4a), undefined);
  assert.equal(a(m4a)!.codec_name, 'aac');
  for (const p of [p720, webm, m4a]) assert.ok(Math.abs(Number(p.format.duration) - 3) < 0.2, `duration ${p.format.duration}`);
  const poster = await sharp(r.poster.path).metadata();
  assert.deepEqual([poster.format, poster.width, poster.height], ['jpeg', 320, 180]);
  assert.ok(statuses.some(([n, d]) => n > 0 && n < d), `intermediate progress (${JSON.stringify(statuses)})`);
  assert.deepEqual(statuses.at(-1), [15000, 15000]);
  assert.deepEqual((await readdir(out)).filter((f) => f.includes('.tmp')), []);
});

test('a second identical job makes nothing again', { skip }, async (t) => {
  const out = await tmp(t);
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  await call('transcode', { input: CLIP, outDir: out, profiles: ['mp4-480p'], poster: true });
  const again = await call('transcode', { input: CLIP, outDir: out, profiles: ['mp4-480p'], poster: true });
  assert.equal(again.outputs[0].skipped, true);
  assert.equal(again.poster.skipped, true);
  assert.equal(path.basename(again.poster.path), 'clip-poster.jpg');
});

test('bad inputs fail with their codes, the timeout kills ffmpeg, and the worker goes on', { skip }, async (t) => {
  const out = await tmp(t);
  const text = path.join(out, 'notes.mp4');
  await writeFile(text, 'not a video');
  const { call, failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const impatient = await withWorkers(t, [{ factory: transcodeWorker, timeoutMs: 60_000 }], { transcode: { timeoutMs: 100 } });
  const truncated = path.join(ROOT, 'fixtures/bad/truncated.mp4');
  assert.equal(await failure('transcode', { input: truncated, outDir: out, profiles: ['mp4-480p'] }), `GT_MEDIA_INVALID: ${truncated} is not a valid video or audio file: Invalid data found when processing input`);
  assert.equal(await failure('transcode', { input: text, outDir: out, profiles: ['mp4-480p'] }), `GT_MEDIA_INVALID: ${text} is not a valid video or audio file: Invalid data found when processing input`);
  assert.equal(await impatient.failure('transcode', { input: CLIP, outDir: out, profiles: ['webm-720p'] }), `GT_FFMPEG_FAILED: ffmpeg failed on ${CLIP}: killed after the 100 ms timeout`);
  assert.deepEqual((await readdir(out)).sort(), ['notes.mp4'], 'no partial output left');
  assert.equal(await failure('transcode', { input: CLIP, outDir: out, profiles: ['mp4-4k'] }), 'GT_PAYLOAD_INVALID: Expected one of mp4-1080p, mp4-720p, mp4-480p, webm-720p, audio-m4a for transcode.profiles[0] but received mp4-4k of type string');
  assert.equal(await failure('transcode', { input: CLIP, outDir: out, profiles: [] }), 'GT_PAYLOAD_INVALID: Expected at least one profile, or a poster for transcode.profiles but received [] of type array');
  const r = await call('transcode', { input: CLIP, outDir: out, profiles: [], poster: { format: 'webp', width: 160 } });
  assert.equal((await sharp(r.poster.path).metadata()).format, 'webp');
});

test('a playlist pointing at the network is refused: only local files are read', { skip }, async (t) => {
  const out = await tmp(t);
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests++;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const m3u8 = path.join(out, 'evil.m3u8');
  await writeFile(m3u8, `#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\nhttp://127.0.0.1:${port}/segment.ts\n#EXT-X-ENDLIST\n`);
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  assert.match(await failure('transcode', { input: m3u8, outDir: out, profiles: ['mp4-480p'] }), /^GT_MEDIA_INVALID: .*evil\.m3u8 is not a valid video or audio file/);
  assert.equal(requests, 0, 'ffmpeg made no request');
});

test('probe tells an image from a video and refuses what is neither', { skip }, async (t) => {
  const { call, failure } = await withWorkers(t, [{ factory: probeWorker }]);
  const v = await call('probe', { input: CLIP });
  assert.deepEqual([v.kind, v.width, v.height, v.durationSeconds, v.videoCodec, v.audioCodec], ['video', 640, 360, 3, 'h264', 'aac']);
  const i = await call('probe', { input: path.join(ROOT, 'fixtures/images/photo-portrait-exif6.jpg') });
  assert.deepEqual([i.kind, i.format, i.width, i.height], ['image', 'jpeg', 800, 1200]);
  const g = await call('probe', { input: path.join(ROOT, 'fixtures/images/animated.gif') });
  assert.deepEqual([g.kind, g.pages, g.height], ['image', 6, 150]);
  const bad = path.join(ROOT, 'fixtures/bad/not-an-image.jpg');
  assert.match(await failure('probe', { input: bad }), new RegExp(`^GT_MEDIA_INVALID: ${bad} is not a valid video or audio file`));
});
