// `transcode` {input, outDir, profiles, poster?, name?} → {input, durationSeconds, probe, outputs,
// poster?}: web renditions of one video (H.264/AAC MP4, VP9/Opus WebM, AAC or Opus audio) and a
// poster frame. The input is probed first (a bad file fails before any encode); one ffmpeg run
// per output, each written atomically (renditions one after another, the poster beside them);
// progress goes out as WORK_STATUS while ffmpeg runs;
// outputs already made from the same input and options are not made again.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type GeartrainError, gtError, invalidPayload } from '../errors.js';
import { checker } from '../schema/check.js';
import type {
  FileProfile,
  MediaProbe,
  PosterFormat,
  PosterOptions,
  PosterOutput,
  Profile,
  StoryboardFormat,
  StoryboardOptions,
  StoryboardOutput,
  TranscodeOutput,
  TranscodeResult,
} from '../schema/payloads/transcode.js';
import * as schema from '../schema/payloads/transcode.js';
import { fingerprint } from '../shared/fingerprint.js';
import { type Binaries, demuxerOf, type FfmpegCommandSpec, globalArgs, INPUT_HARDENING, locate, probe as probeFile, runFfmpeg } from './ffmpeg.js';
import { type OutputFolder, withJobFiles } from './files.js';
import { hlsOptionsOf, hlsRun, MASTER_PLAYLIST, readHls } from './hls.js';
import { AllowedPaths, type InputFile } from './paths.js';
import { storyboardLayout, storyboardOptionsOf, storyboardRun, storyboardVtt } from './storyboard.js';
import type { DomainWorker, DomainWorkerFactory, JobContext } from './types.js';

export type {
  FileProfile,
  PosterFormat,
  PosterOptions,
  PosterOutput,
  Profile,
  StoryboardOutput,
  TranscodeOutput,
  TranscodeResult,
} from '../schema/payloads/transcode.js';
export { FILE_PROFILES, POSTER_FORMATS, PROFILES } from '../schema/payloads/transcode.js';

/** The payload as parse() returns it: `poster: true` and `storyboard: true` read as their defaults, formats filled in. */
export type TranscodeJob = Omit<schema.TranscodePayload, 'poster' | 'storyboard'> & {
  poster?: PosterOptions & { format: PosterFormat };
  storyboard?: StoryboardOptions & { format: StoryboardFormat };
};

/** Bump when the ffmpeg arguments change, so outputs made with the old ones are made again. */
const RECIPE = 2;
/** Poster time when the payload gives none (then capped at half the duration). */
export const DEFAULT_POSTER_AT = 1;
/** Poster width when the payload gives none (never wider than the source). */
export const DEFAULT_POSTER_WIDTH = 1280;
/** The worker's own timeout fires first (clean output folder, coded error); the Worker's is a backstop. */
const BACKSTOP_MS = 10_000;

// Measured on 2 cores, a 10 s 1280×720 30 fps clip → 480p: x264 veryfast 2.5 s, medium
// 5.8 s (files within 15% of each other on this clip); VP9 720p: realtime/cpu-used 8 about 3-4 s,
// good/cpu-used 5 about 20 s. A job server shares its cores, so the fast presets; CRF keeps the
// quality constant and lets the bit rate follow the content.
const X264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p'];
const VP9 = ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-crf', '36', '-b:v', '0', '-pix_fmt', 'yuv420p'];

interface ProfileSpec {
  /** `NAME-<suffix>.<ext>` */
  suffix: string;
  ext: string;
  /** Largest shorter side (height of a landscape video); absent: audio only. */
  height?: number;
  video?: readonly string[];
  audio: readonly [codec: string, bitrate: string];
  /** Muxer options: `-f` set explicitly (the temp file's name must not decide it). */
  mux: readonly string[];
}

const MP4 = ['-movflags', '+faststart', '-f', 'mp4'];
export const PROFILE_SPECS: Record<FileProfile, ProfileSpec> = {
  'mp4-1080p': { suffix: '1080p', ext: 'mp4', height: 1080, video: X264, audio: ['aac', '128k'], mux: MP4 },
  'mp4-720p': { suffix: '720p', ext: 'mp4', height: 720, video: X264, audio: ['aac', '128k'], mux: MP4 },
  'mp4-480p': { suffix: '480p', ext: 'mp4', height: 480, video: X264, audio: ['aac', '96k'], mux: MP4 },
  'mp4-240p': { suffix: '240p', ext: 'mp4', height: 240, video: X264, audio: ['aac', '64k'], mux: MP4 },
  'webm-720p': { suffix: '720p', ext: 'webm', height: 720, video: VP9, audio: ['libopus', '96k'], mux: ['-f', 'webm'] },
  'audio-m4a': { suffix: 'audio', ext: 'm4a', audio: ['aac', '128k'], mux: ['-movflags', '+faststart', '-f', 'ipod'] },
  'audio-opus': { suffix: 'audio', ext: 'opus', audio: ['libopus', '96k'], mux: ['-f', 'opus'] },
};

