// `thumbnail` {input, outDir, sizes:[{width, height?, format, quality?}], fit?, background?,
// placeholder?, urlPrefix?} → {outputs, srcset, placeholder}: several sizes and formats from one decode. The input is decoded once, auto-rotated by EXIF,
// converted to sRGB and shrunk (JPEG shrink-on-load) to the smallest size that still serves the
// largest output; every output is resized from that buffer and written atomically. Outputs
// already made from the same input with the same options are not made again.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type sharp from 'sharp';
import type { Sharp } from 'sharp';
import { GeartrainError, gtError, invalidPayload } from '../errors.js';
import { checker } from '../schema/check.js';
import type { Fit, ImageFormat, Placeholder, Position, ThumbnailOutput, ThumbnailPayload, ThumbnailResult } from '../schema/payloads/thumbnail.js';
import * as schema from '../schema/payloads/thumbnail.js';
import { fingerprint } from '../shared/fingerprint.js';
import { runLimited } from '../shared/limit.js';
import { type OutputFolder, withJobFiles } from './files.js';
import { AllowedPaths, type InputFile } from './paths.js';
import { placeholderOf } from './placeholder.js';
import { loadSharp } from './sharp.js';
import { srcsets } from './srcset.js';
import type { DomainWorker, DomainWorkerFactory, JobContext } from './types.js';

export type { Fit, ImageFormat, Position, ThumbnailOutput, ThumbnailPayload, ThumbnailResult, ThumbnailSize } from '../schema/payloads/thumbnail.js';
export { FITS, IMAGE_FORMATS as FORMATS, POSITIONS } from '../schema/payloads/thumbnail.js';

/** A size as the worker uses it: `jpg` read as `jpeg`. */
type Size = Omit<schema.ThumbnailSize, 'format'> & { format: ImageFormat };

/** The payload as parse() returns it: defaults filled in, formats and the colour read. */
export type ThumbnailJob = Omit<ThumbnailPayload, 'sizes' | 'fit' | 'position' | 'stripMetadata' | 'placeholder' | 'background'> & {
  sizes: Size[];
  fit: Fit;
  position: Position;
  stripMetadata: boolean;
  placeholder: boolean;
  background?: sharp.RGBA;
};

const EXT: Record<ImageFormat | 'jpg', string> = { jpeg: 'jpg', jpg: 'jpg', webp: 'webp', avif: 'avif', png: 'png' };
const DEFAULT_QUALITY: Record<ImageFormat, number> = { jpeg: 80, webp: 80, avif: 50, png: 100 };
/** Formats that can carry an animation; other outputs of an animated input get its first frame. */
const ANIMATED_OUT = new Set<ImageFormat>(['webp']);
/** What sharp says when libvips' error buffer was empty. */
const UNKNOWN = ': Unknown error';
/** Outputs of one job encoded at once; see run(). */
const OUTPUTS_IN_FLIGHT = 2;
const TRANSPARENT: sharp.RGBA = { r: 0, g: 0, b: 0, alpha: 0 };
const WHITE: sharp.RGBA = { r: 255, g: 255, b: 255, alpha: 1 };

const check = checker(schema.ThumbnailPayload, 'thumbnail');

/**
 * Check a thumbnail payload and fill in its defaults. Each size is rebuilt in one key order
 * (width, format, height, quality): the order is part of an output's fingerprint, so the same
 * size sent with its keys in another order finds its output already made.
 */
export function parseThumbnail(raw: unknown): ThumbnailJob {
  const { sizes, fit = 'inside', position, stripMetadata = true, placeholder = true, background, ...rest } = check.parse(raw);
  if (position !== undefined && fit !== 'cover') throw invalidPayload('fit cover (a position says where to crop)', 'thumbnail.fit', fit);
  return {
    ...rest,
    sizes: sizes.map((s) => ({
      width: s.width,
      format: s.format === 'jpg' ? 'jpeg' : s.format,
      ...(s.height !== undefined ? { height: s.height } : {}),
      ...(s.quality !== undefined ? { quality: s.quality } : {}),
    })),
    fit,
    position: position ?? 'centre',
    stripMetadata,
    placeholder,
    ...(background !== undefined ? { background: parseColour(background) } : {}),
  };
}

