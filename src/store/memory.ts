// The in-memory store: nothing survives the process. Fast, and honest about it (durable=false).

import type { JobStore, StoredJob } from './types.js';

export class MemoryStore implements JobStore {
  readonly name = 'memory';
  readonly durable = false;
  add(_job: StoredJob): void {}
  remove(_fn: string, _unique: string): void {}
  async load(): Promise<StoredJob[]> {
    return [];
  }
  async close(): Promise<void> {}
}
