// Group commit in front of the JobStore. Changes made in one tick go to the store as one
// write() (one transaction); while a write is in flight the next batch gathers, so under load
// each transaction carries many jobs and durability costs little per job.
//
// Inserts are what JOB_CREATED waits for: their source is told when the batch commits, or that
// it failed (the client gets ERROR). Updates are write-behind: a failed batch of updates is
// kept and tried again with backoff, so a store restart loses no state change.
//
// Two kinds of failure, told apart by the error's code (see storeDown()):
// - the store is down (GT_STORE_UNAVAILABLE, or anything unexpected): the batch's inserts are
//   refused, its updates wait in the backlog, and until a retry gets through, new submissions
//   are refused at once with the store's error instead of waiting for it. A retry writes the
//   backlog, or pings the store when there is none, so the server notices by itself that the
//   store is back.
// - the store refused the data (any other code: a value it cannot hold, a broken constraint):
//   writing the same batch again would fail forever and hold back every change behind it. The
//   batch is split in halves until the change it refuses stands alone; that change is parked
//   (an insert is refused to its client, an update is logged and dropped), the rest commit.

import type { Logger } from 'pino';
import { GeartrainError } from '../errors.js';
import { Backoff } from '../shared/backoff.js';
import type { JobChange, JobRecord, JobStore } from '../store/types.js';

type RowFields = Partial<Omit<JobRecord, 'id'>>;

/**
 * Where the journal's rows come from. A new job is kept as its source (the server's Job) until
 * its batch is written, and only then made into a row: a submission waiting for its commit
 * holds no row, promise or closure. Made at submission, they would live for the whole commit
 * (milliseconds, several young-generation collections), be promoted to the old generation and
 * die there: about 2.8 KB of old-generation garbage per durable submission, enough to grow the
 * heap of a server filling its queue to twice the size of what it holds.
 */
export interface JournalSource<S> {
  /** The job's id in the store. */
  id(source: S): string;
  /** The job's row as it stands now: what its insert writes. */
  row(source: S): JobRecord;
  /** An insert made with insert() is committed (`err` null), or refused with `err`. */
  settled(source: S, err: Error | null): void;
}

/**
 * A change waiting to be written. An insert that a submission waits for is not one: the batch
 * holds its source itself (one pointer per durable submission).
 */
class Entry<S> {
  constructor(
    /** Its job: the source, or the id of a job the server knows only by id. Inserts have a source. */
    readonly key: S | string,
    readonly insert: boolean,
    /** Fields this change sets; for an insert, set over the row made from the source. */
    public set: RowFields | null,
  ) {}
}

/** What a batch holds: a change, or the source of a new job whose submission waits for it. */
type Item<S> = Entry<S> | S;

const waiting = <S>(item: Item<S>): item is S => !(item instanceof Entry);

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
/**
 * Retries while the store is down: from 100 ms, doubling up to 1 s. The longest is also the
 * most a server takes to notice that the store is back. No jitter: one journal, one timer.
 */
