// The job registry: jobs by handle and by unique id, per-function priority queues, the
// workers that can run each function, and who to wake when work arrives. No sockets here:
// peers are reached through the small `Peer` interface, so the rules can be tested alone.

import { Cmd } from '../protocol/commands.js';
import { res } from '../protocol/codec.js';
import { gtError } from '../errors.js';
import { Fifo, type Linked } from './fifo.js';
import { newUuid } from './uuid.js';
import { FunctionStats } from './stats.js';

export type Priority = 0 | 1 | 2;
export const HIGH: Priority = 0;
export const NORMAL: Priority = 1;
export const LOW: Priority = 2;
export const PRIORITY_NAMES = ['high', 'normal', 'low'] as const;

const AWAKE = 0;
const SLEEPING = 1;
const WOKEN = 2;
type WakeState = typeof AWAKE | typeof SLEEPING | typeof WOKEN;

/** A connection as the registry sees it: something to send packets to, plus its role state. */
export interface Peer {
  readonly id: number;
  readonly host: string;
  clientId: string;
  /** Client asked for WORK_EXCEPTION packets (OPTION_REQ exceptions). */
  exceptions: boolean;
  /** Functions this worker can run, with the per-job timeout in ms (0: none). */
  readonly abilities: Map<FunctionEntry, number>;
  wakeState: WakeState;
  /** Jobs this worker holds. */
  readonly held: Set<Job>;
  /** Foreground jobs this client waits on. */
  readonly attached: Set<Job>;
  send(packet: Buffer): void;
}

export function newPeerState(): Pick<Peer, 'clientId' | 'exceptions' | 'abilities' | 'wakeState' | 'held' | 'attached'> {
  return { clientId: '-', exceptions: false, abilities: new Map(), wakeState: AWAKE, held: new Set(), attached: new Set() };
}

export class Job implements Linked<Job> {
  prev: Job | null = null;
  next: Job | null = null;
  clients: Peer[] = [];
  worker: Peer | null = null;
  numerator = 0;
  denominator = 0;
  /** Attempts that failed so far (gearmand's `retries` in `show jobs`). */
  retries = 0;
  /** Attempts allowed before a logged job is dead. */
  maxAttempts = 1;
  /** Job log id; '' for a job not in the log (foreground jobs). */
  id = '';
  /** Settles when the job's log entry is committed; null once it is (or for unlogged jobs). */
  committed: Promise<void> | null = null;
  /** When the job may run, in ms since the epoch. */
  runAt: number;
  queued = false;
  cancelled = false;
  timer: NodeJS.Timeout | null = null;
  /** When a worker took it (performance.now()), for the duration metric. */
  startedAt = 0;
  constructor(
    readonly handle: string,
    readonly fn: FunctionEntry,
    readonly unique: string,
    readonly uniqueKey: string,
    readonly data: Buffer,
    readonly priority: Priority,
    /** Becomes true when a background submission joins a foreground job: someone was promised it runs. */
    public background: boolean,
    /** Unix time in seconds at which the job becomes runnable; 0 for now. */
    readonly when: number,
  ) {
    this.runAt = when * 1000;
  }
}

export class FunctionEntry {
  readonly queues: [Fifo<Job>, Fifo<Job>, Fifo<Job>] = [new Fifo(), new Fifo(), new Fifo()];
  running = 0;
  /** Epoch jobs not yet due. */
  scheduled = 0;
  readonly workers = new Set<Peer>();
  readonly sleepers = new Set<Peer>();
  /** Workers sent a NOOP for this function that have not grabbed yet. */
  awake = 0;
  /** Per-priority queue limits; 0 means unlimited. */
  maxQueue: [number, number, number] = [0, 0, 0];
  constructor(
    readonly name: string,
    /** Totals for /metrics; the registry keeps them when the function is dropped. */
    readonly stats: FunctionStats = new FunctionStats(name),
  ) {}
  get queued(): number {
    return this.queues[0].size + this.queues[1].size + this.queues[2].size;
  }
  /** gearmand's job_total: queued plus running. */
  get total(): number {
    return this.queued + this.running;
  }
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
  /** How logged jobs are retried. @defaultValue DEFAULT_RETRY */
  retry?: RetryPolicy;
}

/** What the job log needs to hear from the registry. Only logged jobs (id !== '') are reported. */
export interface JobListener {
  started(job: Job, worker: Peer): void;
  completed(job: Job, result: Buffer): void;
  /** An attempt failed: retried at `retryAt` (ms), or dead when it is null. */
  failed(job: Job, reason: string, retryAt: number | null): void;
  cancelled(job: Job): void;
}

