// Media for the media benchmarks: photo-like JPEGs of 2 to 24 MP and a 10 s 720p clip, made once
// into the system temp folder from the committed fixtures (not committed themselves), and the
// "plain sharp loop" every thumbnail figure is compared with.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { BENCH_DIR } from './harness.js';

const CACHE = path.join(os.tmpdir(), 'geartrain-bench-media');

/** The thumbnail sizes of the `thumbnails` pipeline (and of the baseline loop). */
export const BENCH_SIZES = [
  { width: 320, format: 'webp' as const },
  { width: 640, format: 'webp' as const },
  { width: 1280, format: 'jpeg' as const },
];

/** 24 JPEGs cycling through 2, 6, 12 and 24 MP, in one folder. */
export async function benchImages(): Promise<string> {
  const dir = path.join(CACHE, 'images');
  if (existsSync(dir) && readdirSync(dir).length === 24) return dir;
  mkdirSync(dir, { recursive: true });
  const src = path.join(BENCH_DIR, '../fixtures/images/photo-landscape.jpg');
  const dims = [
    [1728, 1152],
    [3000, 2000],
    [4240, 2832],
    [6000, 4000],
  ] as const;
  for (let i = 0; i < 24; i++) {
    const [w, h] = dims[i % 4]!;
    await sharp(src)
      .resize(w, h, { fit: 'cover' })
      .modulate({ hue: i * 15 })
      .jpeg({ quality: 85 })
      .toFile(path.join(dir, `photo-${String(i).padStart(2, '0')}.jpg`));
  }
  return dir;
}

/**
 * 60 photo-like JPEGs as a camera roll looks: 2, 12 and 24 MP in turn, every fifth one portrait
 * (half of those upright pixels, half landscape pixels with EXIF orientation 6), with sensor-like
 * noise so they compress and decode as real photos do (a 24 MP file is about 5 MB), a third of them
 * in a nested folder. Made once into the temp folder; returns the folder and its files.
 */
export async function cameraRoll(): Promise<{ dir: string; files: string[] }> {
  const dir = path.join(CACHE, 'camera-roll');
  const count = 60;
  const nested = path.join(dir, '2026', 'trip');
  const name = (i: number): string => path.join(i % 4 === 3 ? nested : dir, `IMG_${String(1000 + i)}.jpg`);
  const files = Array.from({ length: count }, (_, i) => name(i));
  if (files.every((f) => existsSync(f))) return { dir, files };
  mkdirSync(nested, { recursive: true });
  const src = path.join(BENCH_DIR, '../fixtures/images/photo-large.jpg');
  const dims = [
    [1732, 1155],
    [4240, 2832],
    [6000, 4000],
  ] as const;
  // Gaussian-ish grain from a table (a sum of three uniforms), added in place: sharp's noise
  // generator and blend take minutes for 60 photos.
  const GRAIN = 1 << 16;
  const grain = Int8Array.from({ length: GRAIN }, () => Math.round((Math.random() + Math.random() + Math.random() - 1.5) * 14));
  for (let i = 0; i < count; i++) {
    const [w, h] = dims[i % 3]!;
    const portrait = i % 5 === 4;
    const exif = portrait && i % 10 === 9;
    // Upright portrait pixels, or landscape pixels a phone marks as rotated (EXIF 6).
    const [pw, ph] = portrait && !exif ? [h, w] : [w, h];
    const px = await sharp(src)
      .resize(pw, ph, { fit: 'cover' })
      .modulate({ hue: i * 6 })
      .removeAlpha()
      .raw()
      .toBuffer();
    for (let k = 0, g = i * 7919; k < px.length; k++, g = (g + 40_503) & (GRAIN - 1)) {
      const v = px[k]! + grain[g]!;
      px[k] = Math.max(0, Math.min(v, 255));
    }
    let img = sharp(px, { raw: { width: pw, height: ph, channels: 3 } });
    if (exif) img = img.withMetadata({ orientation: 6 });
    await img.jpeg({ quality: 90 }).toFile(files[i]!);
  }
  return { dir, files };
}

/** A 10 s 1280×720 clip with audio. */
export function benchClip(): string {
  const file = path.join(CACHE, 'clip-720p-10s.mp4');
  if (existsSync(file)) return file;
  mkdirSync(CACHE, { recursive: true });
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30:duration=10',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:duration=10',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    file,
  ]);
  return file;
}

/**
 * The plain loop a user would write without geartrain: sharp's multi-output idiom (one
 * instance, `.clone()` per output), two images in flight (the best setting on 2 cores, docs/benchmarks.md).
 */
export async function plainSharpLoop(files: string[], outDir: string, inFlight = 2): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++]!;
      const base = path.basename(file, path.extname(file));
      const img = sharp(file).rotate();
      await Promise.all(
        BENCH_SIZES.map((s) => {
          const out = img.clone().resize({ width: s.width, withoutEnlargement: true });
          return (s.format === 'jpeg' ? out.jpeg({ quality: 80, mozjpeg: true }) : out.webp({ quality: 80 })).toFile(
            path.join(outDir, `${base}-${s.width}w.${s.format === 'jpeg' ? 'jpg' : 'webp'}`),
          );
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

export function freshDir(name: string): string {
  const dir = path.join(CACHE, 'out', `${name}-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
