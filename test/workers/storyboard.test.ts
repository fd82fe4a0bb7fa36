// The transcode worker's storyboard through a real job server with Debian's ffmpeg: the sprite
// sheet read back with sharp (size, format, every tile a frame), the WebVTT cues (each region
// inside the sheet, the cues covering the duration without gaps), the default interval keeping
// the tiles at most ~100, and the refusals.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import sharp from 'sharp';
import { transcodeWorker } from '../../src/workers/transcode.js';
import { makeClip } from '../helpers/clips.js';
import { tempDir, tempFiles } from '../helpers/files.js';
import { missingTools } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

const skip = missingTools('ffmpeg', 'ffprobe');

const tmp = (t: TestContext): Promise<string> => tempDir(t, 'gt-storyboard-');

interface Cue {
  start: number;
  end: number;
  file: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

const seconds = (s: string): number => {
  const [h, m, rest] = s.split(':');
  return Number(h) * 3600 + Number(m) * 60 + Number(rest);
};

function parseVtt(text: string): Cue[] {
  assert.match(text, /^WEBVTT\n/);
  const cues: Cue[] = [];
  for (const m of text.matchAll(/^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.+)#xywh=(\d+),(\d+),(\d+),(\d+)$/gm)) {
    cues.push({ start: seconds(m[1]!), end: seconds(m[2]!), file: m[3]!, x: Number(m[4]), y: Number(m[5]), w: Number(m[6]), h: Number(m[7]) });
  }
  return cues;
}

interface Storyboard {
  path: string;
  vtt: string;
  format: string;
  tiles: number;
  columns: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
  intervalSeconds: number;
}

/** Sheet and cues agree: size, regions inside, one cue per tile, no gap, the duration covered, no empty tile. */
async function checkStoryboard(sb: Storyboard, duration: number): Promise<Cue[]> {
  const meta = await sharp(sb.path).metadata();
  assert.deepEqual([meta.width, meta.height], [sb.columns * sb.tileWidth, sb.rows * sb.tileHeight], 'sheet = grid of tiles');
  const cues = parseVtt(await readFile(sb.vtt, 'utf8'));
  assert.equal(cues.length, sb.tiles, 'one cue per tile');
  assert.equal(cues[0]!.start, 0);
  for (const [i, c] of cues.entries()) {
    assert.equal(c.file, path.basename(sb.path), 'cues name the sheet beside them');
    assert.ok(c.x >= 0 && c.y >= 0 && c.x + c.w <= meta.width! && c.y + c.h <= meta.height!, `cue ${i}: region inside the sheet`);
    assert.deepEqual([c.w, c.h], [sb.tileWidth, sb.tileHeight]);
    assert.ok(c.end > c.start, `cue ${i}: not empty`);
    if (i > 0) assert.equal(c.start, cues[i - 1]!.end, `cue ${i}: no gap, no overlap`);
    // testsrc2 is colourful everywhere: an unfilled (black) tile has a mean near 0.
    const tile = await sharp(sb.path).extract({ left: c.x, top: c.y, width: c.w, height: c.h }).stats();
    assert.ok(tile.channels[0]!.mean + tile.channels[1]!.mean + tile.channels[2]!.mean > 60, `cue ${i}: a frame in the tile`);
  }
  assert.ok(Math.abs(cues.at(-1)!.end - duration) < 0.05, `the cues reach the end (${cues.at(-1)!.end} of ${duration})`);
  return cues;
}

const durationOf = (file: string): number =>
  Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim());

test('storyboard: a tile per second of an 8 s clip, cues pointing into the sheet', { skip }, async (t) => {
  const dir = await tmp(t);
  const input = makeClip(path.join(dir, 'talk.mp4'), '1280x720', 8);
  const { call } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const r = conforms('transcode', await call('transcode', { input, outDir: dir, profiles: [], storyboard: true }));
  const sb = r.storyboard as Storyboard;
  assert.deepEqual(
    [path.basename(sb.path), path.basename(sb.vtt), sb.format, sb.intervalSeconds, sb.tiles, sb.columns, sb.rows, sb.tileWidth, sb.tileHeight],
    ['talk-storyboard.jpg', 'talk-storyboard.vtt', 'jpeg', 1, 8, 8, 1, 160, 90],
  );
  assert.equal((await sharp(sb.path).metadata()).format, 'jpeg');
  const cues = await checkStoryboard(sb, durationOf(input));
  assert.deepEqual(
    cues.slice(0, 2).map((c) => [c.start, c.end, c.x, c.y]),
    [
      [0, 1, 0, 0],
      [1, 2, 160, 0],
    ],
  );
  assert.deepEqual(await tempFiles(dir), []);
  const again = conforms('transcode', await call('transcode', { input, outDir: dir, profiles: [], storyboard: true }));
  assert.equal(again.storyboard.skipped, true, 'up to date: not made again');
});

test('storyboard: the default interval keeps a long video at most ~100 tiles; webp and width options', { skip }, async (t) => {
  const dir = await tmp(t);
  const input = makeClip(path.join(dir, 'long.mp4'), '320x180', 250, { silent: true, fps: 5 });
  const { call, failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  const r = await call('transcode', { input, outDir: dir, profiles: [], storyboard: true });
  const sb = r.storyboard as Storyboard;
  assert.deepEqual([sb.intervalSeconds, sb.tiles, sb.columns, sb.rows], [3, 84, 10, 9], '250 s in 3 s slots');
  await checkStoryboard(sb, durationOf(input));

  const w = await call('transcode', { input, outDir: path.join(dir, 'w'), profiles: [], storyboard: { format: 'webp', width: 96, intervalSeconds: 10 } });
  const wb = w.storyboard as Storyboard;
  assert.deepEqual([path.basename(wb.path), wb.tiles, wb.tileWidth, wb.tileHeight], ['long-storyboard.webp', 25, 96, 54]);
  assert.equal((await sharp(wb.path).metadata()).format, 'webp');
  await checkStoryboard(wb, durationOf(input));

  assert.equal(
    await failure('transcode', { input, outDir: dir, profiles: [], storyboard: { intervalSeconds: 0.5 } }),
    'GT_PAYLOAD_INVALID: Expected an interval giving at most 400 tiles (this video lasts 250 s) for transcode.storyboard.intervalSeconds but received 0.5 of ' +
      'type number',
  );
});

test('storyboard: refused without a video stream, and bad options named', { skip }, async (t) => {
  const dir = await tmp(t);
  const audio = path.join(dir, 'tone.m4a');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=duration=2', '-c:a', 'aac', audio]);
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }]);
  assert.match(
    await failure('transcode', { input: audio, outDir: dir, profiles: [], storyboard: true }),
    /^GT_MEDIA_INVALID: .*no video stream for storyboard/,
  );
  assert.match(await failure('transcode', { input: audio, outDir: dir, profiles: [], storyboard: { format: 'gif' } }), /transcode\.storyboard\.format/);
  assert.match(await failure('transcode', { input: audio, outDir: dir, profiles: [], storyboard: 'yes' }), /true or a JSON object for transcode\.storyboard/);
});
