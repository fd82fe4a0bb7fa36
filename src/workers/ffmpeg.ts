// The one place geartrain touches ffmpeg: find the binaries once per process, probe a file with
// ffprobe, and run one ffmpeg command (progress, timeout, abort, the last useful stderr line).
// fluent-ffmpeg (unmaintained upstream, final release 2.1.3) runs ffmpeg; everything else sees only
// probe() and runFfmpeg(), so replacing it touches this file alone. pcm.ts, which reads decoded
// audio from ffmpeg's stdout, starts it with the binaries, launcher and input options found here.

import { execFile } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type FfmpegNs from 'fluent-ffmpeg';
import { GeartrainError, gtError } from '../errors.js';
import type { MediaProbe } from '../schema/payloads/transcode.js';
import type { WorkerSettings } from './types.js';

/**
 * fluent-ffmpeg, loaded with the first run: a process without video jobs never loads it
 * (imported at start, it added about 30 ms to every run of the CLI).
 */
let fluent: typeof FfmpegNs | null = null;
function ffmpegCommand(opts: FfmpegNs.FfmpegCommandOptions): FfmpegNs.FfmpegCommand {
  fluent ??= createRequire(import.meta.url)('fluent-ffmpeg') as typeof FfmpegNs;
  return fluent(opts);
}

/** SIGTERM lets ffmpeg close its output; after this long it gets SIGKILL. */
export const KILL_GRACE_MS = 2000;

/**
 * Status lines every 0.25 s instead of ffmpeg's 0.5 s, so a short job still reports progress
 * while it runs. `-stats_period` exists from ffmpeg 4.4 (the 2018 build in @ffmpeg-installer
 * refuses it), hence `Binaries.statsPeriod`.
 */
const STATS_PERIOD = '0.25';

/** The ffmpeg and ffprobe a process uses, found once (locate()). */
export interface Binaries {
  ffmpeg: string;
  ffprobe: string;
  /** `ffmpeg version …` as the binary reports it. */
  version: string;
  /** The binary understands `-stats_period` (ffmpeg ≥ 4.4). */
  statsPeriod: boolean;
  /**
   * What ffmpeg and ffprobe are started under: `setpriv --pdeathsig KILL --` when util-linux's
   * setpriv works here, so they are killed with their worker even when it is SIGKILLed (they
   * would otherwise run on, children of init, writing their temp files); else nothing.
   */
  launcher: readonly string[];
}

type TranscodeSettings = NonNullable<WorkerSettings['transcode']>;

const located = new Map<string, Promise<Binaries>>();

/**
 * Find ffmpeg and ffprobe: the settings' paths, else `ffmpeg`/`ffprobe` on PATH, else the binaries
 * shipped in the optional npm packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe,
 * else GT_FFMPEG_NOT_FOUND. Memoised per process (a failure is not, so installing ffmpeg later
 * helps); costs one `ffmpeg -version` (about 80 ms on 2 shared cores), never fluent-ffmpeg's -formats/-encoders.
 */
export function locate(settings: TranscodeSettings = {}): Promise<Binaries> {
  const key = `${settings.ffmpegPath ?? ''}\0${settings.ffprobePath ?? ''}`;
  let found = located.get(key);
  if (!found) {
    found = find(settings);
    located.set(key, found);
    found.catch(() => located.delete(key));
  }
  return found;
}