/** What the "already made" record of an output keeps. */
interface OutputInfo {
  output: ThumbnailOutput;
  source: Source;
  placeholder?: Placeholder;
}

interface Source {
  width: number;
  height: number;
  format: string;
}

/** `photo-320w.webp`, or `photo-320x240.jpg` when a height is given. */
export function outputName(base: string, s: Pick<schema.ThumbnailSize, 'width' | 'height' | 'format'>): string {
  return `${base}-${s.height === undefined ? `${s.width}w` : `${s.width}x${s.height}`}.${EXT[s.format]}`;
}

/** `#f80`, `#ff8800cc` → sharp's colour object. */
function parseColour(hex: string): sharp.RGBA {
  const h = hex.length <= 5 ? [...hex.slice(1)].map((c) => c + c).join('') : hex.slice(1);
  const byte = (i: number): number => parseInt(h.slice(i, i + 2), 16);
  return { r: byte(0), g: byte(2), b: byte(4), alpha: h.length === 8 ? byte(6) / 255 : 1 };
}

function encode(img: Sharp, s: Size, background: sharp.RGBA | undefined): Sharp {
  const quality = s.quality ?? DEFAULT_QUALITY[s.format];
  switch (s.format) {
    case 'jpeg': {
      // JPEG has no alpha: transparent areas become the background colour, white by default, not black.
      const { r, g, b } = background ?? WHITE;
      return img.flatten({ background: { r, g, b } }).jpeg({ quality, mozjpeg: true });
    }
    case 'webp':
      return img.webp({ quality });
    case 'avif':
      return img.avif({ quality, effort: 2 });
    case 'png':
      return img.png({ compressionLevel: 6, ...(quality < 100 ? { palette: true, quality } : {}) });
  }
}

function resizeOptions(s: Size, fit: Fit, background: sharp.RGBA | undefined, position: Position): sharp.ResizeOptions {
  return {
    width: s.width,
    ...(s.height !== undefined ? { height: s.height } : {}),
    fit,
    ...(fit === 'cover' ? { position } : {}),
    // Never upscale: a thumbnail bigger than its source only adds bytes.
    withoutEnlargement: true,
    // sharp flattens before it resizes, so encode()'s flatten() never reaches contain's padding:
    // JPEG gets opaque padding here (transparent padding came out black).
    ...(fit === 'contain' ? { background: s.format === 'jpeg' ? { ...(background ?? WHITE), alpha: 1 } : (background ?? TRANSPARENT) } : {}),
  };
}

/**
 * The scale (≤ 1) of the one decoded buffer: enough for the most demanding output, so every
 * output is a downscale of it. cover needs the larger of the two ratios, inside/contain the smaller.
 */
function decodeScale(src: Source, sizes: readonly Size[], fit: Fit): number {
  let scale = 0;
  for (const s of sizes) {
    const sx = s.width / src.width;
    const sy = s.height === undefined ? sx : s.height / src.height;
    scale = Math.max(scale, fit === 'cover' ? Math.max(sx, sy) : Math.min(sx, sy));
  }
  return Math.min(1, scale);
}

/** What `fit: inside` without enlargement makes of the source. */
function insideDims(src: Source, s: Size): { width: number; height: number } {
  const scale = Math.min(1, s.width / src.width, s.height === undefined ? Infinity : s.height / src.height);
  return { width: Math.max(1, Math.round(src.width * scale)), height: Math.max(1, Math.round(src.height * scale)) };
}

/**
 * sharp's reason, first line, without its "Input file …" preamble (the message already names the
 * file): `VipsJpeg: premature end of JPEG image`, `unsupported image format`.
 */
