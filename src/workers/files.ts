// File handling every media worker shares: atomic outputs (a temp file in the output folder's
// `.geartrain/tmp/`, then a rename) and "already made" records in `.geartrain/`, so a job run
// again for the same input and options writes nothing. Every folder and file here is reached
// through an OutputPlace (paths.ts): under the allowed folders, never through a link.

import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AllowedPaths, type DirHandle, type InputFile, type OutputPlace } from './paths.js';

/**
 * Throw GT_PATH_NOT_ALLOWED unless `p` (its real path, or its nearest existing ancestor's) lies
 * inside one of `roots` (no check when roots is empty). For callers that hand the folder on to
 * workers, which open it under the same rule.
 */
export function checkAllowed(what: string, p: string, roots: readonly string[] | undefined): string {
  return new AllowedPaths(roots).checkPath(what, p);
}

/**
 * A temp path beside `final`, keeping its extension. For files outside any job's output folder
 * (the outbox, run state), which the operator chooses.
 */
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

/**
 * Temp files start with `PID.RUN.HOST.`: a later job in the same folder removes those of a
 * process that is gone (killed mid-write, its ffmpeg with it), and only those. RUN tells this
 * process from an earlier one with the same pid (a restarted container); HOST keeps hands off
 * the temp files of another machine sharing the folder.
 */
const RUN = randomBytes(4).toString('hex');
const HOST = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
const TEMP_PREFIX = `${process.pid}.${RUN}.${HOST}.`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a temp file was left by a process of this host that no longer runs. */
function abandoned(name: string): boolean {
  const [pid, run, host] = name.split('.', 3);
  if (host !== HOST || !/^\d+$/.test(pid ?? '')) return false;
  return Number(pid) === process.pid ? run !== RUN : !alive(Number(pid));
}

const NOFOLLOW_READ = fsc.O_RDONLY | fsc.O_NOFOLLOW;

/**
 * Open a media job's input (a non-empty regular file of at most `maxBytes`) and its output
 * folder under the allowed-folder rule, run `work` with them, and close both.
 */
export async function withJobFiles<T>(
  allowed: AllowedPaths,
  job: { input: string; outDir: string },
  maxBytes: number | undefined,
  work: (input: InputFile, out: OutputFolder) => Promise<T>,
): Promise<T> {
  const input = await allowed.input('Input', job.input, { media: true, ...(maxBytes !== undefined ? { maxBytes } : {}) });
  let out: OutputFolder | undefined;
  try {
    out = new OutputFolder(await allowed.outputDir('Output folder', job.outDir));
    return await work(input, out);
  } finally {
    await out?.close();
    await input.close();
  }
}

/** Where a job writes: outputs, their records and temp files, all under one checked folder. */
export class OutputFolder {
  private tmp: Promise<DirHandle> | undefined;
  private records: Promise<DirHandle> | undefined;

  constructor(private readonly place: OutputPlace) {}

  /** The path of output `name` as the result reports it. */
  file(name: string): string {
    return path.join(this.place.path, name);
  }

  /**
   * Make output `name` atomically: `produce` writes the temp path it is given (already created,
   * empty); on success it is renamed to `name`, on any failure removed. Past `signal` nothing is
   * renamed: a job that has ended leaves no output. Resolves to the written file's stats.
   */
  async write(name: string, produce: (tmp: string) => Promise<void>, signal?: AbortSignal): Promise<Stats> {
    signal?.throwIfAborted();
    return this.commit(await this.place.enter(), name, produce, signal);
  }

  /**
   * Make output folder `name` atomically: `produce` fills the empty temp folder it is given
   * (its own name holds no `%`, whatever `name` holds, so it can go into an ffmpeg output
   * pattern); on success the folder is
   * renamed to `name`, replacing an earlier one, on any failure removed with all it holds. The
   * folder appears complete or not at all.
   */
  async writeFolder(name: string, produce: (tmp: string) => Promise<void>, signal?: AbortSignal): Promise<Stats> {
    signal?.throwIfAborted();
    return this.commit(await this.place.enter(), name, produce, signal, true);
  }

