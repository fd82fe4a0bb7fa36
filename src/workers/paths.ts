// The allowed-folder rule (`--allow-path`) for every file a worker touches: inputs, output
// folders, temp files, records and attachments. A path is judged by what it really is, links
// resolved, and then used through the descriptor that was checked, so a link swapped in after
// the check cannot redirect the read or the write. On Linux the descriptor is handed to sharp,
// ffmpeg and nodemailer as `/proc/PID/fd/N`, which opens that very file again.

import { existsSync, constants as fsc, realpathSync, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { gtError } from '../errors.js';

/** Whether descriptors can be named by path (`/proc/PID/fd/N`); elsewhere the checked real path is used. */
const PROC_FD = process.platform === 'linux' && existsSync(`/proc/${process.pid}/fd`);
const fdPath = (fd: number): string => `/proc/${process.pid}/fd/${fd}`;

/** A directory is entered without following a link in its last component (ELOOP when it is one). */
const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY;
const DIR_NOFOLLOW = DIR_FLAGS | fsc.O_NOFOLLOW;
/** O_NONBLOCK: opening a FIFO must not hang the job; it is then refused as not a regular file. */
const INPUT_FLAGS = fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY;

function inside(real: string, roots: readonly string[]): boolean {
  return roots.some((root) => {
    const rel = path.relative(root, real);
    return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
  });
}

/** The real path of `p` when it exists, else of its nearest existing ancestor with the rest appended. */
function realTarget(p: string): string {
  const rest: string[] = [];
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    try {
      return path.join(realpathSync(at), ...rest);
    } catch {
      if (at === path.dirname(at)) return path.resolve(p);
      rest.unshift(path.basename(at));
    }
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function missing(p: string, err: unknown): Error {
  const code = errnoCode(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') return gtError('GT_INPUT_NOT_FOUND', p, 'no such file');
  if (code === 'EACCES') return gtError('GT_INPUT_NOT_FOUND', p, 'permission denied');
  if (code === 'ELOOP') return gtError('GT_INPUT_NOT_FOUND', p, 'too many levels of symbolic links');
  return err as Error;
}

/** An input opened for a job: read it through `use`, then close() it. */
export interface InputFile {
  /** The path as the payload gave it, made absolute: for messages, results and records. */
  readonly path: string;
  /** What libraries and child processes open: the checked descriptor (`/proc/PID/fd/N`) or the checked real path. */
  readonly use: string;
  readonly stat: Stats;
  close(): Promise<void>;
}

/** A directory entered under the rule; files are made inside it through `use`. */
export interface DirHandle {
  /** The folder as the payload gave it, made absolute. */
  readonly path: string;
  /** Names the opened directory: `${use}/NAME` is NAME inside the very folder that was checked. */
  readonly use: string;
  /** A subfolder, made when missing; a link there is refused. */
  sub(name: string): Promise<DirHandle>;
  /** A subfolder if it exists (undefined when not); a link there is refused. */
  existingSub(name: string): Promise<DirHandle | undefined>;
  close(): Promise<void>;
}

class OpenedDir implements DirHandle {
  readonly use: string;
  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    real: string,
    private readonly what: string,
  ) {
    this.use = PROC_FD ? fdPath(handle.fd) : real;
  }

  async sub(name: string): Promise<DirHandle> {
    await mkdir(path.join(this.use, name)).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err;
    });
    const dir = await this.existingSub(name);
    if (!dir) throw new Error(`ENOENT: ${path.join(this.path, name)} was removed while it was being entered`);
    return dir;
  }

  async existingSub(name: string): Promise<DirHandle | undefined> {
    const shown = path.join(this.path, name);
    let handle: FileHandle;
    try {
      handle = await open(path.join(this.use, name), DIR_NOFOLLOW);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return undefined;
      // A link fails O_DIRECTORY | O_NOFOLLOW with ELOOP or ENOTDIR, depending on the kernel.
      if ((code === 'ELOOP' || code === 'ENOTDIR') && (await lstat(path.join(this.use, name)).catch(() => undefined))?.isSymbolicLink()) {
        throw gtError('GT_PATH_NOT_ALLOWED', this.what, shown, 'it is a symbolic link');
      }
      throw err;
    }
    return new OpenedDir(shown, handle, PROC_FD ? '' : path.join(this.use, name), this.what);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/**
 * The folders jobs may read from and write to, by their real paths. With no folder given every
 * path is allowed, and inputs and outputs still go through the same opened descriptors.
 */
export class AllowedPaths {
  private readonly roots: readonly string[];

  constructor(roots: readonly string[] | undefined) {
    this.roots = roots ?? [];
  }

  /** Throw GT_PATH_NOT_ALLOWED unless `real` (what `given` really is) lies inside an allowed folder. */
  private check(what: string, given: string, real: string): void {
    if (this.roots.length === 0) return;
    if (inside(real, this.roots.map(realTarget))) return;
    const where = `outside the allowed folders (${this.roots.join(', ')})`;
    throw gtError('GT_PATH_NOT_ALLOWED', what, given, real === path.resolve(given) ? `it is ${where}` : `it resolves to ${real}, ${where}`);
  }

  /**
   * Check a path without opening anything (the pipeline worker's output folder, before its steps
   * open it themselves): the real path of the path or of its nearest existing ancestor.
   */
  checkPath(what: string, p: string): string {
    this.check(what, p, realTarget(p));
    return path.resolve(p);
  }

  /**
   * Open an input: a regular file inside the allowed folders, checked by the descriptor that is
   * then read. Throws GT_INPUT_NOT_FOUND, GT_PATH_NOT_ALLOWED, GT_MEDIA_TOO_LARGE past
   * `maxBytes`, and GT_MEDIA_INVALID when a `media` file is empty.
   */
  async input(what: string, p: string, opts: { maxBytes?: number; media?: boolean } = {}): Promise<InputFile> {
    const maxBytes = opts.maxBytes ?? Infinity;
    const abs = path.resolve(p);
    // Judged by its real path first, so a file outside (a FIFO, a device) is never opened; then by
    // what was opened, which is what gets read.
    this.check(what, p, await realpath(abs).catch((err: unknown) => Promise.reject(missing(p, err))));
    const handle = await open(abs, INPUT_FLAGS).catch((err: unknown) => Promise.reject(missing(p, err)));
    try {
      const real = PROC_FD ? await readlink(fdPath(handle.fd)) : await realpath(abs);
      this.check(what, p, real);
      const stat = await handle.stat();
      if (!stat.isFile()) throw gtError('GT_INPUT_NOT_FOUND', p, 'not a regular file');
      if (stat.size > maxBytes) throw gtError('GT_MEDIA_TOO_LARGE', p, `${stat.size} bytes`, `${maxBytes} bytes (raise it with --max-file-size)`);
      if (opts.media && stat.size === 0) throw gtError('GT_MEDIA_INVALID', p, 'media file', 'the file is empty');
      return { path: abs, use: PROC_FD ? fdPath(handle.fd) : real, stat, close: () => handle.close() };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * An output folder, checked now and made when first written to. The nearest existing ancestor
   * is opened and checked by its descriptor; each missing folder is later made inside it and
   * entered without following links, so nothing is made or written outside.
   */
  async outputDir(what: string, p: string): Promise<OutputPlace> {
    const abs = path.resolve(p);
    const rest: string[] = [];
    let base = abs;
    let handle: FileHandle;
    for (;;) {
      try {
        handle = await open(base, DIR_FLAGS);
        break;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT' || base === path.dirname(base)) throw err;
        rest.unshift(path.basename(base));
        base = path.dirname(base);
      }
    }
    try {
      const real = PROC_FD ? await readlink(fdPath(handle.fd)) : await realpath(base);
      this.check(what, p, path.join(real, ...rest));
      return new OutputPlace(abs, new OpenedDir(base, handle, real, what), rest);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}

/** A checked output folder that may not exist yet. */
export class OutputPlace {
  private made: Promise<DirHandle> | undefined;

  constructor(
    /** The folder as the payload gave it, made absolute. */
    readonly path: string,
    private readonly base: DirHandle,
    private readonly missing: readonly string[],
  ) {
    if (missing.length === 0) this.made = Promise.resolve(base);
  }

  /** The folder when it already exists (nothing is made). */
  get existing(): DirHandle | undefined {
    return this.missing.length === 0 ? this.base : undefined;
  }

  /** The folder, made on the first call. */
  enter(): Promise<DirHandle> {
    this.made ??= (async () => {
      let dir = this.base;
      for (const name of this.missing) {
        const parent = dir;
        try {
          dir = await parent.sub(name);
        } finally {
          await parent.close();
        }
      }
      return dir;
    })();
    return this.made;
  }

  async close(): Promise<void> {
    if (!this.made) return this.base.close();
    const dir = await this.made.catch(() => undefined);
    await dir?.close();
  }
}