function mediaError(file: string, err: unknown): GeartrainError {
  if (err instanceof GeartrainError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const reason = text
    .split('\n')[0]!
    .replace(/^Input (file|buffer) has corrupt header:\s*/, '')
    .replace(/^Input (file|buffer) contains /, '')
    .trim();
  return gtError('GT_MEDIA_INVALID', file, 'image', reason || text);
}

export const thumbnailWorker: DomainWorkerFactory = (settings): DomainWorker<ThumbnailJob, ThumbnailResult> => {
  const maxPixels = settings.thumbnail?.maxPixels ?? 50_000_000;
  const maxFileBytes = settings.thumbnail?.maxFileBytes ?? 100 * 1024 * 1024;
  const allowed = new AllowedPaths(settings.allowPaths);
  return {
    name: 'thumbnail',
    timeoutMs: 120_000,
    parse: parseThumbnail,
    run: (p, ctx) => withJobFiles(allowed, p, maxFileBytes, (input, out) => make(p, input, out, ctx)),
  };

  async function make(p: ThumbnailJob, input: InputFile, out: OutputFolder, ctx: JobContext): Promise<ThumbnailResult> {
    const base = p.name ?? path.basename(p.input, path.extname(p.input));
    const file = p.input;
    const use = input.use;
    const outputs: ThumbnailOutput[] = new Array(p.sizes.length);
    const todo: number[] = [];
    // The background is part of an output's options only where it shows (contain's padding, JPEG);
    // left out when unset, so records made before the option existed stay valid. `pad` marks
    // contain JPEGs made since their padding is opaque (before, it came out black): those older
    // outputs are made again.
    const keys = p.sizes.map((s) =>
      fingerprint({
        s,
        fit: p.fit,
        // Left out for the default, so outputs recorded before the option existed stay valid.
        pos: p.position === 'centre' ? undefined : p.position,
        strip: p.stripMetadata,
        bg: p.fit === 'contain' || s.format === 'jpeg' ? p.background : undefined,
        pad: p.fit === 'contain' && s.format === 'jpeg' ? 'opaque' : undefined,
      }),
    );
    let source: Source | undefined;
    // The placeholder is kept in every output's record: a job whose outputs are all made
    // already answers from the records, and decodes the input only when none has it.
    let placeholder: Placeholder | undefined;
    const withoutPlaceholder: number[] = [];
    for (const [i, s] of p.sizes.entries()) {
      const fresh = await out.fresh<OutputInfo>(outputName(base, s), input, keys[i]!);
      if (fresh) {
        outputs[i] = { ...fresh.output, skipped: true };
        source = fresh.source;
        if (fresh.placeholder) placeholder = fresh.placeholder;
        else withoutPlaceholder.push(i);
      } else todo.push(i);
    }
    const result = (src: Source): ThumbnailResult => ({
      input: p.input,
      ...src,
      outputs,
      srcset: srcsets(
        outputs.map((o, i) => ({ name: path.basename(o.path), width: o.width, format: o.format, asked: p.sizes[i]!.width })),
        p.urlPrefix,
      ),
      ...(p.placeholder && placeholder ? { placeholder } : {}),
    });
    if (todo.length === 0 && source && (!p.placeholder || placeholder)) {
      ctx.progress(p.sizes.length, p.sizes.length);
      return result(source);
    }

    const load = await loadSharp();
    // Every pipeline stops at the job's deadline (libvips checks it as it computes, so a decode
    // that cannot watch the signal still ends, and ends its use of the job's slot): the Worker
    // fails the job at the deadline, and sharp's timeout, in whole seconds, follows it.
    const sharp = (input: string | Buffer, options?: sharp.SharpOptions): Sharp => {
      const img = load(input, options);
      return ctx.deadline === undefined ? img : img.timeout({ seconds: Math.max(1, Math.ceil((ctx.deadline - performance.now()) / 1000)) });
    };
    // Every sharp call goes through decode(), and nothing else does: what sharp throws is about
    // the image (GT_MEDIA_INVALID, not worth a retry); a failed write is an fs error with its
    // own code (ENOSPC, EACCES) and goes out as it is, so a background job may be retried.
    const decode = async <T>(work: () => Promise<T>): Promise<T> => {
      try {
        return await work();
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const e = mediaError(file, err);
        if (!e.message.endsWith(UNKNOWN)) throw e;
        // libvips has one error buffer for the process (lovell/sharp#902): when two decodes
        // fail at once, one may read it empty (13 of 120 truncated-JPEG failures, two jobs at a
        // time). Decoding again alone is cheap on this path and names the reason.
        const again = await sharp(use, { failOn: 'truncated', limitInputPixels: false, sequentialRead: true })
          .raw()
          .toBuffer()
          .then(
            () => e,
            (err2: unknown) => mediaError(file, err2),
          );
        throw again.message.endsWith(UNKNOWN) ? e : again;
      }
    };
    const meta = await decode(() => sharp(use, { limitInputPixels: false }).metadata());
    const pages = meta.pages ?? 1;
    const frameHeight = meta.pageHeight ?? meta.height ?? 0;
    const w = meta.width ?? 0;
    const animated = pages > 1 && (meta.format === 'gif' || meta.format === 'webp');
    // The limit is on pixels decoded, read from the header before any decode: every frame when
    // an animated output needs them all (a tiny GIF of thousands of 1×1 frames on a large
    // screen decodes a full screen per frame), else the first.
    const frames = animated && todo.some((i) => ANIMATED_OUT.has(p.sizes[i]!.format)) ? pages : 1;
    const pixels = w * frameHeight * frames;
    if (pixels > maxPixels) {
      throw gtError(
        'GT_MEDIA_TOO_LARGE',
        file,
        `${w}×${frameHeight}${frames > 1 ? ` × ${frames} frames` : ''} = ${pixels} pixels`,
        `${maxPixels} pixels (raise it with --max-pixels)`,
      );
    }
    const upright = meta.orientation !== undefined && meta.orientation >= 5;
    const src: Source = { width: upright ? frameHeight : w, height: upright ? w : frameHeight, format: meta.format ?? 'unknown' };

    // failOn 'truncated', the least strict level that refuses fixtures/bad/truncated.jpg ('none'
    // decodes it without a word); a broken header fails at every level. Tried with
    // sharp 0.34.5: 64 bytes overwritten mid-scan decode at every level, 'warning' included, so
    // the stricter levels buy nothing here and would refuse files browsers show.
    // libvips holds the same limit (an animation is read as one strip of `pages` frames).
    const opts = { failOn: 'truncated' as const, limitInputPixels: maxPixels };
    const animOpts = { ...opts, animated: true };
    const scale = decodeScale(
      src,
      todo.map((i) => p.sizes[i]!),
      p.fit,
    );
    const needsInput = (s: Size): boolean => !p.stripMetadata || (animated && ANIMATED_OUT.has(s.format));
    // One decode, rotated, in sRGB, shrunk once to what the largest output needs; every output
    // is resized from that raw buffer. Measured on 2 cores (CPU time per image, 320w
    // webp + 640w webp + 1280w jpeg, median of 11): 24 MP JPEG 187 ms against 231 ms with a
    // pipeline clone()d per output (each clone decodes the file again, shrink-on-load or not);
    // 1.7 MP 167 ms against 189 ms. bench/thumbnail.ts races the two. The raw buffer carries no
    // metadata, which is also what strips it; keeping metadata (stripMetadata: false) or an
    // animation needs the input itself per output.
    const decoded = todo.some((i) => !needsInput(p.sizes[i]!))
      ? await decode(() =>
          sharp(use, opts)
            .rotate()
            .resize({ width: Math.max(1, Math.round(src.width * scale)), height: Math.max(1, Math.round(src.height * scale)), fit: 'fill' })
            .toColourspace('srgb')
            .raw()
            .toBuffer({ resolveWithObject: true }),
        )
      : undefined;
    if (p.placeholder && !placeholder) {
      // From the decoded buffer when there is one (no second decode), else from the input shrunk
      // on load. It costs 2.8–3.8 ms CPU per image, 1.6–2.4% of a 320w + 640w webp + 1280w jpeg
      // job on a 24 MP and a 2 MP JPEG (bench/placeholder.ts, 12 JPEGs of 2–24 MP: 1.047×).
      const img = decoded
        ? sharp(decoded.data, { raw: { width: decoded.info.width, height: decoded.info.height, channels: decoded.info.channels } })
        : sharp(use, opts).rotate().toColourspace('srgb');
      placeholder = await decode(() => placeholderOf(img));
      // Outputs made without one get it in their record, so the next job need not decode.
      for (const i of withoutPlaceholder) {
        const { skipped: _, ...output } = outputs[i]!;
        await out.record(outputName(base, p.sizes[i]!), input, keys[i]!, { output, source: src, placeholder } satisfies OutputInfo, ctx.signal);
      }
    }
    let done = p.sizes.length - todo.length;
    const makeOne = async (i: number): Promise<void> => {
      const s = p.sizes[i]!;
      const name = outputName(base, s);
      const anim = animated && ANIMATED_OUT.has(s.format);
      let img: Sharp;
      if (needsInput(s)) {
        img = sharp(use, anim ? animOpts : opts).rotate();
        if (!p.stripMetadata) img = img.keepMetadata();
      } else {
        const { data, info } = decoded!;
        img = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
      }
      // From the shrunk buffer, `inside` gets the dimensions sharp would give from the source
      // (rounding twice could make 1600×1067 → 320×214 instead of 320×213).
      const dims = insideDims(src, s);
      const resize =
        !needsInput(s) && (p.fit === 'inside' || s.height === undefined)
          ? { ...dims, fit: 'fill' as const }
          : resizeOptions(s, p.fit, p.background, p.position);
      const encoder = encode(img.resize(resize).toColourspace('srgb'), s, p.background);
      // Encoded in memory (a thumbnail is small), then written: a sharp failure is the image's.
      const { data, info } = await decode(() => encoder.toBuffer({ resolveWithObject: true }));
      await out.write(name, (tmp) => writeFile(tmp, data), ctx.signal);
      const height = anim ? (info.pageHeight ?? info.height) : info.height;
      const output: ThumbnailOutput = {
        path: out.file(name),
        width: info.width,
        height,
        format: s.format,
        bytes: info.size,
        ...(anim ? { animated: true as const } : {}),
      };
      await out.record(name, input, keys[i]!, { output, source: src, ...(placeholder ? { placeholder } : {}) } satisfies OutputInfo, ctx.signal);
      outputs[i] = output;
      ctx.progress(++done, p.sizes.length);
    };
    // Two outputs of a job are encoded at once (OUTPUTS_IN_FLIGHT). One at a time, two jobs
    // kept 1.69 of 2 cores busy and only matched the plain sharp loop (0.91–0.99× in
    // bench/thumbnail.ts and paired runs of 12 photos); two at a time, 1.78 cores and
    // 1.06–1.14× (bench/thumbnail.ts --reps 3: 11.75 against 10.89 images/s). The signal is
    // checked before each output; after a failure no new output starts, and the job settles
    // only when the one still encoding has ended (no write after the job is over).
    const errors: unknown[] = [];
    await runLimited(
      todo,
      OUTPUTS_IN_FLIGHT,
      async (i) => {
        if (ctx.signal.aborted) errors.push(ctx.signal.reason);
        else await makeOne(i).catch((err: unknown) => errors.push(err));
      },
      { stop: () => errors.length > 0 },
    );
    // When both fail at once, report the one whose reason survived libvips' shared error buffer.
    if (errors.length > 0) throw errors.find((e) => !(e instanceof GeartrainError && e.message.endsWith(UNKNOWN))) ?? errors[0];
    return result(src);
  }
};
