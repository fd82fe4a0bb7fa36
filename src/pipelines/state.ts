// Where run records live: one JSON file per run in a folder, replaced atomically, so a run that
// is started again (or a pipeline worker taking over after a crash) finds what was done.

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomic } from '../workers/files.js';
import type { RunRecord } from './types.js';

export interface RunStore {
  load(id: string): Promise<RunRecord | undefined>;
  save(record: RunRecord): Promise<void>;
  /** Newest first. */
  list(limit?: number): Promise<RunRecord[]>;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

export class FileRunStore implements RunStore {
  constructor(readonly dir: string) {}

  private file(id: string): string {
    if (!ID.test(id)) throw new Error(`Expected a run id of letters, digits, - and _ but received "${id}"`);
    return path.join(this.dir, `${id}.json`);
  }

  async load(id: string): Promise<RunRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.file(id), 'utf8')) as RunRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async save(record: RunRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const text = JSON.stringify(record);
    await writeAtomic(this.file(record.id), (tmp) => writeFile(tmp, text));
  }

  async list(limit = 100): Promise<RunRecord[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    } catch {
      return [];
    }
    const records = await Promise.all(names.map((n) => this.load(n.slice(0, -5)).catch(() => undefined)));
    return records
      .filter((r): r is RunRecord => r !== undefined)
      .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1))
      .slice(0, limit);
  }
}