async function find(settings: TranscodeSettings): Promise<Binaries> {
  const [ffmpeg, ffprobe] = await Promise.all([
    binary('ffmpeg', settings.ffmpegPath, '@ffmpeg-installer/ffmpeg'),
    binary('ffprobe', settings.ffprobePath, '@ffprobe-installer/ffprobe'),
  ]);
  // `ffmpeg -version` under setpriv first: one run tells that both work.
  const version = (launcher: readonly string[]): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const [file, args] = launch({ launcher }, ffmpeg, ['-hide_banner', '-version']);
      execFile(file, args, { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
  const notWorking = (err: unknown): Error => gtError('GT_FFMPEG_NOT_FOUND', `working ffmpeg at ${ffmpeg} (${(err as Error).message.split('\n')[0]})`);
  let launcher = await deathSignalLauncher();
  let out: string;
  try {
    out = await version(launcher);
  } catch (err) {
    if (launcher.length === 0) throw notWorking(err);
    launcher = [];
    out = await version(launcher).catch((err2: unknown) => Promise.reject(notWorking(err2)));
  }
  const line = out.split('\n', 1)[0]!.trim();
  const m = /^ffmpeg version n?(\d+)\.(\d+)/.exec(line);
  const statsPeriod = m !== null && (Number(m[1]) > 4 || (Number(m[1]) === 4 && Number(m[2]) >= 4));
  return { ffmpeg, ffprobe, version: line, statsPeriod, launcher };
}

/** `setpriv --pdeathsig KILL --` when util-linux's setpriv is on PATH (Linux), else nothing. */
async function deathSignalLauncher(): Promise<string[]> {
  if (process.platform !== 'linux') return [];
  const setpriv = await onPath('setpriv');
  return setpriv === undefined ? [] : [setpriv, '--pdeathsig', 'KILL', '--'];
}

/** `[file, args]` to start `bin` with `args` under the launcher. */
export function launch(bin: Pick<Binaries, 'launcher'>, file: string, args: readonly string[]): [string, string[]] {
  return bin.launcher.length === 0 ? [file, [...args]] : [bin.launcher[0]!, [...bin.launcher.slice(1), file, ...args]];
}

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, fsc.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && (await executable(path.join(dir, name)))) return path.join(dir, name);
  }
  return undefined;
}

async function binary(name: 'ffmpeg' | 'ffprobe', override: string | undefined, npmPackage: string): Promise<string> {
  if (override !== undefined) {
    if (await executable(override)) return override;
    throw gtError('GT_FFMPEG_NOT_FOUND', `${name} at ${override}`);
  }
  const found = await onPath(name);
  if (found !== undefined) return found;
  try {
    // A variable specifier: the packages are optional, so the build must not depend on them.
    const spec: string = npmPackage;
    const mod = (await import(spec)) as { default?: { path?: unknown }; path?: unknown };
    const p = mod.default?.path ?? mod.path;
    if (typeof p === 'string' && (await executable(p))) return p;
  } catch {
    // not installed, or no binary for this platform
  }
  throw gtError('GT_FFMPEG_NOT_FOUND', name);
}

// ---- probe ---------------------------------------------------------------------------------

/** What ffprobe says about a file; dimensions as displayed (rotation applied). */
export type { MediaProbe } from '../schema/payloads/transcode.js';

interface ProbeJson {
  streams?: {
    codec_type?: string;
    codec_name?: string;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    r_frame_rate?: string;
    pix_fmt?: string;
    channels?: number;
    sample_rate?: string;
    duration?: string;
    tags?: { rotate?: string };
    side_data_list?: { rotation?: number }[];
    disposition?: { attached_pic?: number };
  }[];
  format?: { format_name?: string; duration?: string; bit_rate?: string };
}

/**
 * Input options every run gets. `-protocol_whitelist file` (on ffprobe too): whatever the input
 * is — an HLS playlist, an ffconcat list — it may open local files only, never a URL. ffmpeg 5.1
 * already limits nested opens of a local playlist to file,crypto,data; this holds for any build
 * and any demuxer.
 */
export const INPUT_HARDENING = ['-protocol_whitelist', 'file'] as const;

/** ffprobe's names for still images: a JPEG is not a one-frame video. */
const STILL_FORMATS = /^(image2|[a-z0-9]+_pipe)$/;

function rate(r: string | undefined): number | undefined {
  const m = r ? /^(\d+)\/(\d+)$/.exec(r) : null;
  if (!m || Number(m[2]) === 0 || Number(m[1]) === 0) return undefined;
  return Math.round((Number(m[1]) / Number(m[2])) * 1000) / 1000;
}

