// The server's side of the job log: turns registry events into store changes (through the
// group-committing Journal), reloads pending jobs on start, holds the lease on this server's
// jobs (and stops handing them out when it cannot renew it in time), and claims the jobs of
// servers that died (or that an operator re-queued).

import type { Logger } from 'pino';
import { gtError } from '../errors.js';
import { newest } from '../store/filter.js';
import type { DoneJob, JobFilter, JobRecord, JobState, JobStore } from '../store/types.js';
import { Journal } from './journal.js';
import type { Job, JobListener, JobRegistry, Peer } from './registry.js';

export interface JobLogOptions {
  /** This server's name in the store's owner column. Stable across restarts of one server. */
  owner: string;
  /** How long a claim lasts without renewal, ms. @defaultValue 30000 */
  leaseMs?: number;
  /**
   * How often to renew the lease and look for jobs to claim, ms; at most a quarter of leaseMs
   * (see the constructor). @defaultValue 1000
   */
  pollMs?: number;
  /** Done and cancelled jobs older than this are pruned, ms; 0 keeps them. @defaultValue 7 days */
  retentionMs?: number;
  /** Called with each store write's duration in ms and its number of changes (for /metrics). */
  onWrite?(ms: number, changes: number): void;
}

/** Longest result or error text kept in the log. */
const MAX_RESULT_TEXT = 4000;
/**
 * Longest worker name ("host client-id") kept: a client id is whatever the worker sent, and
 * MySQL's TEXT column refuses more than 64 KiB.
 */
const MAX_WORKER_TEXT = 1000;
/**
 * A job is written as `running` only once it has run this long. Most jobs finish sooner, and
 * their start is folded into the update that ends them (state, worker and attempts in one
 * statement): one row write a job fewer, which was about a third of the store's work per job.
 */
export const RUNNING_WRITE_DELAY_MS = 100;

/** A held job's state as the log shows it. */
function liveState(job: Job): JobState {
  if (job.worker !== null) return 'running';
  return job.retries > 0 && !job.queued ? 'failed' : 'queued';
}

const workerName = (worker: Peer): string => `${worker.host} ${worker.clientId}`.slice(0, MAX_WORKER_TEXT);

interface Start {
  worker: string;
  at: number;
}

export class JobLog implements JobListener {
  readonly journal: Journal<Job>;
  private registry!: JobRegistry;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  /** Since when upkeep has been failing (ms), or 0: its error is logged once per outage. */
  private failingSince = 0;
  private lastPrune = 0;
  /** Jobs started whose `running` state is not written yet, oldest first (see RUNNING_WRITE_DELAY_MS). */
  private readonly starts = new Map<Job, Start>();
  private startTimer: NodeJS.Timeout | null = null;
  readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly retentionMs: number;
  /**
   * Until when every row this server owns is surely still leased to it (ms): half a lease after
   * the start of the last renew that got through (renew() rewrites the rows with less than half
   * left, so none has less than that). Past it, another server may claim them.
   */
  private leaseGood = 0;
  private fenceTimer: NodeJS.Timeout | null = null;
  /** While reclaim() runs: jobs whose attempt ended meanwhile (their row may still read pending). */
  private ended: Set<string> | null = null;

  constructor(
    readonly store: JobStore,
    private readonly log: Logger,
    private readonly opts: JobLogOptions,
  ) {
    this.journal = new Journal<Job>(
      store,
      {
        id: (job) => job.id,
        row: (job) => this.row(job, Date.now()),
        settled: (job, err) => (err === null ? this.registry.activate(job) : this.registry.abandon(job, err)),
      },
      log,
      { onWrite: opts.onWrite },
    );
    this.leaseMs = opts.leaseMs ?? 30_000;
    // renew() rewrites the leases with less than half left (lease.ts), so between two polls a
    // lease must not lose more than a quarter: with --lease-ms 2000 and a 1 s poll, a lease would
    // be renewed with next to nothing left, and a poll a little late would let another server
    // take (and run again) jobs this server is running.
    this.pollMs = Math.max(1, Math.min(opts.pollMs ?? 1000, Math.floor(this.leaseMs / 4)));
    this.retentionMs = opts.retentionMs ?? 7 * 24 * 3600_000;
  }

