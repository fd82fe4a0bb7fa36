// The `hls` profile of `transcode`: an adaptive-streaming ladder (HLS, H.264 + AAC in MPEG-TS
// segments) made by ONE ffmpeg run that decodes the source once and splits it into every rung.
// This module plans the ladder and the command and reads back what ffmpeg wrote; transcode.ts
// runs it through the shared runner and writes the folder atomically.

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { invalidPayload } from '../errors.js';
import type { HlsOptions, HlsVariant, Rung } from '../schema/payloads/transcode.js';
import { type Binaries, demuxerOf, type FfmpegCommandSpec, globalArgs, INPUT_HARDENING, type MediaProbe } from './ffmpeg.js';

export type { HlsOptions, HlsVariant, Rung } from '../schema/payloads/transcode.js';

/** The ladder when the payload gives none; clipped to the source (see clipLadder). */
export const DEFAULT_LADDER: readonly Rung[] = [
  { height: 1080, videoKbps: 5000 },
  { height: 720, videoKbps: 2800 },
  { height: 480, videoKbps: 1400 },
  { height: 240, videoKbps: 400 },
];
/** @defaultValue segment length in seconds */
export const DEFAULT_SEGMENT_SECONDS = 4;
export const MASTER_PLAYLIST = 'master.m3u8';
const AUDIO_ONLY = 'audio';

export interface HlsInfo {
  variants: HlsVariant[];
  /** Segment files over all variants. */
  segments: number;
  segmentSeconds: number;
}

/**
 * `transcode.hls` checked beyond its schema (each height once) and rebuilt in one key order, the
 * order of its fingerprint: `{ladder, segmentSeconds, audioOnly}`, each rung `{height, videoKbps}`.
 */
export function hlsOptionsOf(h: HlsOptions, name: string): HlsOptions {
  const o: HlsOptions = {};
  const ladder = h.ladder?.map((r) => ({ height: r.height, videoKbps: r.videoKbps }));
  ladder?.forEach((r, i) => {
    if (ladder.findIndex((x) => x.height === r.height) !== i) throw invalidPayload('each height once', `${name}.ladder[${i}].height`, r.height);
  });
  if (ladder) o.ladder = ladder;
  if (h.segmentSeconds !== undefined) o.segmentSeconds = h.segmentSeconds;
  if (h.audioOnly) o.audioOnly = true;
  return o;
}

/**
 * The rungs a source gets, largest first: those no larger than its shorter side (never
 * upscaled), plus one at the source's own size when the source sits well between rungs (at
 * least 1.2× the next rung down) or below the smallest one, so there is always one. Its bit rate
 * is interpolated between the rungs around it (scaled by area below the smallest).
 */
export function clipLadder(src: { width: number; height: number }, ladder: readonly Rung[]): Rung[] {
  const short = Math.min(src.width, src.height);
  const sorted = [...ladder].sort((a, b) => b.height - a.height);
  const fit = sorted.filter((r) => r.height <= short);
  const above = sorted.filter((r) => r.height > short).at(-1);
  const below = fit[0];
  if (above && (!below || short >= below.height * 1.2)) {
    const kbps = below
      ? below.videoKbps + ((above.videoKbps - below.videoKbps) * (short - below.height)) / (above.height - below.height)
      : (above.videoKbps * short * short) / (above.height * above.height);
    fit.unshift({ height: short, videoKbps: Math.max(32, Math.round(kbps)) });
  }
  return fit;
}

const audioKbps = (height: number | undefined): number => (height === undefined || height < 480 ? 64 : 128);

/** One planned variant: its name in the folder and its expected size. */
export interface PlannedVariant {
  name: string;
  width?: number;
  height?: number;
}

/**
 * The ffmpeg command for the whole ladder, writing into `folder`: split + scale per rung, one
 * x264 encode per rung with keyframes at the same frames in every rung (fixed GOP of fps ×
 * segment seconds, no scene-cut keyframes, a keyframe forced at each segment boundary), so a
 * player can switch between variants at any segment; the hls muxer writes each variant's
 * playlist and segments and the master playlist (BANDWIDTH, RESOLUTION, CODECS).
 * `scaleFor` is transcode.ts's never-upscaling scale rule, shared.
 */
