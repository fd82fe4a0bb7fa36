// The `storyboard` output of `transcode`: a sprite sheet of frames every N seconds and a WebVTT
// file whose cues point at regions of it (`NAME-storyboard.jpg#xywh=x,y,w,h`), as players read
// for scrub previews. One ffmpeg pass (select + scale + tile) makes the sheet; this module plans
// the layout and the command and writes the cues.

import { invalidPayload } from '../errors.js';
import { STORYBOARD_FORMATS, type StoryboardFormat, type StoryboardLayout, type StoryboardOptions } from '../schema/payloads/transcode.js';
import { type Binaries, demuxerOf, type FfmpegCommandSpec, globalArgs, INPUT_HARDENING, type MediaProbe } from './ffmpeg.js';

export { STORYBOARD_FORMATS, type StoryboardFormat, type StoryboardLayout, type StoryboardOptions };

/** Tiles the default interval aims at, at most. */
export const TARGET_TILES = 100;
/** More tiles than this is refused (a sheet past 16383 px is not a valid WebP). */
export const MAX_TILES = 400;
/** Tiles per row. */
const COLUMNS = 10;
/** @defaultValue tile width in pixels */
export const DEFAULT_TILE_WIDTH = 160;

/**
 * `transcode.storyboard` as the worker uses it: `true` read as the defaults, keys in one order
 * (format, intervalSeconds, width), the order of its fingerprint.
 */
export function storyboardOptionsOf(v: boolean | StoryboardOptions | undefined): (StoryboardOptions & { format: StoryboardFormat }) | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { format: 'jpeg' };
  return {
    format: v.format ?? 'jpeg',
    ...(v.intervalSeconds !== undefined ? { intervalSeconds: v.intervalSeconds } : {}),
    ...(v.width !== undefined ? { width: v.width } : {}),
  };
}

const even = (n: number): number => Math.max(2, Math.round(n / 2) * 2);

/**
 * The layout for a source. The last frame starts one frame before the end, so the tiles are the
 * N-second slots that hold a frame: ceil((duration - 1 / fps) / N).
 */
export function storyboardLayout(src: MediaProbe, o: StoryboardOptions, name: string): StoryboardLayout {
  const d = Math.max(src.durationSeconds, 0.001);
  const intervalSeconds = o.intervalSeconds ?? Math.max(1, Math.ceil(d / TARGET_TILES));
  const frame = 1 / (src.fps ?? 30);
  const tiles = Math.max(1, Math.ceil(Math.max(d - frame, 0.001) / intervalSeconds - 1e-9));
  if (tiles > MAX_TILES)
    throw invalidPayload(`an interval giving at most ${MAX_TILES} tiles (this video lasts ${d} s)`, `${name}.intervalSeconds`, intervalSeconds);
  const tileWidth = even(Math.min(o.width ?? DEFAULT_TILE_WIDTH, src.width!));
  const tileHeight = even((src.height! * tileWidth) / src.width!);
  const columns = Math.min(tiles, COLUMNS);
  return { intervalSeconds, tiles, columns, rows: Math.ceil(tiles / columns), tileWidth, tileHeight };
}

/**
 * The ffmpeg command for the sheet: the first frame of each N-second slot (`select`), scaled,
 * laid out by `tile` into one image. The source is decoded once.
 */
export function storyboardRun(
  bin: Binaries,
  o: StoryboardOptions,
  layout: StoryboardLayout,
  src: MediaProbe,
  input: string,
  output: string,
): FfmpegCommandSpec {
  const n = layout.intervalSeconds;
  const select = `select='isnan(prev_selected_t)+gte(floor(t/${n})-floor(prev_selected_t/${n}),1)'`;
  const filter = `${select},scale=${layout.tileWidth}:${layout.tileHeight},setsar=1,tile=${layout.columns}x${layout.rows}`;
  const codec = o.format === 'webp' ? ['-c:v', 'libwebp', '-quality', '75'] : ['-c:v', 'mjpeg', '-q:v', '4'];
  return {
    input,
    inputArgs: [...globalArgs(bin), ...INPUT_HARDENING, '-f', demuxerOf(src.format)],
    args: ['-map', '0:v:0', '-vf', filter, '-frames:v', '1', '-an', '-sn', '-dn', '-map_metadata', '-1', ...codec, '-update', '1', '-f', 'image2'],
    output,
  };
}

const stamp = (seconds: number): string => {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const pad = (v: number, w = 2): string => String(v).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
};

/** The WebVTT cues: tile i covers [i·N, (i+1)·N), the last one up to the duration. */
export function storyboardVtt(layout: StoryboardLayout, spriteName: string, durationSeconds: number): string {
  const lines = ['WEBVTT', ''];
  for (let i = 0; i < layout.tiles; i++) {
    const start = i * layout.intervalSeconds;
    const end = i === layout.tiles - 1 ? Math.max(durationSeconds, start + 0.001) : (i + 1) * layout.intervalSeconds;
    const x = (i % layout.columns) * layout.tileWidth;
    const y = Math.floor(i / layout.columns) * layout.tileHeight;
    lines.push(`${stamp(start)} --> ${stamp(end)}`, `${encodeURIComponent(spriteName)}#xywh=${x},${y},${layout.tileWidth},${layout.tileHeight}`, '');
  }
  return lines.join('\n');
}
