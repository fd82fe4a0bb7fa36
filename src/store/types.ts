// The JobStore interface: the job log that makes background jobs durable and visible.
//
// The server's in-memory registry schedules; the store is the record. Every background job is
// a row from submission to its end (done, dead, cancelled) and kept until pruned, so any
// failure can be seen and run again. Rows carry an owner and a lease: a server holds the jobs
// it has claimed while it renews its lease, and when a server dies its lease runs out and
// another server sharing the store claims its jobs. On one server with its own SQLite file the
// owner never changes and a restart reclaims its own jobs at once.

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'dead' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'done', 'failed', 'dead', 'cancelled'];
/** States a job can still leave: the ones a server must hold in its registry. */
export const PENDING_STATES: readonly JobState[] = ['queued', 'running', 'failed'];

export interface JobRecord {
  /**
   * The job log id, unique across restarts and servers. Not the Gearman handle: handles are
   * per server process (as in gearmand), so a reloaded job gets a new one.
   */
  id: string;
  fn: string;
  unique: string;
  priority: 0 | 1 | 2;
  /** The payload: kept while pending and for dead jobs, dropped (null) when done. */
  data: Buffer | null;
  /**
   * queued: waiting (maybe until runAt); running: a worker holds it; failed: its last attempt
   * failed and a retry is scheduled at runAt; dead: out of attempts; done; cancelled.
   */
  state: JobState;
  attempts: number;
  maxAttempts: number;
  /** Milliseconds since the epoch at which the job may run (epoch jobs, retry backoff). */
  runAt: number;
  /** The worker that ran it last: "host client-id". */
  worker: string | null;
  createdAt: number;
  updatedAt: number;
  /** The result of a done job, or the error text of the last failure (truncated). */
  result: string | null;
  /** The server holding the job, and until when (ms). */
  owner: string | null;
  leaseUntil: number;
}

/** A change to the log. Updates name only the fields they change. */
export type JobChange = { op: 'insert'; job: JobRecord } | { op: 'update'; id: string; set: Partial<Omit<JobRecord, 'id'>> };

export interface JobFilter {
  state?: JobState;
  fn?: string;
  /** Only jobs updated at or after this time (ms). */
  since?: number;
  /** @defaultValue 100 */
  limit?: number;
}

export interface JobStore {
  /** For logs and `status`: `memory`, `sqlite:/path/jobs.db`, `postgres://host/db`, … */
  readonly name: string;
  /** Whether an acknowledged job survives a crash of the server process. */
  readonly durable: boolean;
  /** Connect and create or migrate the schema. Fails with one clear message. */
  open(): Promise<void>;
  /**
   * Apply changes atomically (one transaction): the server groups a tick's changes into one call.
   * Fails with GT_STORE_UNAVAILABLE when the store cannot be reached (the same write may succeed
   * later), and with another code (GT_INVALID_ARGUMENT) when the store refuses the data itself.
   */
  write(changes: readonly JobChange[]): Promise<void>;
  /** One round trip to the store: resolves when it answers, GT_STORE_UNAVAILABLE when it does not. */
  ping(): Promise<void>;
  /**
   * Lease pending jobs (queued, running, failed) to `owner` until `leaseUntil`: unowned ones,
   * ones whose lease ran out, and (with `includeOwn`, at start-up) the ones it already owns,
   * except those leased until exactly `leaseUntil`: a claim with the same lease again returns
   * the next page, not the jobs the last one took. Returns them as now stored. Atomic: two
   * servers never claim the same job.
   */
  claim(owner: string, leaseUntil: number, limit: number, includeOwn?: boolean): Promise<JobRecord[]>;
  /** Extend the lease of every pending job owned by `owner`. */
  renew(owner: string, leaseUntil: number): Promise<void>;
  /** Give up the lease of every pending job owned by `owner` (clean shutdown). */
  release(owner: string): Promise<void>;
  get(id: string): Promise<JobRecord | null>;
  /** Newest first. */
  list(filter: JobFilter): Promise<JobRecord[]>;
  /** Delete done and cancelled jobs last updated before `before` (ms); returns how many. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
  /**
   * Only for a store that keeps nothing across restarts (memory): the server's registry holds
   * every pending job anyway, so the store does not keep a second copy of each. It reads them
   * from `live` and is written only when a job fails or leaves the queue for good.
   */
  attachLive?(live: LiveJobs): void;
  /**
   * Only with attachLive: the store keeps completed jobs as the server hands them over, made
   * into records only when read, instead of being written a change for each (see DoneJob).
   */
  keepDone?(job: DoneJob): void;
}

/**
 * A completed job as the server hands it to a store that keeps such jobs in memory. Writing
 * each completion as a change (a row made, grouped, copied into a map) costs 40% of the server's
 * CPU on the memory store under bench/background-noop.ts; this is one small object.
 */
export interface DoneJob {
  /** The job's log id (spelled when read). */
  readonly id: string;
  readonly fn: string;
  /** When it completed, ms since the epoch. */
  readonly updatedAt: number;
  record(): JobRecord;
}

/** The pending jobs a server holds, as job log records. */
export interface LiveJobs {
  get(id: string): JobRecord | null;
  /** Whether the server holds the job (its record then comes from get/pending, not the store). */
  holds(id: string): boolean;
  /** The pending jobs that match `filter`, newest first, at most `filter.limit` (default 100). */
  pending(filter: JobFilter): JobRecord[];
}