const even = (n: number): number => Math.max(2, Math.floor(n / 2) * 2);

/** The storyboard's two files: `clip-storyboard.jpg` (or `.webp`) and `clip-storyboard.vtt`. */
export function storyboardNames(base: string, format: StoryboardFormat): { sprite: string; vtt: string } {
  return { sprite: `${base}-storyboard.${format === 'jpeg' ? 'jpg' : 'webp'}`, vtt: `${base}-storyboard.vtt` };
}

/** `clip-720p.mp4`, `clip-audio.m4a`, `clip-poster.jpg`, `clip-hls` (a folder) */
export function outputName(base: string, profile: Profile | 'poster', posterFormat: PosterFormat = 'jpeg'): string {
  if (profile === 'poster') return `${base}-poster.${posterFormat === 'jpeg' ? 'jpg' : 'webp'}`;
  if (profile === 'hls') return `${base}-hls`;
  const s = PROFILE_SPECS[profile];
  return `${base}-${s.suffix}.${s.ext}`;
}

/**
 * The scale filter for a profile, or none when the source already fits. Never upscaled: the
 * profile bounds the shorter side (height of a landscape video, width of a portrait one) and a
 * smaller source keeps its own size, made even for 4:2:0 (a 360p source asked for 720p gives
 * 640×360). `-2` keeps the aspect ratio with an even other side.
 */
export function scaleFor(src: MediaProbe, bound: number): { filter?: string; width: number; height: number } {
  const w = src.width!;
  const h = src.height!;
  const portrait = h > w;
  const short = even(Math.min(bound, portrait ? w : h));
  if (short === (portrait ? w : h) && w % 2 === 0 && h % 2 === 0) return { width: w, height: h };
  // ffmpeg's -2: the other side rounded to the nearest multiple of 2.
  const other = Math.max(2, Math.round(((portrait ? h : w) * short) / (portrait ? w : h) / 2) * 2);
  return portrait ? { filter: `scale=${short}:-2`, width: short, height: other } : { filter: `scale=-2:${short}`, width: other, height: short };
}

/** One ffmpeg run of a job: the command (output is the final path) and what it is for. */
export interface PlannedRun {
  profile: Profile | 'poster';
  spec: FfmpegCommandSpec;
  /** Expected output size (ffmpeg's own report wins when it gives one). */
  width?: number;
  height?: number;
  /** Poster only: the time of the frame. */
  atSeconds?: number;
}

/**
 * `-f DEMUXER`: ffmpeg reads the input with the demuxer the probe found and checked, not with
 * whatever it detects when it opens the file again (the bytes may have changed meanwhile).
 */
function demuxerArgs(src: MediaProbe): string[] {
  return ['-f', demuxerOf(src.format)];
}

/** The ffmpeg command for one profile. The benchmark runs exactly these arguments. */
export function profileRun(bin: Binaries, profile: FileProfile, src: MediaProbe, input: string, output: string): PlannedRun {
  const s = PROFILE_SPECS[profile];
  const out: string[] = [];
  let dims: { width?: number; height?: number } = {};
  if (s.height !== undefined) {
    const scale = scaleFor(src, s.height);
    dims = { width: scale.width, height: scale.height };
    out.push('-map', '0:v:0', ...(src.audioCodec ? ['-map', '0:a:0'] : []));
    if (scale.filter) out.push('-vf', scale.filter);
    out.push(...s.video!);
  } else {
    out.push('-map', '0:a:0', '-vn');
  }
  if (src.audioCodec) out.push('-c:a', s.audio[0], '-b:a', s.audio[1], ...((src.audioChannels ?? 2) > 2 ? ['-ac', '2'] : []));
  else out.push('-an');
  // Metadata (a phone's GPS position, its name) is not copied; chapters neither.
  out.push('-sn', '-dn', '-map_metadata', '-1', '-map_chapters', '-1', ...s.mux);
  return { profile, spec: { input, inputArgs: [...globalArgs(bin), ...INPUT_HARDENING, ...demuxerArgs(src)], args: out, output }, ...dims };
}