export function hlsRun(
  bin: Binaries,
  opts: HlsOptions,
  src: MediaProbe,
  input: string,
  folder: string,
  scaleFor: (src: MediaProbe, bound: number) => { filter?: string; width: number; height: number },
): { spec: FfmpegCommandSpec; variants: PlannedVariant[] } {
  const seconds = opts.segmentSeconds ?? DEFAULT_SEGMENT_SECONDS;
  const rungs = clipLadder({ width: src.width!, height: src.height! }, opts.ladder ?? DEFAULT_LADDER);
  const hasAudio = src.audioCodec !== undefined;
  const gop = Math.max(1, Math.round((src.fps ?? 30) * seconds));
  const maps: string[] = [];
  const rates: string[] = [];
  const streamMap: string[] = [];
  const variants: PlannedVariant[] = [];
  let audioIndex = 0;
  const addAudio = (kbps: number): number => {
    maps.push('-map', '0:a:0');
    rates.push(`-b:a:${audioIndex}`, `${kbps}k`);
    return audioIndex++;
  };
  const sized = rungs.map((r) => ({ rung: r, scale: scaleFor(src, r.height) }));
  // Two rungs that come out the same size (heights 241 and 240 both give 240) are made once.
  const distinct = sized.filter((x, i) => sized.findIndex((y) => y.scale.height === x.scale.height) === i);
  const graph: string[] = [`[0:v:0]split=${distinct.length}${distinct.map((_, i) => `[s${i}]`).join('')}`];
  distinct.forEach(({ rung: r, scale }, i) => {
    graph.push(`[s${i}]${scale.filter ?? 'null'}[v${i}]`);
    maps.push('-map', `[v${i}]`);
    // Capped VBR: the rung's rate on average, peaks at 1.1× within 2 s of buffer; BANDWIDTH
    // in the master playlist comes from these.
    rates.push(`-b:v:${i}`, `${r.videoKbps}k`, `-maxrate:v:${i}`, `${Math.round(r.videoKbps * 1.1)}k`, `-bufsize:v:${i}`, `${r.videoKbps * 2}k`);
    const name = `${Math.min(scale.width, scale.height)}p`;
    const a = hasAudio ? `,a:${addAudio(audioKbps(r.height))}` : '';
    streamMap.push(`v:${i}${a},name:${name}`);
    variants.push({ name, width: scale.width, height: scale.height });
  });
  if (opts.audioOnly && hasAudio) {
    streamMap.push(`a:${addAudio(audioKbps(undefined))},name:${AUDIO_ONLY}`);
    variants.push({ name: AUDIO_ONLY });
  }
  const args = [
    '-filter_complex',
    graph.join(';'),
    ...maps,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-g',
    String(gop),
    '-keyint_min',
    String(gop),
    '-sc_threshold',
    '0',
    '-force_key_frames',
    `expr:gte(t,n_forced*${seconds})`,
    ...rates,
    ...(hasAudio ? ['-c:a', 'aac', ...((src.audioChannels ?? 2) > 2 ? ['-ac', '2'] : [])] : ['-an']),
    '-sn',
    '-dn',
    '-map_metadata',
    '-1',
    '-map_chapters',
    '-1',
    '-f',
    'hls',
    '-hls_time',
    String(seconds),
    '-hls_playlist_type',
    'vod',
    '-hls_segment_type',
    'mpegts',
    '-hls_segment_filename',
    path.join(folder, '%v-%03d.ts'),
    '-master_pl_name',
    MASTER_PLAYLIST,
    '-var_stream_map',
    streamMap.join(' '),
  ];
  return {
    spec: { input, inputArgs: [...globalArgs(bin), ...INPUT_HARDENING, '-f', demuxerOf(src.format)], args, output: path.join(folder, '%v.m3u8') },
    variants,
  };
}

/**
 * What ffmpeg wrote in `folder`: each planned variant with the BANDWIDTH the master playlist
 * gives it (paths under `shownFolder`), the number of segments and their total size.
 */
export async function readHls(
  folder: string,
  shownFolder: string,
  planned: readonly PlannedVariant[],
): Promise<{ variants: HlsVariant[]; segments: number; bytes: number }> {
  const master = await readFile(path.join(folder, MASTER_PLAYLIST), 'utf8');
  const bandwidth = new Map<string, number>();
  const lines = master.split('\n').map((l) => l.trim());
  lines.forEach((l, i) => {
    const bw = /^#EXT-X-STREAM-INF:.*\bBANDWIDTH=(\d+)/.exec(l);
    const uri = lines.slice(i + 1).find((x) => x !== '' && !x.startsWith('#'));
    if (bw && uri) bandwidth.set(uri, Number(bw[1]));
  });
  let segments = 0;
  let bytes = 0;
  for (const name of await readdir(folder)) {
    if (name.endsWith('.ts')) segments++;
    bytes += (await stat(path.join(folder, name))).size;
  }
  const variants = planned.map((v) => ({
    path: path.join(shownFolder, `${v.name}.m3u8`),
    ...(v.width !== undefined ? { width: v.width, height: v.height! } : {}),
    bandwidth: bandwidth.get(`${v.name}.m3u8`) ?? 0,
  }));
  return { variants, segments, bytes };
}
