// The plain sharp script a user writes instead of geartrain: every JPEG under a folder, three
// outputs each (320w WebP, 640w WebP, 1280w JPEG), EXIF rotation, `clone()` per output, N images
// in flight, the folder tree mirrored.  node plain-thumbnails.mjs IN OUT [N]
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

const [input = '', out = '', n = '2'] = process.argv.slice(2);
if (!input || !out) {
  console.error('usage: node plain-thumbnails.mjs IN OUT [N]');
  process.exit(2);
}
const SIZES = [
  { width: 320, format: 'webp' },
  { width: 640, format: 'webp' },
  { width: 1280, format: 'jpeg' },
];
const files = readdirSync(input, { recursive: true, encoding: 'utf8' }).filter((f) => /\.jpe?g$/i.test(f));
let next = 0;
async function lane() {
  while (next < files.length) {
    const rel = files[next++];
    if (rel === undefined) break;
    const dir = path.join(out, path.dirname(rel));
    mkdirSync(dir, { recursive: true });
    const img = sharp(path.join(input, rel)).rotate();
    await Promise.all(
      SIZES.map((s) => {
        const resized = img.clone().resize({ width: s.width, withoutEnlargement: true });
        const name = path.join(dir, `${path.basename(rel, path.extname(rel))}-${s.width}w.${s.format === 'jpeg' ? 'jpg' : 'webp'}`);
        return (s.format === 'jpeg' ? resized.jpeg({ quality: 80, mozjpeg: true }) : resized.webp({ quality: 80 })).toFile(name);
      }),
    );
  }
}
await Promise.all(Array.from({ length: Number(n) }, lane));
