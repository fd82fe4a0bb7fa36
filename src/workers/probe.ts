// `probe` {input} → {kind: image|video|audio, format, width?, height?, durationSeconds?, …}:
// what a file is, so a pipeline can choose what to make of it. sharp answers for images
// (a header read, no decode); ffprobe for video and audio.

import { gtError } from '../errors.js';
import { checker } from '../schema/check.js';
import { ProbePayload, type ProbeResult } from '../schema/payloads/probe.js';
import { probeMedia } from './ffmpeg.js';
import { AllowedPaths } from './paths.js';
import { loadSharp } from './sharp.js';
import type { DomainWorker, DomainWorkerFactory } from './types.js';

export type { ProbePayload, ProbeResult } from '../schema/payloads/probe.js';

/** Formats sharp reads that are stills (or animations) rather than video. */
const IMAGE_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'avif', 'heif', 'tiff', 'svg', 'jp2', 'jxl']);

export const probeWorker: DomainWorkerFactory = (settings): DomainWorker<ProbePayload, ProbeResult> => {
  const allowed = new AllowedPaths(settings.allowPaths);
  return {
    name: 'probe',
    timeoutMs: 60_000,
    parse: checker(ProbePayload, 'probe').parse,
    async run({ input }, ctx) {
      const file = await allowed.input('Input', input, { media: true });
      try {
        const bytes = file.stat.size;
        try {
          const sharp = await loadSharp();
          const m = await sharp(file.use).metadata();
          if (m.format && IMAGE_FORMATS.has(m.format) && m.width && m.height) {
            const pages = m.pages ?? 1;
            return {
              kind: 'image',
              format: m.format,
              bytes,
              width: m.autoOrient?.width ?? m.width,
              height: m.autoOrient?.height ?? m.pageHeight ?? m.height,
              ...(pages > 1 ? { pages } : {}),
            };
          }
        } catch {
          // not an image sharp knows: ask ffprobe
        }
        const p = await probeMedia(file.use, ctx.signal, settings, input);
        if (!p.videoCodec && !p.audioCodec) throw gtError('GT_MEDIA_INVALID', input, 'image, video or audio file', 'no image, video or audio stream found');
        return {
          kind: p.videoCodec ? 'video' : 'audio',
          format: p.format,
          bytes,
          ...(p.width ? { width: p.width, height: p.height } : {}),
          durationSeconds: p.durationSeconds,
          ...(p.videoCodec ? { videoCodec: p.videoCodec } : {}),
          ...(p.audioCodec ? { audioCodec: p.audioCodec } : {}),
        };
      } finally {
        await file.close();
      }
    },
  };
};
