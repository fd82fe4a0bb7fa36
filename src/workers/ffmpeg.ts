// The one module that knows how ffmpeg is run. fluent-ffmpeg (unmaintained upstream) runs the
// encodes and parses their progress; ffprobe is called directly, so its input can be held to the
// same local-files-only protocol whitelist. Replacing fluent-ffmpeg means rewriting runFfmpeg().

import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { gtError } from '../errors.js';
import type { WorkerSettings } from './types.js';

export interface MediaProbe {
  format: string;
  durationSeconds: number;
  width?: number;
  height?: number;
  videoCodec?: string;
  audioCodec?: string;
  fps?: number;
  bitrate?: number;
}

/** Inputs may only be local files: a crafted playlist cannot make ffmpeg fetch a URL. */
export const INPUT_WHITELIST = ['-protocol_whitelist', 'file'];

async function onPath(cmd: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

async function fromPackage(pkg: string): Promise<string | undefined> {
  try {
    const mod = (await import(pkg)) as { default?: { path?: string }; path?: string };
    return mod.default?.path ?? mod.path;
  } catch {
    return undefined;
  }
}

const located = new Map<string, Promise<string>>();

/** ffmpeg or ffprobe: the configured path, else PATH, else the optional npm package; once per process. */
export function binary(name: 'ffmpeg' | 'ffprobe', settings: WorkerSettings): Promise<string> {
  const configured = name === 'ffmpeg' ? settings.transcode?.ffmpegPath : settings.transcode?.ffprobePath;
  const key = `${name}:${configured ?? ''}`;
  let p = located.get(key);
  if (!p) {
    p = (async () => {
      const found = configured ?? (await onPath(name)) ?? (await fromPackage(name === 'ffmpeg' ? '@ffmpeg-installer/ffmpeg' : '@ffprobe-installer/ffprobe'));
      if (!found) throw gtError('GT_FFMPEG_NOT_FOUND', name);
      return found;
    })();
    located.set(key, p);
    p.catch(() => located.delete(key));
  }
  return p;
}

/**
 * fluent-ffmpeg asks ffmpeg for its formats and encoders before a process's first command and
 * caches the answer; that took 0.35 s on the first job (DESIGN.md). Asking once when the worker
 * starts takes it off the job's path.
 */
export async function warmUp(settings: WorkerSettings): Promise<void> {
  ffmpeg.setFfmpegPath(await binary('ffmpeg', settings));
  await new Promise<void>((resolve) => ffmpeg.getAvailableFormats(() => ffmpeg.getAvailableEncoders(() => resolve())));
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** ffprobe a local file; GT_MEDIA_INVALID naming it when ffprobe cannot read it. */
export async function probeMedia(file: string, signal: AbortSignal, settings: WorkerSettings): Promise<MediaProbe> {
  const bin = await binary('ffprobe', settings);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(bin, ['-v', 'error', ...INPUT_WHITELIST, '-print_format', 'json', '-show_format', '-show_streams', file], { signal, maxBuffer: 16 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(gtError('GT_MEDIA_INVALID', file, 'video or audio file', (stderr.trim().split('\n').pop() ?? err.message).replace(`${file}: `, '')));
      else resolve(stdout);
    });
  });
  const data = JSON.parse(out) as { format?: Record<string, unknown>; streams?: Record<string, unknown>[] };
  // A still image read by ffprobe's image demuxers, cover art, or a stream without a size is not video.
  const still = /^(image2|.*_pipe)$/.test(String(data.format?.format_name ?? ''));
  const video = still
    ? undefined
    : data.streams?.find((s) => s.codec_type === 'video' && (s.disposition as { attached_pic?: number } | undefined)?.attached_pic !== 1 && (num(s.width) ?? 0) > 0);
  const audio = data.streams?.find((s) => s.codec_type === 'audio');
  const duration = num(data.format?.duration) ?? num(video?.duration) ?? num(audio?.duration);
  if (duration === undefined || duration <= 0 || (!video && !audio)) throw gtError('GT_MEDIA_INVALID', file, 'video or audio file', 'no video or audio stream with a duration');
  const [fn, fd] = String(video?.avg_frame_rate ?? '0/1').split('/').map(Number);
  return {
    format: String(data.format?.format_name ?? 'unknown'),
    durationSeconds: duration,
    ...(video ? { width: num(video.width), height: num(video.height), videoCodec: String(video.codec_name), ...(fd ? { fps: Math.round((fn! / fd) * 100) / 100 } : {}) } : {}),
    ...(audio ? { audioCodec: String(audio.codec_name) } : {}),
    ...(num(data.format?.bit_rate) !== undefined ? { bitrate: num(data.format?.bit_rate) } : {}),
  };
}

