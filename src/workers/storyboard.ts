// The `storyboard` output of `transcode`: a sprite sheet of frames every N seconds and a WebVTT
// file whose cues point at regions of it (`NAME-storyboard.jpg#xywh=x,y,w,h`), as players read
// for scrub previews. One ffmpeg pass (select + scale + tile) makes the sheet; this module plans
// the layout and the command and writes the cues.

import { invalidPayload } from '../errors.js';
import { INPUT_HARDENING, demuxerOf, globalArgs, type Binaries, type FfmpegCommandSpec, type MediaProbe } from './ffmpeg.js';
import { Fields } from './validate.js';

export const STORYBOARD_FORMATS = ['jpeg', 'webp'] as const;
export type StoryboardFormat = (typeof STORYBOARD_FORMATS)[number];
/** Tiles the default interval aims at, at most. */
export const TARGET_TILES = 100;
/** More tiles than this is refused (a sheet past 16383 px is not a valid WebP). */
export const MAX_TILES = 400;
/** Tiles per row. */
const COLUMNS = 10;
/** @defaultValue tile width in pixels */
export const DEFAULT_TILE_WIDTH = 160;

export interface StoryboardOptions {
  /** @defaultValue the whole seconds that keep the tiles at most 100: max(1, ceil(duration / 100)) */
  intervalSeconds?: number;
  /** Tile width; the height follows the aspect ratio. @defaultValue 160, never wider than the source */
  width?: number;
  /** @defaultValue 'jpeg' */
  format: StoryboardFormat;
}

/** The sheet's layout: tile i is at column i % columns, row floor(i / columns). */
export interface StoryboardLayout {
  intervalSeconds: number;
  tiles: number;
  columns: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
}

/** `transcode.storyboard`: true or an object of options. */
export function parseStoryboard(f: Fields): StoryboardOptions | undefined {
  const v = f.raw('storyboard');
  if (v === undefined || v === false) return undefined;
  if (v === true) return { format: 'jpeg' };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidPayload('true or a JSON object', f.name('storyboard'), v);
  const sf = new Fields(v as Record<string, unknown>, f.name('storyboard'));
  const o: StoryboardOptions = { format: sf.oneOf('format', STORYBOARD_FORMATS, 'jpeg') };
  const interval = sf.optNumber('intervalSeconds', { min: 0.5, max: 3600 });
  if (interval !== undefined) o.intervalSeconds = interval;
  const width = sf.optInt('width', { min: 32, max: 640 });
  if (width !== undefined) o.width = width;
  sf.done();
  return o;
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
  if (tiles > MAX_TILES) throw invalidPayload(`an interval giving at most ${MAX_TILES} tiles (this video lasts ${d} s)`, `${name}.intervalSeconds`, intervalSeconds);
  const tileWidth = even(Math.min(o.width ?? DEFAULT_TILE_WIDTH, src.width!));
  const tileHeight = even((src.height! * tileWidth) / src.width!);
  const columns = Math.min(tiles, COLUMNS);
  return { intervalSeconds, tiles, columns, rows: Math.ceil(tiles / columns), tileWidth, tileHeight };
}

/**
 * The ffmpeg command for the sheet: the first frame of each N-second slot (`select`), scaled,
 * laid out by `tile` into one image. The source is decoded once.
 */
export function storyboardRun(bin: Binaries, o: StoryboardOptions, layout: StoryboardLayout, src: MediaProbe, input: string, output: string): FfmpegCommandSpec {
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