  get owner(): string {
    return this.opts.owner;
  }

  /** Reload this server's pending jobs (and expired ones), then keep the lease alive. */
  async start(registry: JobRegistry): Promise<number> {
    this.registry = registry;
    this.store.attachLive?.({
      get: (id) => {
        const job = registry.findById(id);
        return job ? this.liveRecord(job) : null;
      },
      holds: (id) => registry.findById(id) !== undefined,
      pending: (filter) => this.livePending(filter),
    });
    const n = await this.reload();
    this.timer = setInterval(() => void this.tick(), this.pollMs);
    this.timer.unref();
    // Checked on its own timer: a renew stuck on an unanswering store must not delay the fence.
    this.fenceTimer = setInterval(() => this.checkFence(), Math.max(1, Math.floor(this.pollMs / 2)));
    this.fenceTimer.unref();
    return n;
  }

  /**
   * Self-fencing: a server cut off from a shared store for longer than half a lease stops
   * handing out logged jobs, since another server may claim them from then on (and would run
   * them too). A margin of an eighth of a lease (at most 1 s) covers the gap between a grab and
   * the job's start, and clocks a little apart. Normal polling (every quarter lease at most)
   * never comes near it.
   */
  private checkFence(): void {
    const margin = Math.min(1000, Math.floor(this.leaseMs / 8));
    if (Date.now() < this.leaseGood - margin || this.registry.isFenced) return;
    this.registry.setFenced(true);
    this.log.warn({ store: this.store.name, leaseMs: this.leaseMs }, 'job log lease not renewed in time; logged jobs are not handed out until it is');
  }