export interface FfmpegRun {
  input: string;
  /** Options before -i (seeking for a poster). */
  inputOptions?: string[];
  output: string;
  outputOptions: string[];
  /** The input's duration, for progress. */
  durationMs: number;
  onProgress?(doneMs: number, totalMs: number): void;
  signal: AbortSignal;
  timeoutMs: number;
  /** The input as named in error messages. */
  label: string;
}

/** The whole argument list of a run, as ffmpeg gets it (the benchmark runs the same). */
export function ffmpegArgs(r: Pick<FfmpegRun, 'input' | 'inputOptions' | 'output' | 'outputOptions'>): string[] {
  return ['-y', ...INPUT_WHITELIST, ...(r.inputOptions ?? []), '-i', r.input, ...r.outputOptions, r.output];
}

const timemarkMs = (t: string): number => {
  const [h, m, s] = t.split(':').map(Number);
  return ((h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0)) * 1000;
};

/** Run one encode; kills ffmpeg on timeout or abort (SIGTERM, then SIGKILL after 2 s). */
export async function runFfmpeg(r: FfmpegRun, settings: WorkerSettings): Promise<void> {
  ffmpeg.setFfmpegPath(await binary('ffmpeg', settings));
  if (r.signal.aborted) throw r.signal.reason;
  await new Promise<void>((resolve, reject) => {
    const cmd = ffmpeg(r.input)
      .inputOptions([...INPUT_WHITELIST, ...(r.inputOptions ?? [])])
      .outputOptions(r.outputOptions)
      .output(r.output);
    let lastLine = '';
    let why: Error | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    const stop = (err: Error): void => {
      if (why) return;
      why = err;
      cmd.kill('SIGTERM');
      killTimer = setTimeout(() => cmd.kill('SIGKILL'), 2000);
    };
    const timer = setTimeout(() => stop(gtError('GT_FFMPEG_FAILED', r.label, `killed after the ${r.timeoutMs} ms timeout`)), r.timeoutMs);
    const onAbort = (): void => stop(r.signal.reason instanceof Error ? r.signal.reason : new Error('aborted'));
    r.signal.addEventListener('abort', onAbort, { once: true });
    const done = (err?: Error): void => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      r.signal.removeEventListener('abort', onAbort);
      if (why) reject(why);
      else if (err) reject(gtError('GT_FFMPEG_FAILED', r.label, lastLine || err.message.split('\n')[0]!));
      else resolve();
    };
    cmd.on('stderr', (line: string) => {
      // The last line that says what went wrong, not the progress chatter.
      if (!/^\s*(frame=|size=|Press|\[.*\] (frame|size)=)/.test(line) && line.trim()) lastLine = line.trim();
    });
    cmd.on('progress', (p: { timemark?: string }) => {
      if (p.timemark && r.onProgress) r.onProgress(Math.min(r.durationMs, timemarkMs(p.timemark)), r.durationMs);
    });
    cmd.on('error', (err: Error) => done(err));
    cmd.on('end', () => done());
    cmd.run();
  });
}