  /** Write `produce`'s temp file (or folder), then rename it to `name` in `target` (unless `signal` ended the job). */
  private async commit(target: DirHandle, name: string, produce: (tmp: string) => Promise<void>, signal?: AbortSignal, folder = false): Promise<Stats> {
    // Assigned before any await: two writes resumed in the same turn must not open two folders.
    const tmpDir = await (this.tmp ??= this.place.enter().then((dir) => this.tempFolder(dir)));
    const tmpName = (suffix: string): string => path.join(tmpDir.use, `${TEMP_PREFIX}${randomBytes(4).toString('hex')}${suffix}`);
    const tmp = tmpName(folder ? '' : `.${name}`);
    try {
      if (folder) await mkdir(tmp);
      else await (await open(tmp, 'wx')).close();
      await produce(tmp);
      const written = await lstat(tmp);
      signal?.throwIfAborted();
      const final = path.join(target.use, name);
      await rename(tmp, final).catch(async (err: NodeJS.ErrnoException) => {
        // rename() replaces a file but not a folder that holds files: the old folder is moved
        // into the temp folder first, then removed.
        if (!folder || (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST')) throw err;
        const old = tmpName('');
        await rename(final, old);
        await rename(tmp, final).catch(async (e: unknown) => {
          await rename(old, final);
          throw e;
        });
        await rm(old, { recursive: true, force: true });
      });
      return written;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** `.geartrain/tmp/`, cleared of what dead processes left there. */
  private async tempFolder(dir: DirHandle): Promise<DirHandle> {
    const tmp = await (await this.recordFolder(dir)).sub('tmp');
    for (const name of await readdir(tmp.use)) if (abandoned(name)) await rm(path.join(tmp.use, name), { recursive: true, force: true });
    return tmp;
  }

  private recordFolder(dir: DirHandle): Promise<DirHandle> {
    return (this.records ??= dir.sub('.geartrain'));
  }

  /**
   * The info recorded when output `name` was made, if it is still up to date: same input file
   * (path, size, mtime), same options, and the output untouched since. Otherwise undefined.
   */
  async fresh<T>(name: string, input: InputFile, options: string): Promise<T | undefined> {
    const dir = this.place.existing;
    if (!dir) return undefined;
    // Opened here only while no write has opened it for the folder's life; then closed here.
    const own = this.records === undefined;
    const records = own ? await dir.existingSub('.geartrain') : await this.records;
    if (!records) return undefined;
    try {
      const rec = JSON.parse(await readFile(path.join(records.use, `${name}.json`), { encoding: 'utf8', flag: NOFOLLOW_READ })) as OutputRecord;
      const out = await lstat(path.join(dir.use, name));
      const same =
        (out.isFile() || out.isDirectory()) &&
        rec.input === input.path &&
        rec.inputSize === input.stat.size &&
        rec.inputMtimeMs === input.stat.mtimeMs &&
        rec.options === options &&
        rec.outputSize === out.size &&
        rec.outputMtimeMs === out.mtimeMs;
      return same ? (rec.info as T) : undefined;
    } catch {
      return undefined;
    } finally {
      if (own) await records.close();
    }
  }

  /** Remember that output `name` was made from `input` with `options` (written atomically too). */
  async record(name: string, input: InputFile, options: string, info: unknown, signal?: AbortSignal): Promise<void> {
    const dir = await this.place.enter();
    const out: Stats = await lstat(path.join(dir.use, name));
    const rec: OutputRecord = {
      input: input.path,
      inputSize: input.stat.size,
      inputMtimeMs: input.stat.mtimeMs,
      options,
      outputSize: out.size,
      outputMtimeMs: out.mtimeMs,
      info,
    };
    await this.commit(await this.recordFolder(dir), `${name}.json`, (tmp) => writeFile(tmp, JSON.stringify(rec)), signal);
  }

  async close(): Promise<void> {
    const opened = await Promise.all([this.tmp, this.records].map((p) => p?.catch(() => undefined)));
    for (const d of opened) await d?.close();
    await this.place.close();
  }
}
