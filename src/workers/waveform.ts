// `waveform` {input, outDir, points?, width?, height?, colour?, background?, name?} → {input,
// durationSeconds, sampleRate, outputs: [peaks JSON, PNG]}: an audio file's waveform from one
// decode. ffmpeg streams the first audio stream as 16-bit mono PCM; the peaks (min and max per
// bucket) are computed as the samples pass; the PNG is drawn from the peaks with sharp.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gtError } from '../errors.js';
import { checker } from '../schema/check.js';
import { type PeaksFile, type WaveformOutput, WaveformPayload, type WaveformResult } from '../schema/payloads/waveform.js';
import { fingerprint } from '../shared/fingerprint.js';
import { demuxerOf, locate, probe } from './ffmpeg.js';
import { type OutputFolder, withJobFiles } from './files.js';
import { AllowedPaths, type InputFile } from './paths.js';
import { decodePcm } from './pcm.js';
import { PeakBlocks } from './peaks.js';
import { loadSharp } from './sharp.js';
import type { DomainWorker, DomainWorkerFactory, JobContext } from './types.js';

export type { PeaksFile, WaveformOutput, WaveformPayload, WaveformResult } from '../schema/payloads/waveform.js';

type Rgba = [number, number, number, number];

/** The payload as parse() returns it: defaults filled in, colours read as RGBA bytes. */
export type WaveformJob = Omit<Required<WaveformPayload>, 'name' | 'colour' | 'background'> &
  Pick<WaveformPayload, 'name'> & { colour: Rgba; background: Rgba };

const check = checker(WaveformPayload, 'waveform');

/**
 * Check a waveform payload and fill in its defaults, in one key order (points, width, height,
 * colour, background): those options are the outputs' fingerprint.
 */
export function parseWaveform(raw: unknown): WaveformJob {
  const { input, outDir, points = 1000, width = 1800, height = 280, colour = '#2563eb', background = '#00000000', name } = check.parse(raw);
  return { input, outDir, points, width, height, colour: rgba(colour), background: rgba(background), ...(name !== undefined ? { name } : {}) };
}

/** `#rrggbb` or `#rrggbbaa` (the schema's pattern) → RGBA bytes. */
function rgba(hex: string): Rgba {
  const byte = (i: number): number => parseInt(hex.slice(i, i + 2), 16);
  return [byte(1), byte(3), byte(5), hex.length === 9 ? byte(7) : 255];
}

/** Columns from the centre line to each bucket's min and max, on `background`. */
function drawPeaks(peaks: readonly [number, number][], height: number, fg: Rgba, bg: Rgba): Buffer {
  const width = peaks.length;
  const px = Buffer.alloc(width * height * 4);
  for (let i = 0; i < px.length; i += 4) px.set(bg, i);
  const mid = (height - 1) / 2;
  for (let x = 0; x < width; x++) {
    const [lo, hi] = peaks[x]!;
    const top = Math.max(0, Math.round(mid - hi * mid));
    const bottom = Math.min(height - 1, Math.round(mid - lo * mid));
    for (let y = top; y <= bottom; y++) px.set(fg, (y * width + x) * 4);
  }
  return px;
}

