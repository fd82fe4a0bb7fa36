// Decode the first audio stream of a local file to 16-bit mono PCM, streamed from ffmpeg's
// stdout to a callback: the audio is never written to disk nor held whole in memory.

import { spawn } from 'node:child_process';
import { gtError } from '../errors.js';
import { type Binaries, INPUT_HARDENING, lastMeaningfulLine, launch } from './ffmpeg.js';

export interface DecodeOptions {
  /** Aborting it kills ffmpeg; the decode rejects with its reason. */
  signal: AbortSignal;
  /** Kill ffmpeg past this; GT_FFMPEG_FAILED. */
  timeoutMs: number;
  /** More samples than this kill ffmpeg; GT_MEDIA_TOO_LARGE naming `limitText`. */
  maxSamples: number;
  limitText: string;
  /** Called with each run of samples in order; the array is reused after the call returns. */
  onSamples(samples: Int16Array): void;
  /** Names the file in messages. @defaultValue the file */
  label?: string;
  /** Input options before `-i`: the demuxer the probe found (`['-f', 'mov']`). @defaultValue [] */
  inputArgs?: readonly string[];
}

/** Most stderr kept for the failure message. */
const STDERR_KEEP = 64 * 1024;

/**
 * Run `ffmpeg -i FILE -map 0:a:0 -ac 1 -f s16le pipe:1` and hand the samples on as they come, at
 * the stream's own sample rate (resampling would smooth the peaks). Resolves with the number of
 * samples. An input ffmpeg cannot decode fails with GT_MEDIA_INVALID and its last stderr line.
 */
export function decodePcm(bin: Binaries, file: string, opts: DecodeOptions): Promise<number> {
  const label = opts.label ?? file;
  if (opts.signal.aborted) return Promise.reject(opts.signal.reason as Error);
  const args = [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-v',
    'error',
    ...INPUT_HARDENING,
    ...(opts.inputArgs ?? []),
    '-i',
    file,
    '-map',
    '0:a:0',
    '-vn',
    '-ac',
    '1',
    '-c:a',
    'pcm_s16le',
    '-f',
    's16le',
    'pipe:1',
  ];
  return new Promise<number>((resolve, reject) => {
    const [cmd, argv] = launch(bin, bin.ffmpeg, args);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stopped: Error | null = null;
    let stderr = '';
    let samples = 0;
    /** An odd byte left from the last chunk: a sample split across two reads. */
    let carry: number | null = null;
    const stop = (reason: Error): void => {
      if (stopped) return;
      stopped = reason;
      // Nothing is being written that SIGTERM would let ffmpeg finish: the samples go to us.
      child.kill('SIGKILL');
    };
    const onAbort = (): void => stop(opts.signal.reason as Error);
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const deadline = setTimeout(() => stop(gtError('GT_FFMPEG_FAILED', label, `killed after the ${opts.timeoutMs} ms timeout`)), opts.timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => {
      if (stopped) return;
      let buf = chunk;
      if (carry !== null) {
        buf = Buffer.concat([Buffer.from([carry]), chunk]);
        carry = null;
      }
      if (buf.length % 2 === 1) {
        carry = buf[buf.length - 1]!;
        buf = buf.subarray(0, buf.length - 1);
      }
      const n = buf.length / 2;
      if (n === 0) return;
      samples += n;
      if (samples > opts.maxSamples) return stop(gtError('GT_MEDIA_TOO_LARGE', label, 'its audio', opts.limitText));
      // A view when the bytes are 2-aligned (the usual case), else a copy. s16le read in the
      // machine's order: every platform Node.js ships for is little-endian.
      const view = buf.byteOffset % 2 === 0 ? new Int16Array(buf.buffer, buf.byteOffset, n) : new Int16Array(Uint8Array.from(buf).buffer);
      opts.onSamples(view);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_KEEP);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') stop(gtError('GT_FFMPEG_NOT_FOUND', `ffmpeg at ${bin.ffmpeg}`));
      else stop(err);
    });
    child.on('close', (code) => {
      clearTimeout(deadline);
      opts.signal.removeEventListener('abort', onAbort);
      if (stopped) return reject(stopped);
      if (code !== 0)
        return reject(
          gtError('GT_MEDIA_INVALID', label, 'audio file', (lastMeaningfulLine(stderr, file) || `ffmpeg exited with code ${code}`).split(file).join(label)),
        );
      resolve(samples);
    });
  });
}
