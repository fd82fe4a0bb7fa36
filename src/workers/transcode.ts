// `transcode` {input, outDir, profiles, poster?} → {outputs, durationSeconds, probe}: web
// renditions of a video (H.264/AAC MP4 at 1080p/720p/480p, VP9/Opus WebM, AAC audio) and a
// poster frame, never upscaled. The input is probed first; progress goes out as WORK_STATUS
// while ffmpeg runs; outputs are written atomically and skipped when already up to date.

import path from 'node:path';
import { gtError, invalidPayload } from '../errors.js';
import { probeMedia, runFfmpeg, warmUp, type MediaProbe } from './ffmpeg.js';
import { checkAllowed, fingerprint, freshOutput, inputFile, recordOutput, writeAtomic } from './files.js';
import type { DomainWorker, DomainWorkerFactory } from './types.js';
import { Fields, itemString } from './validate.js';

export const PROFILES = ['mp4-1080p', 'mp4-720p', 'mp4-480p', 'webm-720p', 'audio-m4a'] as const;
export type Profile = (typeof PROFILES)[number];

export interface PosterOptions {
  atSeconds?: number;
  width?: number;
  format: 'jpeg' | 'webp';
}

export interface TranscodePayload {
  input: string;
  outDir: string;
  profiles: Profile[];
  poster?: PosterOptions;
  name?: string;
}

export interface TranscodeOutput {
  profile: Profile | 'poster';
  path: string;
  width?: number;
  height?: number;
  bytes: number;
  durationSeconds?: number;
  skipped?: true;
}

export interface TranscodeResult {
  input: string;
  durationSeconds: number;
  probe: MediaProbe;
  outputs: TranscodeOutput[];
  poster?: TranscodeOutput;
}

interface Rendition {
  name: string;
  outputOptions: string[];
  inputOptions?: string[];
  width?: number;
  height?: number;
}

const HEIGHT: Partial<Record<Profile, number>> = { 'mp4-1080p': 1080, 'mp4-720p': 720, 'mp4-480p': 480, 'webm-720p': 720 };
const even = (n: number): number => Math.max(2, Math.round(n / 2) * 2);

/** The size a profile gets from a source: its height, or the source's when that is smaller. */
function fitHeight(probe: MediaProbe, target: number): { width: number; height: number } | undefined {
  if (!probe.width || !probe.height) return undefined;
  const height = even(Math.min(target, probe.height));
  return { width: even((probe.width * height) / probe.height), height };
}

/**
 * ffmpeg output options for a profile. x264 `veryfast`/crf 23 and VP9 realtime/cpu-used 8 keep a
 * 2-core machine at several times real time for 720p; the quality is web-thumbnail grade.
 */
export function rendition(profile: Profile, probe: MediaProbe, base: string): Rendition {
  const audio = probe.audioCodec ? null : ['-an'];
  switch (profile) {
    case 'mp4-1080p':
    case 'mp4-720p':
    case 'mp4-480p':
    case 'webm-720p': {
      if (!probe.videoCodec) throw gtError('GT_MEDIA_INVALID', base, 'video', `it has no video stream for ${profile}`);
      const size = fitHeight(probe, HEIGHT[profile]!)!;
      const scale = ['-vf', `scale=${size.width}:${size.height}`];
      if (profile === 'webm-720p') {
        return {
          name: `${base}-720p.webm`,
          outputOptions: [...scale, '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-b:v', '0', '-crf', '35', ...(audio ?? ['-c:a', 'libopus', '-b:a', '96k']), '-f', 'webm'],
          ...size,
        };
      }
      return {
        name: `${base}-${profile.slice(4)}.mp4`,
        outputOptions: [...scale, '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p', ...(audio ?? ['-c:a', 'aac', '-b:a', '128k']), '-movflags', '+faststart', '-f', 'mp4'],
        ...size,
      };
    }
    case 'audio-m4a':
      if (!probe.audioCodec) throw gtError('GT_MEDIA_INVALID', base, 'file with audio', 'it has no audio stream for audio-m4a');
      return { name: `${base}-audio.m4a`, outputOptions: ['-vn', '-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', '-f', 'ipod'] };
  }
}

/** One frame at min(atSeconds, half the duration), scaled to `width` (never up). */
export function posterRendition(p: PosterOptions, probe: MediaProbe, base: string): Rendition {
  if (!probe.videoCodec || !probe.width || !probe.height) throw gtError('GT_MEDIA_INVALID', base, 'video', 'it has no video stream for a poster');
  const at = Math.min(p.atSeconds ?? 1, probe.durationSeconds / 2);
  const width = even(Math.min(p.width ?? probe.width, probe.width));
  const height = even((probe.height * width) / probe.width);
  const codec = p.format === 'webp' ? ['-c:v', 'libwebp', '-quality', '80', '-f', 'webp'] : ['-q:v', '3', '-f', 'image2'];
  return { name: `${base}-poster.${p.format === 'webp' ? 'webp' : 'jpg'}`, inputOptions: ['-ss', at.toFixed(3)], outputOptions: ['-frames:v', '1', '-vf', `scale=${width}:${height}`, ...codec], width, height };
}

