// Counters the server keeps for /metrics: plain numbers bumped on the hot path and read on a
// scrape. No prom-client here: a labelled prom-client observe() builds a label hash string and
// an object per call; these cost a field increment and a short bucket search per job.

/** Job duration buckets, seconds: from a no-op to a long transcode. */
export const JOB_DURATION_BOUNDS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];
/** Store write (one group commit) buckets, seconds. */
export const STORE_WRITE_BOUNDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A histogram with fixed bounds: per-bucket counts (the last is +Inf), sum and count. */
export class Histo {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    // Prometheus buckets count values <= their bound.
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** What happened to one function's jobs since the server started. Kept when the function is dropped. */
export class FunctionStats {
  /** Attempts that ended in WORK_COMPLETE. */
  completed = 0;
  /** Attempts that ended without a result: WORK_FAIL, WORK_EXCEPTION, worker lost, timed out. */
  failed = 0;
  /** Failed attempts that were queued to run again (backoff for logged jobs, at once for others). */
  retried = 0;
  /** Logged jobs out of attempts (or failed for good). */
  dead = 0;
  /** Seconds from assignment to WORK_COMPLETE. */
  readonly completedSeconds = new Histo(JOB_DURATION_BOUNDS);
  /** Seconds from assignment to the end of a failed attempt. */
  readonly failedSeconds = new Histo(JOB_DURATION_BOUNDS);
  constructor(readonly name: string) {}
}

/** Server-wide counters. */
export class ServerStats {
  connectionsAccepted = 0;
  /** Seconds per job store write (one group commit). */
  readonly storeWrites = new Histo(STORE_WRITE_BOUNDS);
  /** Changes written to the store (rows inserted or updated). */
  storeChanges = 0;
  readonly startedAt = Date.now();

  storeWrite(ms: number, changes: number): void {
    this.storeWrites.observe(ms / 1000);
    this.storeChanges += changes;
  }
}