/** The ffmpeg command for the poster: one frame at min(atSeconds, duration / 2). */
export function posterRun(bin: Binaries, p: PosterOptions, src: MediaProbe, input: string, output: string): PlannedRun {
  const at = Math.max(0, Math.min(p.atSeconds ?? DEFAULT_POSTER_AT, src.durationSeconds / 2));
  const width = Math.min(p.width ?? DEFAULT_POSTER_WIDTH, src.width!);
  const height = Math.max(2, Math.round((src.height! * width) / src.width! / 2) * 2);
  const codec = p.format === 'webp' ? ['-c:v', 'libwebp', '-quality', '80'] : ['-c:v', 'mjpeg', '-q:v', '3'];
  const args = [
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    ...(width !== src.width ? ['-vf', `scale=${width}:-2`] : []),
    '-an',
    '-sn',
    '-dn',
    '-map_metadata',
    '-1',
    ...codec,
    '-update',
    '1',
    '-f',
    'image2',
  ];
  // -ss before -i: a keyframe seek, then decoding up to the exact time (not a decode from 0).
  const inputArgs = [...globalArgs(bin), ...INPUT_HARDENING, ...demuxerArgs(src), '-ss', at.toFixed(3)];
  return {
    profile: 'poster',
    spec: { input, inputArgs, args, output },
    width,
    height: width === src.width ? src.height! : height,
    atSeconds: Math.round(at * 1000) / 1000,
  };
}

function checkSource(file: string, src: MediaProbe, p: TranscodeJob): void {
  const invalid = (why: string): GeartrainError => gtError('GT_MEDIA_INVALID', file, 'video or audio file', why);
  const needsVideo =
    p.profiles.find((x) => x === 'hls' || PROFILE_SPECS[x].height !== undefined) ?? (p.poster ? 'poster' : p.storyboard ? 'storyboard' : undefined);
  if (needsVideo && (!src.videoCodec || !src.width || !src.height)) throw invalid(`no video stream for ${needsVideo}`);
  const needsAudio = p.profiles.find((x) => x !== 'hls' && PROFILE_SPECS[x].height === undefined);
  if (needsAudio && !src.audioCodec) throw invalid(`no audio stream for ${needsAudio}`);
}

const check = checker(schema.TranscodePayload, 'transcode');

/**
 * Check a transcode payload and read its options. Poster, storyboard and hls options are rebuilt
 * in one key order, the order of their fingerprints, whatever order the caller sent.
 */
export function parseTranscode(raw: unknown): TranscodeJob {
  const { poster, storyboard, hls, ...rest } = check.parse(raw);
  const p: TranscodeJob = rest;
  p.profiles.forEach((x, i) => {
    if (p.profiles.indexOf(x) !== i) throw invalidPayload('each profile once', `transcode.profiles[${i}]`, x);
  });
  if (poster === true) p.poster = { format: 'jpeg' };
  else if (poster !== undefined && poster !== false) {
    p.poster = {
      format: poster.format ?? 'jpeg',
      ...(poster.atSeconds !== undefined ? { atSeconds: poster.atSeconds } : {}),
      ...(poster.width !== undefined ? { width: poster.width } : {}),
    };
  }
  const board = storyboardOptionsOf(storyboard);
  if (board) p.storyboard = board;
  if (hls) {
    if (!p.profiles.includes('hls')) throw invalidPayload("absent unless profiles holds 'hls'", 'transcode.hls', hls);
    p.hls = hlsOptionsOf(hls, 'transcode.hls');
  }
  if (p.profiles.length === 0 && !p.poster && !p.storyboard)
    throw invalidPayload('at least one profile, a poster or a storyboard', 'transcode.profiles', p.profiles);
  return p;
}

interface Slot {
  profile: Profile | 'poster' | 'storyboard';
  /** The output's file name in the output folder. */
  name: string;
  key: string;
}

/** What the record keeps beside an output: its result entry and the source's probe. */
interface MadeRecord {
  output: TranscodeOutput | PosterOutput | StoryboardOutput;
  probe: MediaProbe;
}

