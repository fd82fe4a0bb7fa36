// Group commit in front of the JobStore. Changes made in one tick go to the store as one
// write() (one transaction); while a write is in flight the next batch gathers, so under load
// each transaction carries many jobs and durability costs little per job.
//
// Inserts are what JOB_CREATED waits for: their promise settles when the batch commits, and a
// failed batch rejects them (the client gets ERROR). Updates are write-behind: a failed batch
// of updates is kept and tried again with backoff, so a store restart loses no state change.

import type { Logger } from 'pino';
import { GeartrainError } from '../errors.js';
import type { JobChange, JobRecord, JobStore } from '../store/types.js';

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export interface JournalOptions {
  /** Most updates held while the store is down, before the oldest are dropped (and logged). @defaultValue 1_000_000 */
  maxBacklog?: number;
  /** Called with each write's duration in ms (for metrics). */
  onWrite?(ms: number, changes: number): void;
}

/** Least time from the end of one write to the start of the next under load, ms. */
const COMMIT_GAP_MS = 4;
/** Longest a write-behind change waits for company before it is written, ms. */
const LAZY_FLUSH_MS = 20;
/** A batch this large is written as soon as the commit gap allows, waiters or not. */
const LAZY_MAX_CHANGES = 1000;

export class Journal {
  private batch: JobChange[] = [];
  /** The batch's change for each job: a job's later changes in the same batch merge into it. */
  private byId = new Map<string, JobChange>();
  private waiters: Waiter[] = [];
  private backlog: JobChange[] = [];
  private writing: Promise<void> | null = null;
  private scheduled = false;
  /** A flush waiting for its time (see schedule()), and when it is due (performance.now()). */
  private flushTimer: NodeJS.Timeout | null = null;
  private flushDue = 0;
  /** When the last write finished (performance.now()). */
  private lastWrite = -Infinity;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay = 100;
  private healthy = true;
  private closed = false;
  private readonly maxBacklog: number;

  constructor(
    private readonly store: JobStore,
    private readonly log: Logger,
    private readonly opts: JournalOptions = {},
  ) {
    this.maxBacklog = opts.maxBacklog ?? 1_000_000;
  }


  /** Record a new job; resolves once it is committed. */
  insert(job: JobRecord): Promise<void> {
    if (this.closed) return Promise.reject(new GeartrainError('GT_SHUTTING_DOWN', 'Server is shutting down'));
    this.add({ op: 'insert', job });
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.schedule();
    return p;
  }

  /** Record a new job without waiting for it (a store that is not durable). */
  insertBehind(job: JobRecord): void {
    this.add({ op: 'insert', job });
    this.schedule();
  }

  private add(c: JobChange): void {
    const id = c.op === 'insert' ? c.job.id : c.id;
    const prev = this.byId.get(id);
    if (prev && c.op === 'update') {
      // A job submitted, started and finished within one batch costs one row write.
      Object.assign(prev.op === 'insert' ? prev.job : prev.set, c.set);
      return;
    }
    this.batch.push(c);
    this.byId.set(id, c);
  }

  /** Record a state change; written behind, retried until the store takes it. */
  update(id: string, set: Partial<Omit<JobRecord, 'id'>>): void {
    this.add({ op: 'update', id, set });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    // Group commit over time, not per tick. The SQLite store writes synchronously, so "the
    // next batch gathers while a write is in flight" never happened: under load every tick
    // was its own transaction (about 1,000 a second of ~12 changes each in bench/durable.ts,
    // end to end 3,500–6,800 jobs/s at 150–230 µs server CPU a job; the same rows cost 45 µs a
    // job written 1000 to a transaction). So: after a write, the next one waits until
    // COMMIT_GAP_MS have passed (an idle server still writes at once: no added latency), and a
    // batch of write-behind updates only, which nobody waits on, waits LAZY_FLUSH_MS for company.
    const now = performance.now();
    let due: number;
    if (this.waiters.length > 0 || this.batch.length >= LAZY_MAX_CHANGES) due = Math.max(now, this.lastWrite + COMMIT_GAP_MS);
    else due = now + LAZY_FLUSH_MS;
    if (this.flushTimer !== null) {
      if (this.flushDue <= due) return;
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (due <= now) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.flush();
      });
      return;
    }
    this.flushDue = due;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      if (!this.scheduled) void this.flush();
    }, due - now);
  }

  private async flush(): Promise<void> {
    if (this.writing || this.retryTimer) return;
    if (this.batch.length === 0 && this.backlog.length === 0) return;
    const changes = this.backlog.length > 0 ? [...this.backlog, ...this.batch] : this.batch;
    const waiters = this.waiters;
    this.batch = [];
    this.byId = new Map();
    this.waiters = [];
    this.backlog = [];
    const started = performance.now();
    this.writing = this.store.write(changes);
    try {
      await this.writing;
      this.opts.onWrite?.(performance.now() - started, changes.length);
      if (!this.healthy) this.log.info({ store: this.store.name }, 'job store is back');
      this.healthy = true;
      this.retryDelay = 100;
      for (const w of waiters) w.resolve();
    } catch (cause) {
      const err =
        cause instanceof GeartrainError ? cause : new GeartrainError('GT_STORE_UNAVAILABLE', `Job store ${this.store.name} write failed: ${(cause as Error).message}`, { cause });
      if (this.healthy) this.log.error({ store: this.store.name, err: err.message }, 'job store write failed; submissions refused until it is back');
      this.healthy = false;
      for (const w of waiters) w.reject(err);
      // Keep the updates (their jobs exist in the registry); the failed inserts were refused.
      this.backlog = changes.filter((c) => c.op === 'update');
      if (this.backlog.length > this.maxBacklog) {
        this.log.warn({ dropped: this.backlog.length - this.maxBacklog }, 'job store backlog full; oldest state changes dropped');
        this.backlog = this.backlog.slice(-this.maxBacklog);
      }
      if (!this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          void this.flush();
        }, this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, 5000);
      }
    } finally {
      this.writing = null;
      this.lastWrite = performance.now();
    }
    if (this.batch.length > 0 && !this.retryTimer) this.schedule();
  }

  /**
   * Write what is pending now, and wait for it: a reader of the store (admin `jobs list`) sees
   * every change made before the call, although updates are otherwise written a little later.
   */
  async sync(): Promise<void> {
    while (this.writing) await this.writing.catch(() => {});
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.batch.length > 0 && !this.retryTimer) await this.flush();
  }

  /** Write what is pending (one last try), then stop. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    while (this.writing) await this.writing.catch(() => {});
    if (this.batch.length > 0 || this.backlog.length > 0) await this.flush();
    if (this.backlog.length > 0) this.log.error({ lost: this.backlog.length }, 'job store unavailable at shutdown; some state changes were not written');
  }
}
