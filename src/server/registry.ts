// The job registry: jobs by handle and by unique id, per-function priority queues, the
// workers that can run each function, and who to wake when work arrives. No sockets here:
// peers are reached through the small `Peer` interface, so the rules can be tested alone.

import { gtError } from '../errors.js';
import { res } from '../protocol/codec.js';
import { Cmd } from '../protocol/commands.js';
import { Abilities } from './abilities.js';
import { FunctionEntry, Job, JobsByHandle, keepPayload, madeUniqueSeq, type Peer, parseSeq } from './job.js';
import { backoffPolicy, type RetryPolicy } from './retry.js';
import { FunctionStats } from './stats.js';
import type { JobNaming, Priority } from './types.js';
import { newUuid } from './uuid.js';

export { FunctionEntry, Job, JobsByHandle, type Peer } from './job.js';
export type { JobNaming, Priority } from './types.js';

export const HIGH: Priority = 0;
export const NORMAL: Priority = 1;
export const LOW: Priority = 2;
export const PRIORITY_NAMES = ['high', 'normal', 'low'] as const;

/** Peer.wakeState (types.ts). */
const AWAKE = 0;
const SLEEPING = 1;
const WOKEN = 2;

export function newPeerState(): Pick<Peer, 'clientId' | 'exceptions' | 'abilities' | 'wakeState' | 'held' | 'attached'> {
  return { clientId: '-', exceptions: false, abilities: new Abilities(), wakeState: AWAKE, held: new Set(), attached: new Set() };
}

export interface SubmitRequest {
  fn: string;
  unique: string;
  data: Buffer;
  priority: Priority;
  background: boolean;
  when?: number;
}

export interface RegistryOptions {
  /** Prefix of job handles, gearmand style `H:host`. */
  handlePrefix: string;
  /** Told about every change to a logged job, to keep the job log. */
  listener?: JobListener;
  /** How logged jobs are retried. @defaultValue backoffPolicy() */
  retry?: RetryPolicy;
  /** Functions one worker connection may register; CAN_DO beyond it is refused. @defaultValue 1000 */
  maxFunctionsPerWorker?: number;
}

export const DEFAULT_MAX_FUNCTIONS_PER_WORKER = 1000;

/** What the job log needs to hear from the registry. Only logged jobs (id !== '') are reported. */
export interface JobListener {
  started(job: Job, worker: Peer): void;
  completed(job: Job, result: Buffer): void;
  /** An attempt failed: retried at `retryAt` (ms), or dead when it is null. */
  failed(job: Job, reason: string, retryAt: number | null): void;
  cancelled(job: Job): void;
}