export const transcodeWorker: DomainWorkerFactory = (settings, log): DomainWorker<TranscodeJob, TranscodeResult> => {
  const timeoutMs = settings.transcode?.timeoutMs ?? 3_600_000;
  // Find the binaries while the worker connects (one `ffmpeg -version`), not on the first job;
  // a failure here is reported again, with its code, by the job that needs ffmpeg.
  locate(settings.transcode).catch((err: Error) => log.warn({ err: err.message }, 'ffmpeg not found'));
  const allowed = new AllowedPaths(settings.allowPaths);
  return {
    name: 'transcode',
    timeoutMs: timeoutMs + BACKSTOP_MS,
    parse: parseTranscode,
    run: (p, ctx) => withJobFiles(allowed, p, undefined, (input, out) => make(p, input, out, ctx)),
  };

  async function make(p: TranscodeJob, input: InputFile, out: OutputFolder, ctx: JobContext): Promise<TranscodeResult> {
    const base = p.name ?? path.basename(p.input, path.extname(p.input));
    const slots: Slot[] = [
      ...(p.poster ? [{ profile: 'poster' as const, name: outputName(base, 'poster', p.poster.format), key: fingerprint({ RECIPE, poster: p.poster }) }] : []),
      ...(p.storyboard
        ? [{ profile: 'storyboard' as const, name: storyboardNames(base, p.storyboard.format).vtt, key: fingerprint({ RECIPE, storyboard: p.storyboard }) }]
        : []),
      ...p.profiles.map((profile) => ({
        profile,
        name: outputName(base, profile),
        key: fingerprint(profile === 'hls' ? { RECIPE, profile, hls: p.hls ?? {} } : { RECIPE, profile }),
      })),
    ];
    const made = new Map<Slot, TranscodeOutput | PosterOutput | StoryboardOutput>();
    let src: MediaProbe | undefined;
    for (const s of slots) {
      const fresh = await out.fresh<MadeRecord>(s.name, input, s.key);
      const sheet = s.profile === 'storyboard' && fresh ? path.basename((fresh.output as StoryboardOutput).path) : undefined;
      if (fresh && (sheet === undefined || (await out.fresh(sheet, input, s.key)))) {
        made.set(s, { ...fresh.output, skipped: true });
        src = fresh.probe;
      }
    }
    const todo = slots.filter((s) => !made.has(s));

    if (todo.length > 0) {
      // One deadline for the whole job (probe and every run); its reason is the job's error.
      const job = new AbortController();
      const timer = setTimeout(() => job.abort(gtError('GT_FFMPEG_FAILED', p.input, `killed after the ${timeoutMs} ms timeout`)), timeoutMs);
      const onAbort = (): void => job.abort(ctx.signal.reason);
      if (ctx.signal.aborted) onAbort();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const bin = await locate(settings.transcode);
        const source = (src = await probeFile(bin, input.use, job.signal, { label: p.input }));
        checkSource(p.input, source, p);
        const per = Math.max(1, Math.round(source.durationSeconds * 1000));
        const total = per * todo.length;
        const done = todo.map(() => 0);
        let sent = -1;
        const progress = (): void => {
          const sum = done.reduce((a, b) => a + b, 0);
          if (sum > sent) ctx.progress((sent = sum), total);
        };
        progress();
        const onProgress =
          (i: number) =>
          (doneMs: number): void => {
            done[i] = doneMs;
            progress();
          };
        // The ladder is one ffmpeg run writing a folder: ffmpeg's time= covers every variant.
        const runHls = async (i: number, s: Slot): Promise<TranscodeOutput> => {
          const folder = out.file(s.name);
          let read: Awaited<ReturnType<typeof readHls>> | undefined;
          let variants: ReturnType<typeof hlsRun>['variants'] = [];
          let seconds: number | undefined;
          await out.writeFolder(
            s.name,
            async (tmp) => {
              const planned = hlsRun(bin, p.hls ?? {}, source, input.use, tmp, scaleFor);
              variants = planned.variants;
              seconds = (await runFfmpeg(bin, { ...planned.spec, label: p.input, signal: job.signal, totalMs: per, onProgress: onProgress(i) })).seconds;
              read = await readHls(tmp, folder, variants);
            },
            job.signal,
          );
          const top = read!.variants.find((v) => v.width !== undefined);
          return {
            profile: 'hls',
            path: path.join(folder, MASTER_PLAYLIST),
            ...(top ? { width: top.width!, height: top.height! } : {}),
            bytes: read!.bytes,
            durationSeconds: Math.round((seconds ?? source.durationSeconds) * 1000) / 1000,
            variants: read!.variants,
            segments: read!.segments,
          };
        };
        // One pass makes the sheet (select + scale + tile); the cues follow from its layout.
        const runStoryboard = async (i: number, s: Slot, base: string): Promise<StoryboardOutput> => {
          const o = p.storyboard!;
          const names = storyboardNames(base, o.format);
          const layout = storyboardLayout(source, o, 'transcode.storyboard');
          const sheet = await out.write(
            names.sprite,
            async (tmp) => {
              await runFfmpeg(bin, {
                ...storyboardRun(bin, o, layout, source, input.use, tmp),
                label: p.input,
                signal: job.signal,
                totalMs: per,
                onProgress: onProgress(i),
              });
            },
            job.signal,
          );
          await out.write(s.name, (tmp) => writeFile(tmp, storyboardVtt(layout, names.sprite, source.durationSeconds)), job.signal);
          return { path: out.file(names.sprite), vtt: out.file(s.name), format: o.format, ...layout, bytes: sheet.size };
        };
        const runSlot = async (i: number): Promise<void> => {
          const s = todo[i]!;
          if (s.profile === 'storyboard') {
            const output = await runStoryboard(i, s, base);
            // The record is the cues' (written last); the sheet gets one too, so either file changed is made again.
            await out.record(path.basename(output.path), input, s.key, { output, probe: source } satisfies MadeRecord, job.signal);
            await out.record(s.name, input, s.key, { output, probe: source } satisfies MadeRecord, job.signal);
            made.set(s, output);
            done[i] = per;
            return progress();
          }
          if (s.profile === 'hls') {
            const output = await runHls(i, s);
            await out.record(s.name, input, s.key, { output, probe: source } satisfies MadeRecord, job.signal);
            made.set(s, output);
            done[i] = per;
            return progress();
          }
          const planned =
            s.profile === 'poster'
              ? posterRun(bin, p.poster!, source, input.use, out.file(s.name))
              : profileRun(bin, s.profile, source, input.use, out.file(s.name));
          let report: Awaited<ReturnType<typeof runFfmpeg>> = {};
          const written = await out.write(
            s.name,
            async (tmp) => {
              report = await runFfmpeg(bin, {
                ...planned.spec,
                output: tmp,
                label: p.input,
                signal: job.signal,
                totalMs: per,
                onProgress: onProgress(i),
              });
            },
            job.signal,
          );
          const bytes = written.size;
          const final = out.file(s.name);
          const width = report.width ?? planned.width;
          const height = report.height ?? planned.height;
          const output: TranscodeOutput | PosterOutput =
            s.profile === 'poster'
              ? { path: final, width: width!, height: height!, format: p.poster!.format, atSeconds: planned.atSeconds!, bytes }
              : {
                  profile: s.profile,
                  path: final,
                  ...(width !== undefined ? { width, height: height! } : {}),
                  bytes,
                  durationSeconds: Math.round((report.seconds ?? source.durationSeconds) * 1000) / 1000,
                };
          await out.record(s.name, input, s.key, { output, probe: source } satisfies MadeRecord, job.signal);
          made.set(s, output);
          done[i] = per;
          progress();
        };
        // The poster (one frame, one core) is made while the renditions encode, one after
        // another: x264 and libvpx already use every core, and the poster then costs the job
        // little wall time. bench/transcode.ts (480p + poster of a 10 s 720p clip, 2 cores,
        // 5 runs): 0.96× the same two commands run one after the other, 1.06× with the poster
        // made after the renditions.
        const renditions = async (): Promise<void> => {
          for (const [i, s] of todo.entries()) if (s.profile !== 'poster') await runSlot(i);
        };
        const posterAt = todo.findIndex((s) => s.profile === 'poster');
        const runs = [renditions(), ...(posterAt >= 0 ? [runSlot(posterAt)] : [])];
        // The first failure ends the job: the other run is stopped (its output never reaches
        // its final path), and the job fails with that first error.
        const failed = runs.map((r) =>
          r.catch((err: unknown) => {
            if (!job.signal.aborted) job.abort(err);
            throw err;
          }),
        );
        const outcome = await Promise.allSettled(failed);
        const first = outcome.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        if (first) throw job.signal.reason ?? first.reason;
      } finally {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
      }
    }

    const poster = slots.find((s) => s.profile === 'poster');
    const storyboard = slots.find((s) => s.profile === 'storyboard');
    return {
      input: p.input,
      durationSeconds: src!.durationSeconds,
      probe: src!,
      outputs: slots.filter((s) => s !== poster && s !== storyboard).map((s) => made.get(s) as TranscodeOutput),
      ...(poster ? { poster: made.get(poster) as PosterOutput } : {}),
      ...(storyboard ? { storyboard: made.get(storyboard) as StoryboardOutput } : {}),
    };
  }
};
