// What a folder holds, for tests that check nothing was left behind: every file below it, by
// its path relative to the folder (temp files live in OUTDIR/.geartrain/tmp/).

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** Every file (not folder) below `dir`, relative and sorted; none when `dir` does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)))
    .sort();
}

/** The temp files left below an output folder. */
export async function tempFiles(dir: string): Promise<string[]> {
  return (await filesUnder(dir)).filter((f) => f.startsWith(`.geartrain${path.sep}tmp${path.sep}`));
}

/** A fresh folder under the system temp folder, removed after the test. */
export async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
