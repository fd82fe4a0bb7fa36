// File handling every media worker shares: input checks, allowed folders, atomic outputs
// (temp file in the same folder, then rename) and "already made" records, so a job run again
// for the same input and options writes nothing.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { gtError } from '../errors.js';

/** Stat an input file: it must exist, be a regular file, and be no larger than `maxBytes`. */
export async function inputFile(file: string, maxBytes = Infinity): Promise<Stats> {
  let st: Stats;
  try {
    st = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw gtError('GT_INPUT_NOT_FOUND', file, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code));
  }
  if (!st.isFile()) throw gtError('GT_INPUT_NOT_FOUND', file, 'not a regular file');
  if (st.size > maxBytes) throw gtError('GT_MEDIA_TOO_LARGE', file, `${st.size} bytes`, `${maxBytes} bytes (raise it with --max-file-size)`);
  if (st.size === 0) throw gtError('GT_MEDIA_INVALID', file, 'media file', 'the file is empty');
  return st;
}

/** Throw GT_PATH_NOT_ALLOWED unless `p` lies inside one of `roots` (no check when roots is empty). */
export function checkAllowed(what: string, p: string, roots: readonly string[] | undefined): string {
  const abs = path.resolve(p);
  if (!roots || roots.length === 0) return abs;
  for (const root of roots) {
    const rel = path.relative(path.resolve(root), abs);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return abs;
  }
  throw gtError('GT_PATH_NOT_ALLOWED', what, p, `it is outside the allowed folders (${roots.join(', ')})`);
}

/** A temp path beside `final`, keeping its extension (ffmpeg picks the format from it). */
export function tempPathFor(final: string): string {
  const dir = path.dirname(final);
  const ext = path.extname(final);
  return path.join(dir, `.${path.basename(final, ext)}.${randomBytes(4).toString('hex')}.tmp${ext}`);
}

/**
 * Make `final` atomically: `produce` writes the temp path it is given; on success the temp file
 * is renamed over `final`, on any failure it is removed, so `final` is never half-written.
 */
export async function writeAtomic(final: string, produce: (tmp: string) => Promise<void>): Promise<void> {
  await mkdir(path.dirname(final), { recursive: true });
  const tmp = tempPathFor(final);
  try {
    await produce(tmp);
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Stable fingerprint of a job's options for one output. */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

interface OutputRecord {
  input: string;
  inputSize: number;
  inputMtimeMs: number;
  options: string;
  outputSize: number;
  outputMtimeMs: number;
  /** What the worker reported for the output (dimensions, format, …), returned again when fresh. */
  info: unknown;
}

function recordPath(output: string): string {
  return path.join(path.dirname(output), '.geartrain', `${path.basename(output)}.json`);
}

/**
 * The info recorded when `output` was made, if it is still up to date: same input file (path,
 * size, mtime), same options, and the output untouched since. Otherwise undefined.
 */
export async function freshOutput<T>(output: string, input: string, inputStat: Stats, options: string): Promise<T | undefined> {
  let rec: OutputRecord;
  let out: Stats;
  try {
    rec = JSON.parse(await readFile(recordPath(output), 'utf8')) as OutputRecord;
    out = await stat(output);
  } catch {
    return undefined;
  }
  const same =
    rec.input === path.resolve(input) &&
    rec.inputSize === inputStat.size &&
    rec.inputMtimeMs === inputStat.mtimeMs &&
    rec.options === options &&
    rec.outputSize === out.size &&
    rec.outputMtimeMs === out.mtimeMs;
  return same ? (rec.info as T) : undefined;
}

/** Remember that `output` was made from `input` with `options` (written atomically too). */
export async function recordOutput(output: string, input: string, inputStat: Stats, options: string, info: unknown): Promise<void> {
  const out = await stat(output);
  const rec: OutputRecord = {
    input: path.resolve(input),
    inputSize: inputStat.size,
    inputMtimeMs: inputStat.mtimeMs,
    options,
    outputSize: out.size,
    outputMtimeMs: out.mtimeMs,
    info,
  };
  await writeAtomic(recordPath(output), (tmp) => writeFile(tmp, JSON.stringify(rec)));
}
