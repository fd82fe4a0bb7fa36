// The in-memory store: the same job log as the durable stores, in a Map. Nothing survives the
// process (durable = false); `pipeline server --store memory:` is for tests and benchmarks.
// Attached to a server (attachLive), it keeps only what the server's registry does not hold:
// finished jobs, and the last failure of jobs waiting for a retry. Pending jobs are read from
// the registry, so a million queued jobs are not kept twice.

import type { JobChange, JobFilter, JobRecord, JobStore, LiveJobs } from './types.js';
import { isPending, matches, newest } from './filter.js';

export class MemoryStore implements JobStore {
  readonly name = 'memory';
  readonly durable = false;
  private readonly jobs = new Map<string, JobRecord>();
  private live: LiveJobs | null = null;

  async open(): Promise<void> {}

  attachLive(live: LiveJobs): void {
    this.live = live;
  }

  /** A pending job as the registry has it, with the last failure kept here. */
  private liveRecord(r: JobRecord): JobRecord {
    const kept = this.jobs.get(r.id);
    return kept && r.result === null ? { ...r, result: kept.result, worker: r.worker ?? kept.worker, updatedAt: Math.max(r.updatedAt, kept.updatedAt) } : r;
  }

  async ping(): Promise<void> {}

  async write(changes: readonly JobChange[]): Promise<void> {
    for (const c of changes) {
      if (c.op === 'insert') this.jobs.set(c.job.id, { ...c.job });
      else {
        const j = this.jobs.get(c.id);
        if (j) Object.assign(j, c.set);
      }
    }
  }

  async claim(owner: string, leaseUntil: number, limit: number, includeOwn = false): Promise<JobRecord[]> {
    const now = Date.now();
    const out: JobRecord[] = [];
    for (const j of this.jobs.values()) {
      if (out.length >= limit) break;
      if (isPending(j.state) && ((includeOwn && j.owner === owner) || j.owner === null || (j.owner !== owner && j.leaseUntil < now))) {
        j.owner = owner;
        j.leaseUntil = leaseUntil;
        out.push({ ...j });
      }
    }
    return out;
  }

  async renew(owner: string, leaseUntil: number): Promise<void> {
    for (const j of this.jobs.values()) if (j.owner === owner && isPending(j.state)) j.leaseUntil = leaseUntil;
  }

  async release(owner: string): Promise<void> {
    for (const j of this.jobs.values()) if (j.owner === owner && isPending(j.state)) j.leaseUntil = 0;
  }

  async get(id: string): Promise<JobRecord | null> {
    const l = this.live?.get(id);
    if (l) return this.liveRecord(l);
    const j = this.jobs.get(id);
    return j ? { ...j } : null;
  }

  async list(filter: JobFilter): Promise<JobRecord[]> {
    const limit = filter.limit ?? 100;
    const live = this.live;
    // The newest `limit` of each side, then of both: never a sort of every job.
    const held = live ? live.pending(filter).map((r) => this.liveRecord(r)) : [];
    const kept = newest(
      (function* (jobs: Iterable<JobRecord>) {
        for (const j of jobs) if (matches(j, filter) && !(live?.holds(j.id) ?? false)) yield j;
      })(this.jobs.values()),
      limit,
      (j) => j.updatedAt,
    );
    return newest([...held, ...kept], limit, (j) => j.updatedAt).map((j) => ({ ...j }));
  }

  async prune(before: number): Promise<number> {
    let n = 0;
    for (const [id, j] of this.jobs) {
      if ((j.state === 'done' || j.state === 'cancelled') && j.updatedAt < before) {
        this.jobs.delete(id);
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {}
}
