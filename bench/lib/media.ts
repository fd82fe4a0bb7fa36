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
  const dims = [[1728, 1152], [3000, 2000], [4240, 2832], [6000, 4000]] as const;
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

/** A 10 s 1280×720 clip with audio. */
export function benchClip(): string {
  const file = path.join(CACHE, 'clip-720p-10s.mp4');
  if (existsSync(file)) return file;
  mkdirSync(CACHE, { recursive: true });
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30:duration=10', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=10', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', file]);
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
          return (s.format === 'jpeg' ? out.jpeg({ quality: 80, mozjpeg: true }) : out.webp({ quality: 80 })).toFile(path.join(outDir, `${base}-${s.width}w.${s.format === 'jpeg' ? 'jpg' : 'webp'}`));
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