function num(v: string | number | undefined): number | undefined {
  const n = typeof v === 'number' ? v : v === undefined ? NaN : Number.parseFloat(v);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Demuxers that read other files named inside the input: playlists (`hls`, `dash`), lists
 * (`concat`, which ffconcat files also use; `imf`) and scripts (`avisynth`, `vapoursynth`).
 * `-protocol_whitelist file` keeps them off the network, not away from local files outside the
 * allowed folders, so inputs in these formats are refused, whatever the file is called. Image
 * sequences (`image2`) are refused as still images.
 */
export const REFERENCING_FORMATS = new Set(['hls', 'applehttp', 'dash', 'concat', 'imf', 'avisynth', 'vapoursynth']);

/**
 * The referencing format a file's first bytes announce, if any: found before ffprobe runs,
 * because a demuxer opens what a list names while it reads the header (a list whose first
 * entry cannot be opened makes ffprobe fail without naming its format).
 */
export function listFormatOf(head: Buffer): string | undefined {
  const text = head
    .toString('latin1')
    .replace(/^\uFEFF|^\xEF\xBB\xBF/, '')
    .trimStart();
  if (text.startsWith('#EXTM3U')) return 'hls';
  if (text.startsWith('ffconcat version')) return 'concat';
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<MPD[\s>]/.test(text)) return 'dash';
  if (/<CompositionPlaylist[\s>]/.test(text)) return 'imf';
  return undefined;
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The demuxer of a probed format name (`mov,mp4,m4a,3gp,3g2,mj2` → `mov`): what `-f` takes. */
export function demuxerOf(format: string): string {
  return format.split(',', 1)[0]!;
}

function refusedFormat(file: string, format: string): GeartrainError {
  return gtError('GT_MEDIA_INVALID', file, 'video or audio file', `its format ${format} reads other files (a playlist or list); such inputs are refused`);
}

export interface ProbeOptions {
  /** @defaultValue 60000 */
  timeoutMs?: number;
  /** Names the file in errors. @defaultValue the file */
  label?: string;
}

/**
 * ffprobe one local file. Spawned directly rather than through fluent-ffmpeg, whose ffprobe()
 * keeps the child to itself (it cannot be aborted) and flattens the JSON into INI sections.
 * Throws GT_MEDIA_INVALID naming the file when ffprobe cannot read it, finds no video or audio
 * stream in it (a still image is not a video), or finds a format that reads other files.
 */
export async function probe(bin: Binaries, file: string, signal: AbortSignal, opts: ProbeOptions = {}): Promise<MediaProbe> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const label = opts.label ?? file;
  const listed = listFormatOf(await readHead(file, 4096).catch(() => Buffer.alloc(0)));
  if (listed !== undefined) throw refusedFormat(label, listed);
  const args = ['-v', 'error', ...INPUT_HARDENING, '-print_format', 'json', '-show_format', '-show_streams', file];
  const [cmd, argv] = launch(bin, bin.ffprobe, args);
  const { stdout, stderr, error } = await new Promise<{ stdout: string; stderr: string; error: (Error & { code?: unknown; killed?: boolean }) | null }>(
    (resolve) =>
      execFile(cmd, argv, { signal, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) =>
        resolve({ stdout: String(out), stderr: String(errOut), error: err }),
      ),
  );
  if (signal.aborted) throw signal.reason;
  if (error) {
    if (error.code === 'ENOENT' || error.code === 'EACCES') throw gtError('GT_FFMPEG_NOT_FOUND', `ffprobe at ${bin.ffprobe}`);
    if (error.killed) throw gtError('GT_FFMPEG_FAILED', label, `ffprobe killed after the ${timeoutMs} ms timeout`);
    throw gtError('GT_MEDIA_INVALID', label, 'video or audio file', lastMeaningfulLine(stderr, file) || error.message.split('\n')[0]!);
  }
  let j: ProbeJson;
  try {
    j = JSON.parse(stdout) as ProbeJson;
  } catch {
    throw gtError('GT_MEDIA_INVALID', label, 'video or audio file', 'ffprobe gave no readable answer');
  }
  const streams = j.streams ?? [];
  const format = j.format?.format_name ?? 'unknown';
  const invalid = (why: string): GeartrainError => gtError('GT_MEDIA_INVALID', label, 'video or audio file', why);
  if (REFERENCING_FORMATS.has(demuxerOf(format))) throw refusedFormat(label, format);
  // ffprobe opens any `.jpg` with its image demuxer, even a text file (width 0): not a video.
  if (STILL_FORMATS.test(format)) {
    const w = streams.find((s) => s.codec_type === 'video')?.width ?? 0;
    throw invalid(w > 0 ? `it is a still image (${format})` : lastMeaningfulLine(stderr, file) || 'no video or audio stream');
  }
  // Cover art in an audio file is a "video" stream of one picture: not a video.
  const v = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1 && (s.width ?? 0) > 0);
  const a = streams.find((s) => s.codec_type === 'audio');
  if (!v && !a) throw invalid('no video or audio stream');
  const out: MediaProbe = {
    format,
    durationSeconds: num(j.format?.duration) ?? num(v?.duration) ?? num(a?.duration) ?? 0,
  };
  const bitrate = num(j.format?.bit_rate);
  if (bitrate !== undefined) out.bitrate = Math.round(bitrate);
  if (v) {
    const rotation = num(v.side_data_list?.find((d) => d.rotation !== undefined)?.rotation) ?? num(v.tags?.rotate) ?? 0;
    const turned = Math.abs(rotation) % 180 === 90;
    if (v.width && v.height) {
      out.width = turned ? v.height : v.width;
      out.height = turned ? v.width : v.height;
    }
    if (v.codec_name) out.videoCodec = v.codec_name;
    const fps = rate(v.avg_frame_rate) ?? rate(v.r_frame_rate);
    if (fps !== undefined) out.fps = fps;
    if (rotation !== 0) out.rotation = rotation;
    if (v.pix_fmt) out.pixelFormat = v.pix_fmt;
  }
  if (a) {
    if (a.codec_name) out.audioCodec = a.codec_name;
    if (a.channels) out.audioChannels = a.channels;
    const sr = num(a.sample_rate);
    if (sr !== undefined) out.sampleRate = sr;
  }
  return out;
}