  private async tick(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const renewAt = Date.now();
      await this.store.renew(this.owner, renewAt + this.leaseMs);
      // Past leaseGood before this renew was applied, other servers may have claimed some of
      // this server's rows (the renew skipped those): hand back what no worker runs and claim
      // again what is still ours.
      const lapsed = Date.now() > this.leaseGood;
      this.leaseGood = renewAt + Math.floor(this.leaseMs / 2);
      if (lapsed && !(await this.reclaim())) {
        // The changes made meanwhile are not all written yet: stay fenced, try next poll.
        this.leaseGood = 0;
        return;
      }
      if (this.registry.isFenced) {
        this.registry.setFenced(false);
        this.log.info({ store: this.store.name }, 'job log lease renewed; handing out logged jobs again');
      }
      await this.claim();
      if (this.retentionMs > 0 && Date.now() - this.lastPrune > 60_000) {
        this.lastPrune = Date.now();
        const pruned = await this.store.prune(Date.now() - this.retentionMs);
        if (pruned > 0) this.log.info({ pruned }, 'pruned finished jobs from the job log');
      }
      if (this.failingSince > 0) {
        this.log.info({ store: this.store.name, downMs: Date.now() - this.failingSince }, 'job log upkeep works again');
        this.failingSince = 0;
      }
    } catch (err) {
      // Once per outage: the store being down is logged by the journal too, and a line a poll
      // would bury everything else.
      if (this.failingSince === 0) {
        this.failingSince = Date.now();
        this.log.warn(
          { err: (err as Error).message, store: this.store.name },
          'job log upkeep failed (leases not renewed, no jobs claimed); retrying every poll',
        );
      }
    } finally {
      this.polling = false;
    }
  }

  /**
   * After a lapse of the lease: write every change made meanwhile (a job that ended during the
   * outage must not look pending), then forget the logged jobs no worker runs and claim again
   * those still this server's. False when the changes could not all be written.
   */
  private async reclaim(): Promise<boolean> {
    this.ended = new Set();
    try {
      if (!(await this.journal.drain())) return false;
      const dropped = this.registry.dropIdleLogged();
      const back = await this.reload();
      this.log.warn({ dropped, reclaimed: back }, 'job log lease had lapsed; jobs not running were claimed again (the others belong to another server now)');
      return true;
    } finally {
      this.ended = null;
    }
  }

  /**
   * Claim this server's own jobs and any claimable ones, then renew the lease. The reload's jobs
   * are leased from its start, and a big queue takes a while to read (300,000 jobs on SQLite:
   * 20 s when each page read them all): counting the lease from the start, the server fenced
   * itself at once, and reloaded everything again, and again. If the renew fails, the lease
   * still counts from the start of the reload.
   */
  private async reload(): Promise<number> {
    const claimedAt = Date.now();
    const n = await this.claim(true);
    const at = Date.now();
    try {
      await this.store.renew(this.owner, at + this.leaseMs);
      this.leaseGood = at + Math.floor(this.leaseMs / 2);
    } catch (err) {
      this.leaseGood = claimedAt + Math.floor(this.leaseMs / 2);
      this.log.warn({ err: (err as Error).message, store: this.store.name }, 'could not renew the job log lease after reloading');
    }
    return n;
  }

  /**
   * Claim pending jobs this server does not hold yet and queue them, in pages. Every page asks
   * for the same lease: with includeOwn the store then passes over the jobs earlier pages took
   * (a page asking for a new lease would get this server's first 10,000 jobs again, and a
   * restart would reload 10,000 of a larger queue and leave the rest in the log).
   */
  private async claim(includeOwn = false): Promise<number> {
    let total = 0;
    const leaseUntil = Date.now() + this.leaseMs;
    for (;;) {
      const batch = await this.store.claim(this.owner, leaseUntil, 10_000, includeOwn);
      let added = 0;
      for (const r of batch) if (this.adopt(r)) added++;
      total += added;
      if (batch.length < 10_000 || added === 0) break;
    }
    if (total > 0) this.log.info({ jobs: total }, 'claimed jobs from the job log');
    return total;
  }

  /** Queue a stored job unless this server already holds it. What was running runs again. */
  private adopt(r: JobRecord): boolean {
    if (this.registry.findById(r.id) || this.ended?.has(r.id)) return false;
    if (r.data === null) return false;
    const job = this.registry.restore({
      id: r.id,
      fn: r.fn,
      unique: r.unique,
      priority: r.priority,
      data: r.data,
      attempts: r.attempts,
      maxAttempts: r.maxAttempts,
      runAt: r.runAt,
    });
    if (r.state === 'running') this.journal.update(r.id, { state: 'queued', updatedAt: Date.now() });
    return job !== undefined;
  }

  // ---- JobListener -----------------------------------------------------------------------

  /**
   * The logged jobs this server holds that match `f`, newest first, at most f.limit: filtered on
   * the jobs' own fields, and only those kept made into records (a million queued jobs are read
   * once, not copied).
   */
  private livePending(f: JobFilter): JobRecord[] {
    const matching = function* (this: JobLog): Generator<Job> {
      for (const job of this.registry.jobs.values()) {
        if (!job.logged || job.cancelled) continue;
        if (f.fn !== undefined && job.fn.name !== f.fn) continue;
        if (f.state !== undefined && liveState(job) !== f.state) continue;
        if (f.since !== undefined && this.liveUpdatedAt(job) < f.since) continue;
        yield job;
      }
    }.call(this);
    return newest(matching, f.limit ?? 100, (job) => this.liveUpdatedAt(job)).map((job) => this.liveRecord(job));
  }

  /** When a held job last changed: its start if it runs (and the start is not written yet), else its creation. */
  private liveUpdatedAt(job: Job): number {
    return (job.worker !== null ? this.starts.get(job)?.at : undefined) ?? job.createdAt;
  }

  /** The job as a log record (state and worker from the registry). */
  private liveRecord(job: Job): JobRecord {
    const s = job.worker !== null ? this.starts.get(job) : undefined;
    const state = liveState(job);
    return {
      ...this.row(job, job.createdAt),
      state,
      attempts: job.retries,
      worker: s?.worker ?? (job.worker ? workerName(job.worker) : null),
      updatedAt: s?.at ?? job.createdAt,
    };
  }

  /** The job's row as first written (queued, leased to this server). */
  row(job: Job, now: number): JobRecord {
    return {
      id: job.id,
      fn: job.fn.name,
      unique: job.unique,
      priority: job.priority,
      data: job.data,
      state: 'queued',
      attempts: job.retries,
      maxAttempts: job.maxAttempts,
      runAt: job.runAt || now,
      worker: null,
      createdAt: job.createdAt,
      updatedAt: now,
      result: null,
      owner: this.owner,
      leaseUntil: now + this.leaseMs,
    };
  }

  /**
   * A new background job. True when its acknowledgement waits for the commit (the registry
   * is told); false when the store is not durable (nothing to wait for; a store that reads
   * pending jobs from the registry gets nothing yet). Throws while the store is down.
   */
  record(job: Job): boolean {
    if (this.store.attachLive) return false;
    if (!this.store.durable) {
      this.journal.insertBehind(job);
      return false;
    }
    this.journal.insert(job);
    return true;
  }

  /** A change of state: an update of the row, or the whole row for a store that has none yet. */
  private change(job: Job, set: Partial<Omit<JobRecord, 'id'>>): void {
    if (this.store.attachLive) this.journal.insertBehind(job, { leaseUntil: 0, ...set });
    else this.journal.update(job, set);
  }

  started(job: Job, worker: Peer): void {
    this.starts.set(job, { worker: workerName(worker), at: Date.now() });
    // A store that reads held jobs from the registry sees them running already: nothing to write.
    if (this.startTimer === null && !this.store.attachLive) this.startTimer = setTimeout(() => this.writeStarts(), RUNNING_WRITE_DELAY_MS).unref();
  }

  /** Write `running` for the jobs started at least RUNNING_WRITE_DELAY_MS ago (all of them with `all`). */
  private writeStarts(all = false): void {
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    if (this.store.attachLive) return;
    const due = Date.now() - RUNNING_WRITE_DELAY_MS;
    for (const [job, s] of this.starts) {
      if (!all && s.at > due) {
        this.startTimer = setTimeout(() => this.writeStarts(), s.at - due).unref();
        return;
      }
      this.starts.delete(job);
      this.journal.update(job, { state: 'running', worker: s.worker, updatedAt: s.at });
    }
  }

  /** The worker of an attempt that ends now, if its start was not written (it is written with the end). */
  private endStart(job: Job): string | undefined {
    const s = this.starts.get(job);
    if (s === undefined) return undefined;
    this.starts.delete(job);
    return s.worker;
  }

  /**
   * `set`, with the worker of an attempt that ends now when its start was not written. Not
   * `{ ...{ worker }, state, … }`: V8 (Node 20) takes a slow path for a spread of a non-empty
   * object followed by properties it does not have, 1–7 µs each time (overriding ones it has is
   * fast), 5% of the server's CPU under bench/durable.ts.
   */
  private ending<T extends Partial<Omit<JobRecord, 'id'>>>(job: Job, set: T): T {
    const worker = this.endStart(job);
    if (worker !== undefined) set.worker = worker;
    return set;
  }

  completed(job: Job, result: Buffer): void {
    this.ended?.add(job.id);
    const text = result.toString('utf8', 0, Math.min(result.length, MAX_RESULT_TEXT));
    if (this.store.keepDone) return this.store.keepDone(new Done(this, job, this.endStart(job) ?? null, text, Date.now()));
    this.change(job, this.ending(job, { state: 'done', attempts: job.retries + 1, result: text, data: null, updatedAt: Date.now() }));
  }

  failed(job: Job, reason: string, retryAt: number | null): void {
    const text = reason.slice(0, MAX_RESULT_TEXT);
    if (retryAt === null) {
      this.ended?.add(job.id);
      this.log.warn({ job: job.id, fn: job.fn.name, attempts: job.retries, reason: text }, 'job is dead');
    }
    this.change(
      job,
      this.ending(job, {
        state: retryAt === null ? 'dead' : 'failed',
        attempts: job.retries,
        runAt: retryAt ?? job.runAt,
        result: text,
        updatedAt: Date.now(),
      }),
    );
  }

  cancelled(job: Job): void {
    this.ended?.add(job.id);
    this.change(job, this.ending(job, { state: 'cancelled', data: null, updatedAt: Date.now() }));
  }

  // ---- operator actions --------------------------------------------------------------------

  /** Write pending changes so that reads of the store see them (the journal writes behind). */
  sync(): Promise<void> {
    this.writeStarts(true);
    return this.journal.sync();
  }

  /** Run a failed, dead or cancelled job again, with fresh attempts. */
  async retry(id: string): Promise<JobRecord> {
    await this.sync();
    const r = await this.store.get(id);
    if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${id} in the job log`);
    if (r.state === 'queued' || r.state === 'running')
      throw gtError('GT_JOB_NOT_FOUND', `Job ${id} is ${r.state}; only failed, dead or cancelled jobs can be retried`);
    if (r.data === null) throw gtError('GT_JOB_NOT_FOUND', `Job ${id} has no payload left to run (it is ${r.state})`);
    const existing = this.registry.findById(id);
    if (existing) this.registry.remove(existing);
    const now = Date.now();
    const set = { state: 'queued' as const, attempts: 0, runAt: now, owner: this.owner, leaseUntil: now + this.leaseMs, updatedAt: now };
    await this.store.write([{ op: 'update', id, set }]);
    this.registry.restore({ id, fn: r.fn, unique: r.unique, priority: r.priority, data: r.data, attempts: 0, maxAttempts: r.maxAttempts, runAt: now });
    return { ...r, ...set };
  }

  /** Cancel a pending job by its log id. */
  async cancel(id: string): Promise<void> {
    const job = this.registry.findById(id);
    if (job) {
      this.registry.cancel(job.handle);
      return;
    }
    await this.sync();
    const r = await this.store.get(id);
    if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${id} in the job log`);
    if (r.state === 'done' || r.state === 'cancelled') throw gtError('GT_JOB_NOT_FOUND', `Job ${id} is already ${r.state}`);
    await this.store.write([{ op: 'update', id, set: { state: 'cancelled', data: null, updatedAt: Date.now() } }]);
  }

  /** Stop the lease upkeep, write what is pending, and give the lease up (clean stop). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.fenceTimer) clearInterval(this.fenceTimer);
    this.fenceTimer = null;
    this.writeStarts(true);
    while (this.polling) await new Promise((r) => setTimeout(r, 10));
    await this.journal.close();
    await this.store.release(this.owner).catch((err: Error) => this.log.warn({ err: err.message }, 'could not release the job lease'));
  }
}

/** A completed job handed to a store that keeps them in memory (JobStore.keepDone). */
class Done implements DoneJob {
  constructor(
    private readonly log: JobLog,
    private readonly job: Job,
    private readonly worker: string | null,
    private readonly result: string,
    readonly updatedAt: number,
  ) {}

  get id(): string {
    return this.job.id;
  }

  get fn(): string {
    return this.job.fn.name;
  }

  record(): JobRecord {
    const { job, updatedAt } = this;
    // Read after the job left the registry: its attempts stopped counting at the completion.
    return { ...this.log.row(job, updatedAt), state: 'done', attempts: job.retries + 1, data: null, worker: this.worker, result: this.result, leaseUntil: 0 };
  }
}