export interface RetryPolicy {
  /** Attempts per job, first run included; per function. */
  maxAttempts(fn: string): number;
  /** Delay before attempt `attempt + 1`, after `attempt` failures. */
  delayMs(attempt: number): number;
}

/** Exponential backoff with full jitter: 1 s, 2 s, 4 s … capped at 5 minutes, 3 attempts. */
export function backoffPolicy(opts: { maxAttempts?: number | ((fn: string) => number); baseDelayMs?: number; maxDelayMs?: number } = {}): RetryPolicy {
  const max = opts.maxAttempts ?? 3;
  const base = opts.baseDelayMs ?? 1000;
  const cap = opts.maxDelayMs ?? 300_000;
  return {
    maxAttempts: typeof max === 'function' ? max : () => max,
    delayMs: (attempt) => {
      const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
      // Half fixed, half random: retries of many jobs that failed together spread out.
      return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    },
  };
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
  readonly jobs = new Map<string, Job>();
  private readonly byUnique = new Map<string, Job>();
  /** GET_STATUS_UNIQUE names only the unique id (no function): the latest job holding it. */
  private readonly byBareUnique = new Map<string, Job>();
  private seq = 0;
  /** Logged jobs by job log id. */
  private readonly byId = new Map<string, Job>();
  private logSeq = 0;
  private readonly handlePrefix: string;
  private readonly listener: JobListener | undefined;
  readonly retry: RetryPolicy;
  /** Makes job log ids unique across restarts and across servers sharing a store. */
  private readonly bootId = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`;

  constructor(opts: RegistryOptions) {
    this.handlePrefix = opts.handlePrefix;
    this.listener = opts.listener;
    this.retry = opts.retry ?? backoffPolicy();
  }

  /** Give a job a log id (new background jobs, or a foreground job a background submission joined). */
  logJob(job: Job): void {
    job.id = `${this.bootId}-${++this.logSeq}`;
    this.byId.set(job.id, job);
    job.maxAttempts = Math.max(1, this.retry.maxAttempts(job.fn.name));
  }

  /** Put a job from the job log back in the queue (start-up, or an operator's retry). */
  restore(r: RestoredJob): Job {
    const fn = this.fn(r.fn);
    const handle = `${this.handlePrefix}:${++this.seq}`;
    const uniqueKey = `${r.fn}\0${r.unique}`;
    const job = new Job(handle, fn, r.unique, uniqueKey, r.data, r.priority, true, 0);
    job.id = r.id;
    this.byId.set(job.id, job);
    job.retries = r.attempts;
    job.maxAttempts = r.maxAttempts;
    job.runAt = r.runAt;
    this.jobs.set(handle, job);
    if (!this.byUnique.has(uniqueKey)) this.byUnique.set(uniqueKey, job);
    this.byBareUnique.set(r.unique, job);
    this.schedule(job);
    return job;
  }

  fn(name: string): FunctionEntry {
    let f = this.functions.get(name);
    if (!f) {
      let stats = this.stats.get(name);
      if (!stats) this.stats.set(name, (stats = new FunctionStats(name)));
      f = new FunctionEntry(name, stats);
      this.functions.set(name, f);
    }
    return f;
  }

  // ---- clients ---------------------------------------------------------------------------

  /** Create a job or attach to the one with the same function and unique id. */
  submit(client: Peer | null, r: SubmitRequest & { defer?: boolean }): Job {
    const fn = this.fn(r.fn);
    let unique = r.unique;
    let uniqueKey: string;
    if (unique === '') {
      unique = newUuid();
      uniqueKey = `${r.fn}\0${unique}`;
    } else if (unique === '-') {
      // gearmand: a unique of "-" means "coalesce on the payload".
      uniqueKey = `${r.fn}\0-\0${r.data.toString('latin1')}`;
    } else {
      uniqueKey = `${r.fn}\0${unique}`;
      if (unique.length > 64) throw gtError('GT_UNIQUE_TOO_LONG', unique.length);
    }
    // A unique the server just made up (122 random bits) names no job yet: no lookup, one Map
    // operation fewer per anonymous submission (not measured alone; the bench's jobs are all
    // anonymous).
    const existing = r.unique === '' ? undefined : this.byUnique.get(uniqueKey);
    if (existing && !existing.cancelled) {
      if (client && !r.background) this.attach(existing, client);
      // A background submission was acknowledged with this job's handle: it must run even if
      // every foreground client leaves (gearmand would drop it with them).
      if (r.background) existing.background = true;
      return existing;
    }
    const limit = fn.maxQueue[r.priority];
    if (limit > 0 && fn.total >= limit) throw gtError('GT_QUEUE_FULL');

    const handle = `${this.handlePrefix}:${++this.seq}`;
    // Copy the payload: the decoder hands out views of a shared receive buffer.
    const job = new Job(handle, fn, unique, uniqueKey, Buffer.from(r.data), r.priority, r.background, r.when ?? 0);
    this.jobs.set(handle, job);
    this.byUnique.set(uniqueKey, job);
    this.byBareUnique.set(unique, job);
    if (client && !r.background) this.attach(job, client);
    // A deferred job waits for activate(): a background job runs only once it is durable.
    if (!r.defer) this.schedule(job);
    return job;
  }

  /** The job's log entry is committed: let it run. */
  activate(job: Job): void {
    job.committed = null;
    if (this.jobs.get(job.handle) === job && !job.queued && job.timer === null && job.worker === null) this.schedule(job);
  }

  /** The job could not be logged: waiting clients are failed and it is forgotten. */
  abandon(job: Job): void {
    job.committed = null;
    if (this.jobs.get(job.handle) !== job) return;
    this.forward(job, Cmd.WORK_FAIL, [Buffer.from(job.handle, 'latin1')]);
    this.remove(job);
  }

  private attach(job: Job, client: Peer): void {
    job.clients.push(client);
    client.attached.add(job);
  }

  private schedule(job: Job): void {
    // Most jobs run now (runAt 0): no clock read for them (not measured alone).
    if (job.runAt === 0) return this.enqueue(job, false);
    const delay = job.runAt - Date.now();
    if (delay <= 0) return this.enqueue(job, false);
    job.fn.scheduled++;
    job.timer = setTimeout(() => {
      job.timer = null;
      job.fn.scheduled--;
      this.schedule(job);
    }, Math.min(delay, MAX_TIMER_MS));
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
      job.clients = job.clients.filter((c) => c !== client);
      if (job.clients.length === 0 && !job.background && job.worker === null) this.remove(job);
    }
    client.attached.clear();
  }

  // ---- workers ---------------------------------------------------------------------------

  canDo(worker: Peer, name: string, timeoutMs: number): void {
    const fn = this.fn(name);
    if (worker.abilities.has(fn)) {
      worker.abilities.set(fn, timeoutMs);
      return;
    }
    // gearmand keeps a worker's functions most recently registered first: `workers` lists them
    // in that order and GRAB_JOB tries them in that order. libgearman sends CAN_DO in reverse
    // addFunction() order, so this is what makes a PHP worker prefer its first function.
    // Rebuilding the map costs O(functions) per CAN_DO, which only happens at registration.
    const earlier = [...worker.abilities];
    worker.abilities.clear();
    worker.abilities.set(fn, timeoutMs);
    for (const [f, t] of earlier) worker.abilities.set(f, t);
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
    for (const fn of worker.abilities.keys()) fn.sleepers.add(worker);
  }

  /**
   * Wake sleepers of `fn` until every queued job has one woken worker on its way. Only as
   * many NOOPs as there are jobs: a thousand idle workers are not stampeded for one job.
   */
  private wake(fn: FunctionEntry): void {
    while (fn.sleepers.size > 0 && fn.queued > fn.awake) {
      const worker = fn.sleepers.values().next().value as Peer;
      for (const f of worker.abilities.keys()) {
        f.sleepers.delete(worker);
        f.awake++;
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
    for (const f of worker.abilities.keys()) {
      if (was === WOKEN) f.awake--;
      else f.sleepers.delete(worker);
    }
    // This worker's wake-up may have been meant for another function's job: pass it on.
    if (was === WOKEN) for (const f of worker.abilities.keys()) this.wake(f);
  }

  private peek(worker: Peer): boolean {
    for (const fn of worker.abilities.keys()) if (fn.queued > 0) return true;
    return false;
  }

  /**
   * GRAB_JOB*: the highest priority among the worker's functions, then the worker's most
   * recently registered function, then FIFO. (gearmand picks the function first and only then
   * the priority; a high job waiting behind another function's normal ones is not starved here.)
   */
  grab(worker: Peer): Job | null {
    let job: Job | null = null;
    for (let p = 0; p < 3 && job === null; p++) {
      for (const fn of worker.abilities.keys()) {
        job = fn.queues[p as Priority].shift();
        if (job) break;
      }
    }
    if (job) {
      job.queued = false;
      job.worker = worker;
      job.fn.running++;
      job.startedAt = performance.now();
      worker.held.add(job);
      if (job.id !== '') this.listener?.started(job, worker);
      const timeout = worker.abilities.get(job.fn) ?? 0;
      if (timeout > 0) {
        // gearmand: timeouts under one second are raised to one second; on expiry, requeue.
        // Clamped: setTimeout turns a delay over 2^31-1 ms into 1 ms (an instant requeue).
        job.timer = setTimeout(() => {
          job.timer = null;
          if (job.worker === worker) this.requeue(job, `timed out after ${timeout} ms`);
        }, Math.min(Math.max(timeout, 1000), MAX_TIMER_MS));
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

  /** A running job leaves its worker: counts, the worker's held set, its timeout timer. */
  private releaseWorker(job: Job): void {
    if (job.worker) {
      job.worker.held.delete(job);
      job.worker = null;
      job.fn.running--;
    }
    if (job.timer) {
      clearTimeout(job.timer);
      job.timer = null;
    }
  }

  /** Put a running job back at the head of its queue (worker gone or timed out). */
  requeue(job: Job, reason = 'worker lost'): void {
    this.endAttempt(job, false);
    this.releaseWorker(job);
    job.numerator = job.denominator = 0;
    if (job.cancelled || (!job.background && job.clients.length === 0)) return this.remove(job);
    // A logged job counts the lost attempt and is retried with backoff, or dies.
    if (job.id !== '') return this.attemptFailed(job, reason, true);
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
    job.numerator = job.denominator = 0;
    if (job.cancelled || job.id === '') return this.remove(job);
    if (!keepClients) {
      for (const c of job.clients) c.attached.delete(job);
      job.clients = [];
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
    if (job.clients.length === 0) return;
    let packet: Buffer | null = null;
    let failPacket: Buffer | null = null;
    for (const c of job.clients) {
      if (type === Cmd.WORK_EXCEPTION && !c.exceptions) {
        c.send((failPacket ??= res(Cmd.WORK_FAIL, job.handle)));
      } else {
        c.send((packet ??= res(type, ...args)));
      }
    }
  }

  status(job: Job, numerator: number, denominator: number): void {
    job.numerator = numerator;
    job.denominator = denominator;
  }

  /** WORK_COMPLETE: the job is done. */
  complete(job: Job, result: Buffer): void {
    this.endAttempt(job, true);
    if (job.id !== '' && !job.cancelled) this.listener?.completed(job, result);
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
    if (job.worker) {
      job.worker.held.delete(job);
      job.worker = null;
      job.fn.running--;
    }
    for (const c of job.clients) c.attached.delete(job);
    job.clients = [];
    this.jobs.delete(job.handle);
    this.forgetUnique(job);
    if (job.id !== '') this.byId.delete(job.id);
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
    if (job.id !== '') this.listener?.cancelled(job);
    const worker = job.worker;
    if (worker) {
      job.cancelled = true;
      for (const c of job.clients) c.attached.delete(job);
      job.clients = [];
      this.jobs.delete(job.handle);
      this.forgetUnique(job);
    } else {
      this.remove(job);
    }
    return true;
  }

  private forgetUnique(job: Job): void {
    if (this.byUnique.get(job.uniqueKey) === job) this.byUnique.delete(job.uniqueKey);
    if (this.byBareUnique.get(job.unique) === job) this.byBareUnique.delete(job.unique);
  }

  /** The job with this log id, if this server holds it. */
  findById(id: string): Job | undefined {
    return this.byId.get(id);
  }

  findByUnique(unique: string): Job | undefined {
    return this.byBareUnique.get(unique);
  }

  // ---- admin -----------------------------------------------------------------------------

  setMaxQueue(name: string, limits: [number, number, number]): void {
    const fn = this.functions.get(name);
    if (fn) fn.maxQueue = limits;
  }

  /** `drop function`: only an idle function (no workers, nothing running) may go. */
  dropFunction(name: string): 'ok' | 'busy' | 'missing' {
    let found: FunctionEntry | undefined;
    for (const f of this.functions.values()) if (f.name.toLowerCase() === name.toLowerCase()) found = f;
    if (!found) return 'missing';
    if (found.workers.size > 0 || found.running > 0) return 'busy';
    for (const q of found.queues) for (let j = q.head; j; j = q.head) this.cancel(j.handle);
    // Epoch jobs not yet due are in no queue; left alone they would later run into a
    // function that no longer exists and hold their unique id forever.
    if (found.scheduled > 0) for (const j of [...this.jobs.values()]) if (j.fn === found) this.cancel(j.handle);
    this.functions.delete(found.name);
    return 'ok';
  }

  /** Remove everything (server close): timers stopped so the process can exit. */
  clear(): void {
    for (const job of this.jobs.values()) if (job.timer) clearTimeout(job.timer);
    this.jobs.clear();
    this.byUnique.clear();
    this.byBareUnique.clear();
    this.byId.clear();
    this.functions.clear();
  }

  get uniques(): IterableIterator<Job> {
    return this.byUnique.values();
  }
}

const NOOP = res(Cmd.NOOP);
