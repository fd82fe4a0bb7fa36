// The JobStore interface: where background jobs are kept so that a restart loses none.
// The server calls it around the job's life; the in-memory registry stays the source of
// truth for scheduling, the store is the source of truth for recovery.

/** What a store keeps of one background job. */
export interface StoredJob {
  fn: string;
  unique: string;
  priority: 0 | 1 | 2;
  /** Unix time in seconds at which the job may run; 0 for now. */
  when: number;
  data: Buffer;
}

export interface JobStore {
  /** A short name for logs: `memory`, `sqlite:/path`, … */
  readonly name: string;
  /** Whether an acknowledged job survives a crash of the server process. */
  readonly durable: boolean;
  /** Record a new background job; the server sends JOB_CREATED only after this settles. */
  add(job: StoredJob): void | Promise<void>;
  /** The job ended (done, failed, cancelled): forget it. */
  remove(fn: string, unique: string): void | Promise<void>;
  /** Everything still pending, to requeue on start. */
  load(): Promise<StoredJob[]>;
  close(): Promise<void>;
}