/** probe() with the binaries the settings name: for workers that only need to look (`probe`). */
export async function probeMedia(file: string, signal: AbortSignal, settings: WorkerSettings = {}, label?: string): Promise<MediaProbe> {
  return probe(await locate(settings.transcode), file, signal, label === undefined ? {} : { label });
}

// ---- run -----------------------------------------------------------------------------------

/** One ffmpeg invocation: one input, one output, the options around them. */
export interface FfmpegCommandSpec {
  input: string;
  /** Options before `-i` (global options and input options: -ss, -protocol_whitelist, …). */
  inputArgs: readonly string[];
  /** Options of the output: maps, filters, codecs, `-f`. */
  args: readonly string[];
  output: string;
}

/** Global options every run gets, before the input options. */
export function globalArgs(bin: Binaries): string[] {
  return ['-hide_banner', '-nostdin', ...(bin.statsPeriod ? ['-stats_period', STATS_PERIOD] : [])];
}

/**
 * The exact argv runFfmpeg() gives ffmpeg for `spec`: fluent-ffmpeg's order (input options,
 * `-i input`, `-y`, output options, output). The benchmark runs the command line with it.
 */
export function ffmpegArgv(spec: FfmpegCommandSpec): string[] {
  return [...spec.inputArgs, '-i', spec.input, '-y', ...spec.args, spec.output];
}

export interface RunOptions extends FfmpegCommandSpec {
  /**
   * Milliseconds of output written so far (ffmpeg's `time=` status lines) out of `totalMs`, or of
   * the input's duration as ffmpeg prints it; 0 when neither is known.
   */
  onProgress?(doneMs: number, totalMs: number): void;
  /** What onProgress counts up to. @defaultValue the input's `Duration:` */
  totalMs?: number;
  /** Aborting it stops ffmpeg (SIGTERM, then SIGKILL after KILL_GRACE_MS); the run rejects with its reason. */
  signal: AbortSignal;
  /** Stop ffmpeg the same way past this; the run fails with GT_FFMPEG_FAILED. @defaultValue no limit */
  timeoutMs?: number;
  /** Names the file in GT_FFMPEG_FAILED. @defaultValue input */
  label?: string;
}

/** What ffmpeg reported about the output it wrote. */
export interface RunReport {
  /** From the `Output #0` stream line, when ffmpeg printed one. */
  width?: number;
  height?: number;
  /** The last `time=` ffmpeg reported: the output's duration. */
  seconds?: number;
}

type NodeCallback<T> = (err: Error | null, value?: T) => void;

