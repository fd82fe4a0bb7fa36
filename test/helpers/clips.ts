// Short generated video clips for media tests: ffmpeg's testsrc2 pattern (moving, with a timer)
// and a tone, encoded fast.

import { execFileSync } from 'node:child_process';

export interface ClipOptions {
  /** No audio stream. */
  silent?: boolean;
  /** Rotation metadata, as a phone records a sideways clip (landscape pixels). */
  rotate?: number;
  /** @defaultValue 15 */
  fps?: number;
}

/** Write a `size` (`1280x720`) clip of `seconds` to `file` (an .mp4); returns `file`. */
export function makeClip(file: string, size: string, seconds: number, opts: ClipOptions = {}): string {
  const audio = opts.silent ? [] : ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`];
  const target = opts.rotate === undefined ? file : `${file}.plain.mp4`;
  const source = `testsrc2=size=${size}:rate=${opts.fps ?? 15}:duration=${seconds}`;
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    source,
    ...audio,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    ...(opts.silent ? [] : ['-c:a', 'aac']),
    target,
  ]);
  if (opts.rotate !== undefined) execFileSync('ffmpeg', ['-v', 'error', '-i', target, '-c', 'copy', '-metadata:s:v:0', `rotate=${opts.rotate}`, file]);
  return file;
}