export const transcodeWorker: DomainWorkerFactory = (settings, log): DomainWorker<TranscodePayload, TranscodeResult> => {
  const timeoutMs = settings.transcode?.timeoutMs ?? 3_600_000;
  // Off the first job's path; a failure here shows again, with its message, on the first job.
  const warm = warmUp(settings).catch((err: Error) => log.warn({ err: err.message }, 'ffmpeg warm-up failed'));
  return {
    name: 'transcode',
    timeoutMs,
    parse(raw) {
      const f = Fields.of(raw, 'transcode');
      const p: TranscodePayload = {
        input: f.string('input'),
        outDir: f.string('outDir'),
        profiles: f.array('profiles', (v, n) => {
          const s = itemString(v, n);
          if (!PROFILES.includes(s as Profile)) throw invalidPayload(`one of ${PROFILES.join(', ')}`, n, s);
          return s as Profile;
        }, { max: PROFILES.length }),
      };
      const poster = f.raw('poster');
      if (poster === true) p.poster = { format: 'jpeg' };
      else if (poster !== undefined && poster !== false) {
        const pf = f.object('poster');
        const atSeconds = pf.optNumber('atSeconds', { min: 0 });
        const width = pf.optInt('width', { min: 16, max: 7680 });
        p.poster = { format: pf.oneOf('format', ['jpeg', 'webp'] as const, 'jpeg'), ...(atSeconds !== undefined ? { atSeconds } : {}), ...(width !== undefined ? { width } : {}) };
        pf.done();
      }
      const name = f.optString('name', { maxLength: 200 });
      if (name !== undefined) {
        if (/[/\\]/.test(name) || name.startsWith('.')) throw invalidPayload('a file name without folders or a leading dot', f.name('name'), name);
        p.name = name;
      }
      if (p.profiles.length === 0 && !p.poster) throw invalidPayload('at least one profile, or a poster', f.name('profiles'), []);
      f.done();
      return p;
    },
    async run(p, ctx) {
      checkAllowed('Input', p.input, settings.allowPaths);
      checkAllowed('Output folder', p.outDir, settings.allowPaths);
      const st = await inputFile(p.input);
      await warm;
      const probe = await probeMedia(p.input, ctx.signal, settings);
      const base = p.name ?? path.basename(p.input, path.extname(p.input));
      const jobs: { profile: Profile | 'poster'; r: Rendition }[] = p.profiles.map((profile) => ({ profile, r: rendition(profile, probe, base) }));
      if (p.poster) jobs.push({ profile: 'poster', r: posterRendition(p.poster, probe, base) });
      const durationMs = Math.round(probe.durationSeconds * 1000);
      // Progress over the whole job: each rendition counts for its share of the duration.
      const totalMs = durationMs * jobs.length;
      const outputs: TranscodeOutput[] = [];
      for (const [i, { profile, r }] of jobs.entries()) {
        const out = path.join(p.outDir, r.name);
        const key = fingerprint(r);
        const fresh = await freshOutput<TranscodeOutput>(out, p.input, st, key);
        if (fresh) {
          outputs.push({ ...fresh, skipped: true });
          continue;
        }
        let bytes = 0;
        await writeAtomic(out, async (tmp) => {
          await runFfmpeg(
            {
              input: p.input,
              ...(r.inputOptions ? { inputOptions: r.inputOptions } : {}),
              output: tmp,
              outputOptions: r.outputOptions,
              durationMs: profile === 'poster' ? 1 : durationMs,
              onProgress: (done) => ctx.progress(i * durationMs + (profile === 'poster' ? durationMs : done), totalMs),
              signal: ctx.signal,
              timeoutMs,
              label: p.input,
            },
            settings,
          );
          bytes = (await inputFile(tmp)).size;
        });
        const o: TranscodeOutput = {
          profile,
          path: out,
          ...(r.width ? { width: r.width, height: r.height } : {}),
          bytes,
          ...(profile !== 'poster' ? { durationSeconds: probe.durationSeconds } : {}),
        };
        await recordOutput(out, p.input, st, key, o);
        outputs.push(o);
        ctx.progress((i + 1) * durationMs, totalMs);
      }
      const poster = p.poster ? outputs.find((o) => o.profile === 'poster') : undefined;
      return {
        input: p.input,
        durationSeconds: probe.durationSeconds,
        probe,
        outputs: outputs.filter((o) => o.profile !== 'poster'),
        ...(poster ? { poster } : {}),
      };
    },
  };
};