const RETRY = { initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' } as const;
/** Parked changes kept for inspection (the newest). */
const MAX_PARKED = 1000;

/** Codes that mean "the store could not be reached", not "the store refused this data". */
const DOWN_CODES = new Set(['GT_STORE_UNAVAILABLE', 'GT_CLOSED', 'GT_SHUTTING_DOWN', 'GT_TIMEOUT']);

/** Whether a failed write may succeed unchanged later. Unknown errors count as the store being down: retried, never dropped. */
export function storeDown(err: unknown): boolean {
  return !(err instanceof GeartrainError) || DOWN_CODES.has(err.code);
}

/** A change the store refused, set aside so that the changes behind it could commit. */
export interface ParkedChange {
  change: JobChange;
  error: string;
  at: number;
}

export class Journal<S> {
  private batch: Item<S>[] = [];
  /** The batch's change for each job: a job's later changes in the same batch merge into it. */
  private byKey = new Map<S | string, Entry<S>>();
  /** Inserts in the batch that a submission waits for (the sources in it). */
  private batchWaits = 0;
  /** Updates not written while the store was down. */
  private backlog: Entry<S>[] = [];
  private writing: Promise<void> | null = null;
  private scheduled = false;
  /** A flush waiting for its time (see schedule()), and when it is due (performance.now()). */
  private flushTimer: NodeJS.Timeout | null = null;
  private flushDue = 0;
  /** When the last write finished (performance.now()). */
  private lastWrite = -Infinity;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly retryBackoff = new Backoff(RETRY);
  /** Why the store is down (null while it is up): what new submissions are refused with. */
  private downError: GeartrainError | null = null;
  private downSince = 0;
  private closed = false;
  private readonly maxBacklog: number;
  private readonly parkedChanges: ParkedChange[] = [];

  constructor(
    private readonly store: JobStore,
    private readonly source: JournalSource<S>,
    private readonly log: Logger,
    private readonly opts: JournalOptions = {},
  ) {
    this.maxBacklog = opts.maxBacklog ?? 1_000_000;
  }

  /** False while the store is down: submissions are refused until a retry gets through. */
  get available(): boolean {
    return this.downError === null;
  }

  /** The newest changes the store refused (at most 1000), oldest first. */
  get parked(): readonly ParkedChange[] {
    return this.parkedChanges;
  }

  /**
   * Record a new job whose acknowledgement waits for it: settled() is told once it is committed
   * or refused. Throws, and records nothing, while the store is known to be down.
   */
  insert(source: S): void {
    if (this.closed) throw new GeartrainError('GT_SHUTTING_DOWN', 'Server is shutting down');
    // The store is known to be down: answer now rather than after the next retry.
    if (this.downError) throw this.downError;
    // Not merged with the job's later changes in the batch: there are none, the job does not
    // run before this commits (and any would be written after it, in order).
    this.batch.push(source);
    this.batchWaits++;
    this.schedule();
  }

  /**
   * Record a new job, or the whole row of one again, without waiting for it (a store that is
   * not durable). `set` goes over the row made from the source.
   */
  insertBehind(source: S, set: RowFields | null = null): void {
    this.add(new Entry(source, true, set));
    this.schedule();
  }

  /** Record a state change; written behind, retried until the store takes it. */
  update(key: S | string, set: RowFields): void {
    this.add(new Entry(key, false, set));
    this.schedule();
  }

  private add(e: Entry<S>): void {
    const prev = this.byKey.get(e.key);
    if (prev) {
      // A job submitted, started and finished within one batch costs one row write.
      if (!e.insert) {
        Object.assign((prev.set ??= {}), e.set);
        return;
      }
      // The whole row again (insertBehind): it replaces what the batch had for the job.
      if (prev.insert) {
        prev.set = e.set;
        return;
      }
    }
    this.batch.push(e);
    this.byKey.set(e.key, e);
  }

  /** The change to write: an insert's row is made now, from its job as it stands. */
  private change(item: Item<S>): JobChange {
    if (waiting(item)) return { op: 'insert', job: this.source.row(item) };
    const e = item;
    if (!e.insert) return { op: 'update', id: typeof e.key === 'string' ? e.key : this.source.id(e.key), set: e.set ?? {} };
    const row = this.source.row(e.key as S);
    return { op: 'insert', job: e.set === null ? row : Object.assign(row, e.set) };
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    // Group commit over time, not per tick. The SQLite store writes synchronously, so "the
    // next batch gathers while a write is in flight" does not happen: under load every tick
    // would be its own transaction (about 1,000 a second of ~12 changes each in
    // bench/durable.ts, end to end 3,500–6,800 jobs/s at 150–230 µs server CPU a job; the same
    // rows cost 45 µs a job written 1000 to a transaction). So: after a write, the next one waits until
    // COMMIT_GAP_MS have passed (an idle server still writes at once: no added latency), and a
    // batch of write-behind updates only, which nobody waits on, waits LAZY_FLUSH_MS for company.
    const now = performance.now();
    let due: number;
    if (this.batchWaits > 0 || this.batch.length >= LAZY_MAX_CHANGES) due = Math.max(now, this.lastWrite + COMMIT_GAP_MS);
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
    const probe = this.downError !== null && this.batch.length === 0 && this.backlog.length === 0;
    if (this.batch.length === 0 && this.backlog.length === 0 && !probe) return;
    const changes = this.backlog.length > 0 ? [...this.backlog, ...this.batch] : this.batch;
    this.batch = [];
    this.byKey = new Map();
    this.batchWaits = 0;
    this.backlog = [];
    this.writing = probe ? this.store.ping() : this.commit(changes);
    try {
      await this.writing;
      if (this.downError) {
        this.log.info({ store: this.store.name, downMs: Date.now() - this.downSince, written: changes.length }, 'job store is back; taking submissions again');
      }
      this.downError = null;
      this.retryBackoff.reset();
    } catch (cause) {
      const err = cause instanceof Unwritten ? cause.error : asDown(this.store, cause);
      const rest: Item<S>[] = cause instanceof Unwritten ? (cause as Unwritten<S>).entries : [];
      if (!this.downError) {
        this.downSince = Date.now();
        this.log.error({ store: this.store.name, err: err.message }, 'job store write failed; submissions refused until it is back');
      }
      this.downError = err;
      // Keep the updates (their jobs exist in the registry); the failed inserts are refused.
      // An insert behind (a store that is not durable) is dropped with them.
      for (const item of rest) {
        if (waiting(item)) this.source.settled(item, err);
        else if (!item.insert) this.backlog.push(item);
      }
      // Submissions that joined the batch meanwhile would only wait for the retry to fail.
      this.refuseBatchInserts(err);
      if (this.backlog.length > this.maxBacklog) {
        this.log.warn({ dropped: this.backlog.length - this.maxBacklog }, 'job store backlog full; oldest state changes dropped');
        this.backlog = this.backlog.slice(-this.maxBacklog);
      }
      if (!this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          void this.flush();
        }, this.retryBackoff.next());
      }
    } finally {
      this.writing = null;
      this.lastWrite = performance.now();
    }
    if (this.batch.length > 0 && !this.retryTimer) this.schedule();
  }

  /**
   * Write `entries`. A batch the store refuses is split in halves, in order, until the change
   * it refuses stands alone; that one is parked and the others are written. Throws Unwritten,
   * with what was not written, when the store is down.
   */
  private async commit(entries: Item<S>[]): Promise<void> {
    const started = performance.now();
    try {
      // Rows are made here and not kept: a store that sends them elsewhere (the SQLite thread)
      // has copied them before this awaits, so they die young.
      await this.store.write(entries.map((e) => this.change(e)));
    } catch (err) {
      if (storeDown(err)) throw new Unwritten(asDown(this.store, err), entries);
      if (entries.length === 1) return this.park(entries[0]!, err as GeartrainError);
      const mid = entries.length >>> 1;
      try {
        await this.commit(entries.slice(0, mid));
      } catch (e) {
        if (e instanceof Unwritten) throw new Unwritten(e.error, [...e.entries, ...entries.slice(mid)]);
        throw e;
      }
      return this.commit(entries.slice(mid));
    }
    this.opts.onWrite?.(performance.now() - started, entries.length);
    for (const item of entries) if (waiting(item)) this.source.settled(item, null);
  }

  private park(item: Item<S>, err: GeartrainError): void {
    const change = this.change(item);
    if (change.op === 'insert') {
      this.log.warn({ job: change.job.id, fn: change.job.fn, err: err.message }, 'job store refused a new job; submission refused');
      if (waiting(item)) this.source.settled(item, err);
      return;
    }
    // Without the payload: the log line names the change, it need not carry megabytes.
    const { data, ...fields } = change.set;
    const shown = data === undefined ? fields : { ...fields, data: data === null ? null : `<${data.length} bytes>` };
    this.log.error({ job: change.id, set: shown, err: err.message }, 'job store refused a state change; parked it so the changes behind it can be written');
    this.parkedChanges.push({ change, error: err.message, at: Date.now() });
    if (this.parkedChanges.length > MAX_PARKED) this.parkedChanges.splice(0, this.parkedChanges.length - MAX_PARKED);
  }

  private refuseBatchInserts(err: GeartrainError): void {
    if (this.batchWaits === 0) return;
    const kept: Item<S>[] = [];
    for (const item of this.batch) {
      if (waiting(item)) this.source.settled(item, err);
      else kept.push(item);
    }
    this.batch = kept;
    this.batchWaits = 0;
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

  /**
   * Write everything pending now, the backlog of an outage included, without waiting for the
   * retry timer: true when all of it is written.
   */
  async drain(): Promise<boolean> {
    while (this.writing) await this.writing.catch(() => {});
    for (const t of [this.retryTimer, this.flushTimer]) if (t) clearTimeout(t);
    this.retryTimer = null;
    this.flushTimer = null;
    if (this.batch.length > 0 || this.backlog.length > 0 || this.downError) await this.flush();
    return this.batch.length === 0 && this.backlog.length === 0 && this.downError === null;
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

/** A write that stopped because the store is down: the error, and the changes not written. */
class Unwritten<S> extends Error {
  constructor(
    readonly error: GeartrainError,
    readonly entries: Item<S>[],
  ) {
    super(error.message);
  }
}

function asDown(store: JobStore, cause: unknown): GeartrainError {
  if (cause instanceof GeartrainError) return cause;
  return new GeartrainError('GT_STORE_UNAVAILABLE', `Job store ${store.name} write failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}
