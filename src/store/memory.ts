// The in-memory store: the same job log as the durable stores, in a Map. Nothing survives the
// process (durable = false); `pipeline server --store memory:` is for tests and benchmarks.
// Attached to a server (attachLive), it keeps only what the server's registry does not hold:
// finished jobs, and the last failure of jobs waiting for a retry. Pending jobs are read from
// the registry, so a million queued jobs are not kept twice. Completed jobs are kept in a ring
// of the newest `keep` (10,000 unless `memory:?keep=N`): a server that runs for days on this
// store must not keep every job it ever ran.

import { isPending, matches, newest } from './filter.js';
import type { DoneJob, JobChange, JobFilter, JobRecord, JobStore, LiveJobs } from './types.js';

/** Completed jobs kept by default. */
export const KEEP_DONE = 10_000;

export interface MemoryStoreOptions {
  /** Completed jobs kept (the newest); 0 keeps none. @defaultValue 10_000 */
  keep?: number;
}

export class MemoryStore implements JobStore {
  readonly name = 'memory';
  readonly durable = false;
  private readonly jobs = new Map<string, JobRecord>();
  private live: LiveJobs | null = null;
  /** The newest completed jobs handed over by keepDone(), oldest overwritten first. */
  private readonly done: (DoneJob | undefined)[] = [];
  private doneNext = 0;
  private readonly keep: number;

  constructor(opts: MemoryStoreOptions = {}) {
    this.keep = opts.keep ?? KEEP_DONE;
  }

  async open(): Promise<void> {}

  attachLive(live: LiveJobs): void {
    this.live = live;
  }

  keepDone(job: DoneJob): void {
    // A job that failed before, or an operator retried, has a row here: the done one replaces it.
    if (this.jobs.size > 0) this.jobs.delete(job.id);
    if (this.keep === 0) return;
    this.done[this.doneNext] = job;
    this.doneNext = this.doneNext + 1 === this.keep ? 0 : this.doneNext + 1;
  }

  /** The kept completed jobs, newest first. */
  private *doneJobs(): Generator<DoneJob> {
    const n = this.done.length;
    for (let i = 1; i <= n; i++) {
      const d = this.done[(this.doneNext - i + n) % n];
      if (d !== undefined) yield d;
    }
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
      if (
        isPending(j.state) &&
        ((includeOwn && j.owner === owner && j.leaseUntil !== leaseUntil) || j.owner === null || (j.owner !== owner && j.leaseUntil < now))
      ) {
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
    if (j) return { ...j };
    for (const d of this.doneJobs()) if (d.id === id) return d.record();
    return null;
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
    // Newest first already: the first `limit` that match, made into records.
    const done: JobRecord[] = [];
    if (filter.state === undefined || filter.state === 'done') {
      for (const d of this.doneJobs()) {
        if (done.length >= limit || (filter.since !== undefined && d.updatedAt < filter.since)) break;
        if (filter.fn === undefined || d.fn === filter.fn) done.push(d.record());
      }
    }
    return newest([...held, ...kept, ...done], limit, (j) => j.updatedAt).map((j) => ({ ...j }));
  }

  async prune(before: number): Promise<number> {
    let n = 0;
    for (let i = 0; i < this.done.length; i++) {
      if (this.done[i] !== undefined && this.done[i]!.updatedAt < before) {
        this.done[i] = undefined;
        n++;
      }
    }
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