/**
 * fluent-ffmpeg internals answered per command. Its _prepare() runs _checkCapabilities (spawning
 * `ffmpeg -formats` and `ffmpeg -encoders`) and availableEncoders (to add `-strict experimental`)
 * on every run, whatever options were set (raw outputOptions do not avoid it); the answers are
 * cached per process, so the cost lands on each process's first job. Measured with Debian ffmpeg
 * 5.1 on 2 shared cores, 3 fresh processes each running one poster frame of a 640×360 clip 3
 * times: stock fluent 238-263 ms for the first run, 93-112 ms after; with these hooks 103-124 ms
 * from the first; the bare command line 94-100 ms.
 * Our arguments are fixed, use no experimental encoder and are checked by the tests, so there is
 * nothing to ask: -formats and -encoders are never spawned (a test holds that).
 * The binary paths are pinned per command too: fluent keeps them in one process-wide cache.
 * 2.1.3 is the final release (the repository is archived), so these internals no longer move.
 */
interface FluentHooks {
  _getFfmpegPath(cb: NodeCallback<string>): void;
  /** Starts ffmpeg; wrapped to put the launcher in front (as fluent itself does for `nice`). */
  _spawnFfmpeg(args: string[], ...rest: unknown[]): void;
  _getFfprobePath(cb: NodeCallback<string>): void;
  _checkCapabilities(cb: (err?: Error | null) => void): void;
  availableEncoders(cb: NodeCallback<Record<string, unknown>>): void;
}

const TIME = /time=(\d+):(\d\d):(\d\d(?:\.\d+)?)/;
const DURATION = /^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/;
const hms = (m: RegExpExecArray): number => Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
const LOST_OUTPUT = /^(Error writing trailer|Error closing file|Output file is empty)/;
const OUTPUT_VIDEO = /^\s*Stream #\d+:\d+.*: Video: .*?, (\d{1,5})x(\d{1,5})[\s,]/;

/**
 * Run ffmpeg once. Resolves when it exits 0; rejects with GT_FFMPEG_FAILED (the last meaningful
 * stderr line, or the timeout), or the signal's reason — always after the process has exited, so
 * the caller may remove the output.
 */
export function runFfmpeg(bin: Binaries, opts: RunOptions): Promise<RunReport> {
  const label = opts.label ?? opts.input;
  if (opts.signal.aborted) return Promise.reject(opts.signal.reason as Error);
  return new Promise<RunReport>((resolve, reject) => {
    const cmd = ffmpegCommand({ stdoutLines: 200 });
    const spawnFfmpeg = (cmd as unknown as FluentHooks)._spawnFfmpeg;
    const [file, prefix] = launch(bin, bin.ffmpeg, []);
    const hooks: FluentHooks = {
      _getFfmpegPath: (cb) => cb(null, file),
      _spawnFfmpeg: (args, ...rest) => spawnFfmpeg.call(cmd, [...prefix, ...args], ...rest),
      _getFfprobePath: (cb) => cb(null, bin.ffprobe),
      _checkCapabilities: (cb) => cb(),
      availableEncoders: (cb) => cb(null, {}),
    };
    Object.assign(cmd, hooks);
    // Options go in as separate arguments: given one array (or one option), fluent splits every
    // element holding exactly one space in two (`title=two words`, a two-variant
    // `-var_stream_map`). A lone option is a flag, which holds no space.
    cmd.input(opts.input).output(opts.output);
    if (opts.inputArgs.length > 0) cmd.inputOptions(...opts.inputArgs);
    if (opts.args.length > 0) cmd.outputOptions(...opts.args);

    const report: RunReport = {};
    let inOutput = false;
    let lostOutput = '';
    let stopped: Error | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    let proc: { kill(sig: NodeJS.Signals): boolean } | undefined;

    const stop = (reason: Error): void => {
      if (stopped) return;
      stopped = reason;
      if (!proc) return; // not spawned yet: 'start' stops it
      proc.kill('SIGTERM');
      killTimer = setTimeout(() => proc!.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const onAbort = (): void => stop(opts.signal.reason as Error);
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const deadline =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => stop(gtError('GT_FFMPEG_FAILED', label, `killed after the ${opts.timeoutMs} ms timeout`)), opts.timeoutMs);
    const settle = (): void => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      opts.signal.removeEventListener('abort', onAbort);
    };

    cmd.on('start', () => {
      proc = (cmd as unknown as { ffmpegProc?: typeof proc }).ffmpegProc;
      if (stopped) {
        const reason = stopped;
        stopped = null;
        stop(reason);
      }
    });
    let totalMs = opts.totalMs ?? 0;
    cmd.on('stderr', (line: string) => {
      const t = TIME.exec(line);
      if (t) {
        const seconds = hms(t);
        report.seconds = seconds;
        const doneMs = Math.round(seconds * 1000);
        opts.onProgress?.(totalMs > 0 ? Math.min(doneMs, totalMs) : doneMs, totalMs);
        return;
      }
      if (opts.totalMs === undefined && totalMs === 0 && !inOutput) {
        const d = DURATION.exec(line);
        if (d) totalMs = Math.round(hms(d) * 1000);
      }
      if (LOST_OUTPUT.test(line)) lostOutput = line;
      else if (line.startsWith('Output #')) inOutput = true;
      else if (inOutput && report.width === undefined) {
        const d = OUTPUT_VIDEO.exec(line);
        if (d) {
          report.width = Number(d[1]);
          report.height = Number(d[2]);
        }
      }
    });
    cmd.on('end', (_stdout: string | null, stderr: string | null) => {
      settle();
      if (stopped) return reject(stopped);
      // ffmpeg 5.1 exits 0 when the output could not be written out (disk full, file size limit):
      // it only says so on stderr.
      if (lostOutput) return reject(gtError('GT_FFMPEG_FAILED', label, lastMeaningfulLine(stderr ?? '', opts.input) || lostOutput));
      resolve(report);
    });
    cmd.on('error', (err: Error, _stdout: string | null, stderr: string | null) => {
      settle();
      if (stopped) return reject(stopped);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EACCES') {
        return reject(gtError('GT_FFMPEG_NOT_FOUND', `ffmpeg at ${bin.ffmpeg}`));
      }
      const e = gtError('GT_FFMPEG_FAILED', label, lastMeaningfulLine(stderr ?? '', opts.input) || err.message.split('\n')[0]!);
      reject(new GeartrainError(e.code, e.message, { cause: err }));
    });
    cmd.run();
  });
}

