// Turning `pipeline run NAME INPUT` into a run's input: a folder's files (recursively, the
// output folder and hidden folders left out), one file, or JSON; and the checks that keep a
// run from writing anywhere but its output folder.

import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { gtError } from '../errors.js';
import type { InputFile, PipelineDef, SkippedInput } from './types.js';

export type { InputFile };

/** The fields of an InputFile, for checking `item.…` and `input.…` in pipeline files. */
export const INPUT_FILE_FIELDS = ['path', 'rel', 'dir', 'name', 'ext', 'outputBase', 'size', 'mtimeMs'] as const satisfies readonly (keyof InputFile)[];

export interface ResolvedInput {
  /** What steps see as `input`. */
  value: unknown;
  /** For the run's id and record: the absolute path, or the JSON. */
  spec: unknown;
  skipped: SkippedInput[];
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function fileEntry(abs: string, root: string, size: number, mtimeMs: number): InputFile {
  const rel = path.relative(root, abs) || path.basename(abs);
  const ext = path.extname(abs).toLowerCase();
  const dir = path.dirname(rel);
  const name = path.basename(abs, path.extname(abs));
  return { path: abs, rel, dir: dir === '.' ? '' : dir, name, ext, outputBase: name, size, mtimeMs };
}

/**
 * Give every file whose name without extension it shares with another in the same folder
 * (ignoring case, so the outputs stay apart on a case-insensitive disk too) its whole base
 * name as the base of its outputs: `cover.jpg-320w.webp` beside `cover.png-320w.webp`.
 */
function separateOutputNames(files: InputFile[]): void {
  const groups = new Map<string, InputFile[]>();
  for (const f of files) {
    const key = `${f.dir}\0${f.name.toLowerCase()}`;
    const group = groups.get(key);
    if (group) group.push(f);
    else groups.set(key, [f]);
  }
  for (const group of groups.values()) if (group.length > 1) for (const f of group) f.outputBase = path.basename(f.path);
}

async function walk(root: string, dir: string, out: string, exts: readonly string[] | undefined, files: InputFile[], skipped: SkippedInput[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const abs = path.join(dir, e.name);
    if (e.name.startsWith('.')) continue; // .geartrain state, editor and OS files
    if (e.isDirectory()) {
      if (!inside(abs, out)) await walk(root, abs, out, exts, files, skipped);
      continue;
    }
    const rel = path.relative(root, abs);
    if (!e.isFile()) {
      skipped.push({ path: rel, reason: 'not a regular file' });
      continue;
    }
    const ext = path.extname(e.name).toLowerCase();
    if (exts && !exts.includes(ext)) {
      skipped.push({ path: rel, reason: `not media this pipeline takes (${ext || 'no extension'}; takes ${exts.join(' ')})` });
      continue;
    }
    try {
      const st = await stat(abs);
      files.push(fileEntry(abs, root, st.size, st.mtimeMs));
    } catch (err) {
      skipped.push({ path: rel, reason: `unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  }
}

/**
 * Read INPUT as the pipeline says. A folder must exist and hold at least one item, and `out`
 * must not lie inside it (the run would read its own outputs).
 */
export async function resolveInput(def: PipelineDef, input: string, out: string): Promise<ResolvedInput> {
  if (def.input === 'json') {
    try {
      const value: unknown = JSON.parse(input);
      return { value, spec: value, skipped: [] };
    } catch {
      throw gtError('GT_PIPELINE_INVALID', def.name, `input must be JSON, received ${input.slice(0, 60)}`);
    }
  }
  const abs = path.resolve(input);
  const absOut = path.resolve(out);
  let st: Stats;
  try {
    st = await stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw gtError('GT_INPUT_NOT_FOUND', input, code === 'ENOENT' ? `no such ${def.input}` : `cannot read it (${code})`);
  }
  if (def.input === 'file') {
    if (!st.isFile()) throw gtError('GT_INPUT_NOT_FOUND', input, 'expected a file, found a folder');
    return { value: fileEntry(abs, path.dirname(abs), st.size, st.mtimeMs), spec: abs, skipped: [] };
  }
  if (!st.isDirectory()) throw gtError('GT_INPUT_NOT_FOUND', input, 'expected a folder, found a file');
  if (inside(absOut, abs)) {
    throw gtError('GT_PATH_NOT_ALLOWED', 'Output folder', out, `it is inside the input folder ${input}; choose an --out outside it`);
  }
  const files: InputFile[] = [];
  const skipped: SkippedInput[] = [];
  try {
    await walk(abs, abs, absOut, def.extensions, files, skipped);
  } catch (err) {
    throw gtError('GT_INPUT_NOT_FOUND', input, `cannot list it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (files.length === 0) {
    const what = def.extensions ? `no files ending in ${def.extensions.join(' ')}` : 'no files';
    throw gtError('GT_INPUT_NOT_FOUND', input, `${what}${skipped.length ? ` (${skipped.length} other files skipped)` : ''}`);
  }
  separateOutputNames(files);
  return { value: { dir: abs, files }, spec: abs, skipped };
}