export interface RestoredJob {
  id: string;
  fn: string;
  unique: string;
  priority: Priority;
  data: Buffer;
  attempts: number;
  maxAttempts: number;
  runAt: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class JobRegistry {
  readonly functions = new Map<string, FunctionEntry>();
  /** Per-function totals for /metrics, by name; outlive `drop function` and clear(). */
  readonly stats = new Map<string, FunctionStats>();
  /** Every job, by handle. */
  readonly jobs: JobsByHandle;
  /**
   * Functions by lower-cased name, oldest first: `drop function` matches names regardless of
   * case (as gearmand does) with one lookup, not a scan of every function per command.
   */
  private readonly byLowerName = new Map<string, FunctionEntry[]>();
  /** Jobs whose client sent a unique id, by function and unique id (see uniqueKeyOf). */
  private readonly byUnique = new Map<string, Job>();
  /** GET_STATUS_UNIQUE names only the unique id (no function): the latest job holding it. */
  private readonly byBareUnique = new Map<string, Job>();
  private seq = 0;
  /** Jobs reloaded from the job log, by their log id (this process's own ids are parsed). */
  private readonly byId = new Map<string, Job>();
  private readonly naming: JobNaming;
  private readonly listener: JobListener | undefined;
  readonly retry: RetryPolicy;
  readonly maxFunctionsPerWorker: number;
  /**
   * Jobs an operator cancelled while they ran, by handle: out of `jobs`, but their workers may
   * still send results for them (ignored). A map, so a worker holding many jobs pays O(1) for
   * each result naming a handle it does not hold.
   */
  private readonly cancelledRunning = new Map<string, Job>();
  private fenced = false;

  constructor(opts: RegistryOptions) {
    const hex = newUuid().replaceAll('-', '');
    this.naming = {
      handlePrefix: opts.handlePrefix,
      // Makes job log ids unique across restarts and across servers sharing a store.
      bootId: `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4)
        .toString(36)
        .padStart(4, '0')}`,
      // A v4 UUID's shape: version 4, RFC 4122 variant; 60 random bits, then 60 bits of sequence.
      uniquePrefix: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8`,
      epoch: Date.now(),
    };
    this.jobs = new JobsByHandle(opts.handlePrefix);
    this.listener = opts.listener;
    this.retry = opts.retry ?? backoffPolicy();
    this.maxFunctionsPerWorker = opts.maxFunctionsPerWorker ?? DEFAULT_MAX_FUNCTIONS_PER_WORKER;
  }

  /** Put a job in the log (new background jobs, or a foreground job a background submission joined). */
  logJob(job: Job): void {
    job.logged = true;
    job.maxAttempts = Math.max(1, this.retry.maxAttempts(job.fn.name));
  }

  /** Put a job from the job log back in the queue (start-up, or an operator's retry). */
  restore(r: RestoredJob): Job {
    const fn = this.fn(r.fn);
    const uniqueKey = uniqueKeyOf(r.fn, r.unique, r.data);
    const job = new Job(++this.seq, fn, uniqueKey, keepPayload(r.data), r.priority, true, 0);
    job.logged = true;
    job.foreignId = r.id;
    this.byId.set(r.id, job);
    job.retries = r.attempts;
    job.maxAttempts = r.maxAttempts;
    job.runAt = r.runAt;
    this.jobs.add(job);
    if (uniqueKey !== null) {
      if (!this.byUnique.has(uniqueKey)) this.byUnique.set(uniqueKey, job);
      this.byBareUnique.set(r.unique, job);
    }
    this.schedule(job);
    return job;
  }

  fn(name: string): FunctionEntry {
    let f = this.functions.get(name);
    if (!f) {
      let stats = this.stats.get(name);
      if (!stats) this.stats.set(name, (stats = new FunctionStats(name)));
      f = new FunctionEntry(name, this.naming, stats);
      this.functions.set(name, f);
      const lower = name.toLowerCase();
      const same = this.byLowerName.get(lower);
      if (same) same.push(f);
      else this.byLowerName.set(lower, [f]);
    }
    return f;
  }

  // ---- clients ---------------------------------------------------------------------------

  /** Create a job or attach to the one with the same function and unique id. */
  submit(client: Peer | null, r: SubmitRequest & { defer?: boolean }): Job {
    const fn = this.fn(r.fn);
    if (r.unique.length > 64 && r.unique !== '-') throw gtError('GT_UNIQUE_TOO_LONG', r.unique.length);
    const uniqueKey = uniqueKeyOf(r.fn, r.unique, r.data);
    // An anonymous submission names no job yet: no lookup, and no unique id is made for it
    // (Job.unique spells one from its sequence number when asked). A client may still send a
    // unique this server made up (read from JOB_ASSIGN_UNIQ): that finds the job it names.
    let existing: Job | undefined;
    if (uniqueKey !== null) existing = this.byUnique.get(uniqueKey) ?? this.madeUp(fn, r.unique);
    if (existing && !existing.cancelled) {
      if (client && !r.background) this.attach(existing, client);
      // A background submission was acknowledged with this job's handle: it must run even if
      // every foreground client leaves (gearmand would drop it with them).
      if (r.background) existing.background = true;
      return existing;
    }
    const limit = fn.maxQueue[r.priority];
    if (limit > 0 && fn.total >= limit) throw gtError('GT_QUEUE_FULL');

    const job = new Job(++this.seq, fn, uniqueKey, keepPayload(r.data), r.priority, r.background, r.when ?? 0);
    this.jobs.add(job);
    if (uniqueKey !== null) {
      this.byUnique.set(uniqueKey, job);
      this.byBareUnique.set(r.unique, job);
    }
    if (client && !r.background) this.attach(job, client);
    // A deferred job waits for activate(): a background job runs only once it is durable.
    if (!r.defer) this.schedule(job);
    return job;
  }

  /** The job's log entry is committed: let it run. */
  activate(job: Job): void {
    if (this.jobs.holds(job) && !job.queued && job.timer === null && job.worker === null) this.schedule(job);
    job.commitSettled(null);
  }

  /** The job could not be logged: waiting clients are failed and it is forgotten. */
  abandon(job: Job, err: Error): void {
    if (this.jobs.holds(job)) {
      this.forward(job, Cmd.WORK_FAIL, [Buffer.from(job.handle, 'latin1')]);
      this.remove(job);
    }
    job.commitSettled(err);
  }

  private attach(job: Job, client: Peer): void {
    job.addClient(client);
    client.attached.add(job);
  }

  private schedule(job: Job): void {
    // Most jobs run now (runAt 0): no clock read for them (not measured alone).
    if (job.runAt === 0) return this.enqueue(job, false);
    const delay = job.runAt - Date.now();
    if (delay <= 0) return this.enqueue(job, false);
    job.fn.scheduled++;
    job.timer = setTimeout(
      () => {
        job.timer = null;
        job.fn.scheduled--;
        this.schedule(job);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  private enqueue(job: Job, atHead: boolean): void {
    const q = job.fn.queues[job.priority];
    if (atHead) q.unshift(job);
    else q.push(job);
    job.queued = true;
    this.wake(job.fn);
  }

  /** A client went away: forget it, and drop foreground jobs nobody waits for any more. */
  clientGone(client: Peer): void {
    for (const job of client.attached) {
      job.removeClient(client);
      if (job.clientCount === 0 && !job.background && job.worker === null) this.remove(job);
    }
    client.attached.clear();
  }

  // ---- workers ---------------------------------------------------------------------------

  canDo(worker: Peer, name: string, timeoutMs: number): void {
    const known = this.functions.get(name);
    if (known && worker.abilities.has(known)) {
      worker.abilities.add(known, timeoutMs);
      return;
    }
    // Checked before the function is made: a refused name leaves nothing behind.
    if (worker.abilities.size >= this.maxFunctionsPerWorker) {
      throw gtError('GT_TOO_MANY_FUNCTIONS', this.maxFunctionsPerWorker, name);
    }
    const fn = known ?? this.fn(name);
    worker.abilities.add(fn, timeoutMs);
    fn.workers.add(worker);
    if (worker.wakeState === WOKEN) fn.awake++;
    else if (worker.wakeState === SLEEPING) {
      fn.sleepers.add(worker);
      this.wake(fn);
    }
  }

  cantDo(worker: Peer, name: string): void {
    const fn = this.functions.get(name);
    if (fn && worker.abilities.delete(fn)) this.dropAbility(worker, fn);
  }

  resetAbilities(worker: Peer): void {
    for (const fn of worker.abilities.keys()) this.dropAbility(worker, fn);
    worker.abilities.clear();
  }

  private dropAbility(worker: Peer, fn: FunctionEntry): void {
    fn.workers.delete(worker);
    fn.sleepers.delete(worker);
    if (worker.wakeState === WOKEN) {
      fn.awake--;
      // It was woken, maybe for this function's job, and will not take it now: pass it on.
      this.wake(fn);
    }
  }

  /** PRE_SLEEP: answer NOOP at once if work is waiting (the race gearmand also covers). */
  preSleep(worker: Peer): void {
    this.settle(worker);
    if (this.peek(worker)) {
      worker.send(NOOP);
      return;
    }
    worker.wakeState = SLEEPING;
    for (let a = worker.abilities.first; a !== null; a = a.next) a.fn.sleepers.add(worker);
  }

  /**
   * Wake sleepers of `fn` until every queued job has one woken worker on its way. Only as
   * many NOOPs as there are jobs: a thousand idle workers are not stampeded for one job.
   */
  private wake(fn: FunctionEntry): void {
    while (fn.sleepers.size > 0 && fn.queued > fn.awake) {
      const worker = fn.sleepers.values().next().value as Peer;
      for (let a = worker.abilities.first; a !== null; a = a.next) {
        a.fn.sleepers.delete(worker);
        a.fn.awake++;
      }
      worker.wakeState = WOKEN;
      worker.send(NOOP);
    }
  }

  /** The worker spoke up (grab or sleep): it no longer counts as asleep or as woken. */
  private settle(worker: Peer): void {
    if (worker.wakeState === AWAKE) return;
    const was = worker.wakeState;
    worker.wakeState = AWAKE;
    for (let a = worker.abilities.first; a !== null; a = a.next) {
      if (was === WOKEN) a.fn.awake--;
      else a.fn.sleepers.delete(worker);
    }
    // This worker's wake-up may have been meant for another function's job: pass it on.
    if (was === WOKEN) for (let a = worker.abilities.first; a !== null; a = a.next) this.wake(a.fn);
  }

  private peek(worker: Peer): boolean {
    for (let a = worker.abilities.first; a !== null; a = a.next) for (const q of a.fn.queues) if (this.startable(q.head)) return true;
    return false;
  }

  /** A queue's head may go to a worker: not a logged job while the job log's lease is in doubt. */
  private startable(head: Job | null): head is Job {
    return head !== null && !(this.fenced && head.logged);
  }

  /**
   * While set, logged jobs are not handed to workers: the job log could not renew this server's
   * lease in time, so another server sharing the store may have claimed them (joblog.ts). A
   * queue whose head is such a job waits, whatever is behind it.
   */
  setFenced(on: boolean): void {
    if (this.fenced === on) return;
    this.fenced = on;
    if (!on) for (const fn of this.functions.values()) this.wake(fn);
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /**
   * Forget the logged jobs this server holds that no worker runs (queued, or waiting for a
   * retry), so they can be claimed again from the store: after a lapse of the lease, some may
   * belong to another server now. Jobs a foreground client waits on are kept.
   */
  dropIdleLogged(): number {
    let n = 0;
    for (const job of [...this.jobs.values()]) {
      if (!job.logged || job.worker !== null || job.awaitingCommit || job.clientCount > 0) continue;
      this.remove(job);
      n++;
    }
    return n;
  }

  /**
   * GRAB_JOB*: the highest priority among the worker's functions, then the worker's most
   * recently registered function, then FIFO. (gearmand picks the function first and only then
   * the priority; a high job waiting behind another function's normal ones is not starved here.)
   */
  grab(worker: Peer): Job | null {
    let job: Job | null = null;
    for (let p = 0; p < 3 && job === null; p++) {
      for (let a = worker.abilities.first; a !== null; a = a.next) {
        const q = a.fn.queues[p as Priority];
        if (!this.startable(q.head)) continue;
        job = q.shift();
        break;
      }
    }
    if (job) {
      job.queued = false;
      job.worker = worker;
      job.fn.running++;
      job.startedAt = performance.now();
      worker.held.add(job);
      if (job.logged) this.listener?.started(job, worker);
      const timeout = worker.abilities.get(job.fn) ?? 0;
      if (timeout > 0) {
        // gearmand: timeouts under one second are raised to one second; on expiry, requeue.
        // Clamped: setTimeout turns a delay over 2^31-1 ms into 1 ms (an instant requeue).
        job.timer = setTimeout(
          () => {
            job.timer = null;
            if (job.worker === worker) this.requeue(job, `timed out after ${timeout} ms`);
          },
          Math.min(Math.max(timeout, 1000), MAX_TIMER_MS),
        );
      }
    }
    this.settle(worker);
    return job;
  }

  /** The job `handle` if this worker holds it. */
  held(worker: Peer, handle: string): Job | undefined {
    const job = this.jobs.get(handle);
    return job && job.worker === worker ? job : undefined;
  }

  /** The job `handle` if an operator cancelled it while this worker ran it (its results go nowhere). */
  heldCancelled(worker: Peer, handle: string): Job | undefined {
    const job = this.cancelledRunning.get(handle);
    return job && job.worker === worker ? job : undefined;
  }

  /** A running job leaves its worker: counts, the worker's held set, its timeout timer. */
  private releaseWorker(job: Job): void {
    if (job.worker) this.leaveWorker(job);
    if (job.timer) {
      clearTimeout(job.timer);
      job.timer = null;
    }
  }

  private leaveWorker(job: Job): void {
    job.worker?.held.delete(job);
    job.worker = null;
    job.fn.running--;
    if (job.cancelled) this.cancelledRunning.delete(job.handle);
  }

  /** Put a running job back at the head of its queue (worker gone or timed out). */
  requeue(job: Job, reason = 'worker lost'): void {
    this.endAttempt(job, false);
    this.releaseWorker(job);
    job.setProgress(0, 0);
    if (job.cancelled || (!job.background && job.clientCount === 0)) return this.remove(job);
    // A logged job counts the lost attempt and is retried with backoff, or dies.
    if (job.logged) return this.attemptFailed(job, reason, true);
    job.fn.stats.retried++;
    job.retries++;
    this.enqueue(job, true);
  }

  /**
   * One attempt of a job failed. A logged job is retried after a backoff delay until it has
   * used its attempts, or at once when the failure is `permanent` (the worker said another
   * attempt cannot help), then it is dead (kept in the log, gone from the queue). Foreground
   * waiters already saw the failure unless `keepClients` (the worker was lost, not the job).
   */
  attemptFailed(job: Job, reason: string, keepClients = false, permanent = false): void {
    this.endAttempt(job, false);
    this.releaseWorker(job);
    job.retries++;
    job.setProgress(0, 0);
    if (job.cancelled || !job.logged) return this.remove(job);
    if (!keepClients) {
      job.detachClients();
    }
    if (job.retries < job.maxAttempts && !permanent) {
      job.fn.stats.retried++;
      job.runAt = Date.now() + this.retry.delayMs(job.retries);
      this.listener?.failed(job, reason, job.runAt);
      this.schedule(job);
    } else {
      job.fn.stats.dead++;
      this.listener?.failed(job, reason, null);
      this.remove(job);
    }
  }

  /**
   * An attempt ended: count it and its duration (stats.ts). A job no worker holds (its attempt
   * was already counted by requeue()) is not counted again.
   */
  private endAttempt(job: Job, ok: boolean): void {
    if (job.worker === null) return;
    const s = job.fn.stats;
    const seconds = (performance.now() - job.startedAt) / 1000;
    if (ok) {
      s.completed++;
      s.completedSeconds.observe(seconds);
    } else {
      s.failed++;
      s.failedSeconds.observe(seconds);
    }
  }

  workerGone(worker: Peer): void {
    this.settle(worker);
    this.resetAbilities(worker);
    for (const job of [...worker.held]) this.requeue(job);
  }

  // ---- results ---------------------------------------------------------------------------

  /** Forward a WORK_* packet to every client waiting on the job. */
  forward(job: Job, type: number, args: readonly Buffer[]): void {
    if (job.clientCount === 0) return;
    let packet: Buffer | null = null;
    let failPacket: Buffer | null = null;
    for (const [c, submissions] of job.clients) {
      const p = type === Cmd.WORK_EXCEPTION && !c.exceptions ? (failPacket ??= res(Cmd.WORK_FAIL, job.handle)) : (packet ??= res(type, ...args));
      for (let i = 0; i < submissions; i++) c.send(p);
    }
  }

  status(job: Job, numerator: number, denominator: number): void {
    job.setProgress(numerator, denominator);
  }

  /** WORK_COMPLETE: the job is done. */
  complete(job: Job, result: Buffer): void {
    this.endAttempt(job, true);
    if (job.logged && !job.cancelled) this.listener?.completed(job, result);
    this.remove(job);
  }

  remove(job: Job): void {
    if (job.queued) {
      job.fn.queues[job.priority].remove(job);
      job.queued = false;
    }
    if (job.timer) {
      clearTimeout(job.timer);
      job.timer = null;
      if (job.worker === null) job.fn.scheduled--;
    }
    if (job.worker) this.leaveWorker(job);
    job.detachClients();
    this.jobs.delete(job);
    this.forgetUnique(job);
    if (job.foreignId !== null && this.byId.get(job.foreignId) === job) this.byId.delete(job.foreignId);
    // A job not in the log is read by nobody from now on (a logged one still is, by the job log).
    if (!job.logged) job.forgetExtra();
  }

  /**
   * Admin `cancel job`: waiting clients get WORK_FAIL and the job is really gone: out of the
   * queue and the counts (gearmand 1.1.20 answers OK but keeps it queued and counted).
   * A running job is detached; its worker's later results are ignored.
   */
  cancel(handle: string): boolean {
    const job = this.jobs.get(handle);
    if (!job) return false;
    this.forward(job, Cmd.WORK_FAIL, [Buffer.from(job.handle, 'latin1')]);
    if (job.logged) this.listener?.cancelled(job);
    const worker = job.worker;
    if (worker) {
      job.cancelled = true;
      job.detachClients();
      this.jobs.delete(job);
      this.forgetUnique(job);
      this.cancelledRunning.set(job.handle, job);
    } else {
      this.remove(job);
    }
    return true;
  }

  private forgetUnique(job: Job): void {
    if (job.uniqueKey === null) return;
    if (this.byUnique.get(job.uniqueKey) === job) this.byUnique.delete(job.uniqueKey);
    if (this.byBareUnique.get(job.givenUnique) === job) this.byBareUnique.delete(job.givenUnique);
  }

  /** The job with this log id, if this server holds it. */
  findById(id: string): Job | undefined {
    const foreign = this.byId.get(id);
    if (foreign) return foreign;
    const { bootId } = this.naming;
    if (id.length <= bootId.length + 1 || id.charCodeAt(bootId.length) !== 0x2d || !id.startsWith(bootId)) return undefined;
    const job = this.jobs.bySequence(parseSeq(id, bootId.length + 1));
    return job?.logged && job.foreignId === null ? job : undefined;
  }

  findByUnique(unique: string): Job | undefined {
    return this.byBareUnique.get(unique) ?? this.madeUp(null, unique);
  }

  /** The anonymous job whose made-up unique id this is (of function `fn` when given). */
  private madeUp(fn: FunctionEntry | null, unique: string): Job | undefined {
    const job = this.jobs.bySequence(madeUniqueSeq(this.naming, unique));
    return job && job.givenUnique === '' && (fn === null || job.fn === fn) ? job : undefined;
  }

  // ---- admin -----------------------------------------------------------------------------

  setMaxQueue(name: string, limits: [number, number, number]): void {
    const fn = this.functions.get(name);
    if (fn) fn.maxQueue = limits;
  }

  /** `drop function`: only an idle function (no workers, nothing running) may go. */
  dropFunction(name: string): 'ok' | 'busy' | 'missing' {
    const lower = name.toLowerCase();
    const same = this.byLowerName.get(lower);
    // The most recently created of the names that match.
    const found = same?.[same.length - 1];
    if (!found) return 'missing';
    if (found.workers.size > 0 || found.running > 0) return 'busy';
    for (const q of found.queues) for (let j = q.head; j; j = q.head) this.cancel(j.handle);
    // Epoch jobs not yet due are in no queue; left alone they would later run into a
    // function that no longer exists and hold their unique id forever.
    if (found.scheduled > 0) for (const j of [...this.jobs.values()]) if (j.fn === found) this.cancel(j.handle);
    this.functions.delete(found.name);
    if (same!.length === 1) this.byLowerName.delete(lower);
    else same!.pop();
    return 'ok';
  }

  /** Remove everything (server close): timers stopped so the process can exit. */
  clear(): void {
    for (const job of this.jobs.values()) if (job.timer) clearTimeout(job.timer);
    this.jobs.clear();
    this.byUnique.clear();
    this.byBareUnique.clear();
    this.byId.clear();
    this.cancelledRunning.clear();
    this.functions.clear();
    this.byLowerName.clear();
  }

  /** One job per unique id, as `show unique jobs` lists them. */
  *uniques(): IterableIterator<Job> {
    for (const job of this.jobs.values()) if (job.uniqueKey === null || this.byUnique.get(job.uniqueKey) === job) yield job;
  }
}

/**
 * The key that coalesces submissions: function and unique id; for a unique of `-` (gearmand:
 * "coalesce on the payload") function and payload; null for no unique id.
 */
function uniqueKeyOf(fn: string, unique: string, data: Buffer): string | null {
  if (unique === '') return null;
  if (unique === '-') return `${fn}\0-\0${data.toString('latin1')}`;
  return `${fn}\0${unique}`;
}

const NOOP = res(Cmd.NOOP);