// ---- stderr ----------------------------------------------------------------------------------

/** A regular expression matching any of the patterns (regex source), between `before` and `after`. */
function anyOf(patterns: readonly string[], before: string, after: string): RegExp {
  return new RegExp(`${before}(${patterns.join('|')})${after}`);
}

/** Lines that say nothing about what went wrong. */
const NOISE =
  /^(frame=|size=|video:|audio:|Conversion failed!|Exiting normally|Press \[q\]|Stream mapping:|Input #|Output #|Metadata:|Duration:|Stream #|Side data:)/;
/** The summaries x264 and the AAC encoder print when they close. */
const ENCODER_STATS = anyOf(
  [
    'frame [IPB]:',
    'mb [IPB] ',
    'kb/s:',
    'Qavg:',
    'consecutive B-frames:',
    'ref [PB] ',
    'i8 ',
    'i4 ',
    'i16 ',
    'i8c ',
    '8x8 transform',
    'direct mvs',
    'coded y,',
    'Weighted P-Frames:',
    'final ratefactor:',
  ],
  '^',
  '',
);
/** libav's generic error strings: the line before one usually says more. */
const GENERIC = anyOf(
  [
    'Invalid data found when processing input',
    'Invalid argument',
    'Operation not permitted',
    'Error opening input files?',
    'Error opening output files?',
    'Error while opening encoder.*',
  ],
  '',
  '$',
);

/**
 * The last stderr line that explains a failure: `[mov @ 0x55…] moov atom not found` becomes
 * `moov atom not found (Invalid data found when processing input)`.
 */
export function lastMeaningfulLine(stderr: string, file?: string): string {
  const lines = stderr
    .split(/\r\n|\r|\n/)
    .filter((l) => !/^\s/.test(l)) // stream and metadata dumps are indented
    .map((l) => l.replace(/^\[[^\]]*? @ 0x[0-9a-f]+\]\s*/, '').trim())
    .map((l) => (file && l.startsWith(`${file}: `) ? l.slice(file.length + 2) : l))
    .filter((l) => l !== '' && !NOISE.test(l) && !ENCODER_STATS.test(l));
  const last = lines.at(-1);
  if (last === undefined) return '';
  const before = lines.at(-2);
  if (GENERIC.test(last) && before !== undefined && !GENERIC.test(before)) return `${before} (${last})`;
  return last;
}