export const waveformWorker: DomainWorkerFactory = (settings): DomainWorker<WaveformJob, WaveformResult> => {
  const maxSeconds = settings.waveform?.maxDurationSeconds ?? 3 * 3600;
  const maxFileBytes = settings.waveform?.maxFileBytes ?? 1024 * 1024 * 1024;
  const allowed = new AllowedPaths(settings.allowPaths);
  return {
    name: 'waveform',
    timeoutMs: 600_000,

    parse: parseWaveform,

    run: (p, ctx) => withJobFiles(allowed, p, maxFileBytes, (input, out) => make(p, input, out, ctx)),
  };

  async function make(p: WaveformJob, input: InputFile, out: OutputFolder, ctx: JobContext): Promise<WaveformResult> {
    const base = p.name ?? path.basename(p.input, path.extname(p.input));
    const names = [`${base}-waveform.json`, `${base}-waveform.png`] as const;
    const { input: _i, outDir: _o, name: _n, ...options } = p;
    const key = fingerprint(options);
    type Made = { output: WaveformOutput; durationSeconds: number; sampleRate: number };
    const [jsonFresh, pngFresh] = await Promise.all(names.map((n) => out.fresh<Made>(n, input, key)));
    if (jsonFresh && pngFresh) {
      ctx.progress(1, 1);
      const skipped = (m: Made): WaveformOutput => ({ ...m.output, skipped: true });
      return { input: p.input, durationSeconds: jsonFresh.durationSeconds, sampleRate: jsonFresh.sampleRate, outputs: [skipped(jsonFresh), skipped(pngFresh)] };
    }

    const bin = await locate(settings.transcode);
    const info = await probe(bin, input.use, ctx.signal, { label: p.input });
    if (!info.audioCodec) throw gtError('GT_MEDIA_INVALID', p.input, 'audio file', 'it has no audio stream');
    const limit = `${maxSeconds} s`;
    if (info.durationSeconds > maxSeconds) throw gtError('GT_MEDIA_TOO_LARGE', p.input, `${Math.round(info.durationSeconds)} s of audio`, limit);
    // The header's rate and duration may lie: the decode itself stops at the limit in samples.
    const rate = info.sampleRate ?? 48_000;
    const jsonPeaks = new PeakBlocks(p.points);
    const pngPeaks = p.width === p.points ? jsonPeaks : new PeakBlocks(p.width);
    const expected = Math.max(1, info.durationSeconds * rate);
    let percent = -1;
    const samples = await decodePcm(bin, input.use, {
      signal: ctx.signal,
      timeoutMs: settings.transcode?.timeoutMs ?? 3_600_000,
      maxSamples: Math.ceil(maxSeconds * Math.max(rate, 8000)),
      limitText: limit,
      label: p.input,
      // ffmpeg reads with the demuxer the probe found and checked, as transcode does.
      inputArgs: ['-f', demuxerOf(info.format)],
      onSamples: (s) => {
        jsonPeaks.push(s);
        if (pngPeaks !== jsonPeaks) pngPeaks.push(s);
        // One WORK_STATUS per percent, not per 64 KiB read.
        const now = Math.floor((100 * Math.min(jsonPeaks.samples, expected)) / expected);
        if (now !== percent) ctx.progress((percent = now), 100);
      },
    });
    if (samples === 0) throw gtError('GT_MEDIA_INVALID', p.input, 'audio file', 'no audio samples could be decoded');
    const durationSeconds = Math.round((samples / rate) * 1000) / 1000;

    const file: PeaksFile = { durationSeconds, sampleRate: rate, samples, points: p.points, peaks: jsonPeaks.buckets(p.points) };
    const text = JSON.stringify(file);
    const sharp = await loadSharp();
    const png = await sharp(drawPeaks(pngPeaks.buckets(p.width), p.height, p.colour, p.background), { raw: { width: p.width, height: p.height, channels: 4 } })
      .png({ compressionLevel: 6 })
      .toBuffer();
    const jsonOutput: WaveformOutput = { path: out.file(names[0]), format: 'json', bytes: Buffer.byteLength(text), points: p.points };
    const pngOutput: WaveformOutput = { path: out.file(names[1]), format: 'png', bytes: png.length, width: p.width, height: p.height };
    for (const [name, data, output] of [
      [names[0], text, jsonOutput],
      [names[1], png, pngOutput],
    ] as const) {
      await out.write(name, (tmp) => writeFile(tmp, data), ctx.signal);
      await out.record(name, input, key, { output, durationSeconds, sampleRate: rate } satisfies Made, ctx.signal);
    }
    ctx.progress(100, 100);
    return { input: p.input, durationSeconds, sampleRate: rate, outputs: [jsonOutput, pngOutput] };
  }
};
