// A job as the registry holds it, the function it is queued under and the peers it passes
// between (the three refer to each other, so they are declared together; registry.ts holds the
// rules), and how a job's names are spelled. A queued job is mostly what a million of them cost
// in memory (bench/memory.ts), so it keeps a sequence number and a few references: its handle,
// job log id and made-up unique id are spelled from the number when asked, its booleans and
// priority share one field, and a small payload is a latin1 string.

import type { Abilities } from './abilities.js';
import { Fifo, type Linked } from './fifo.js';
import { FunctionStats } from './stats.js';
import type { JobNaming, Priority, WakeState } from './types.js';

/** A connection as the registry sees it: something to send packets to, plus its role state. */
export interface Peer {
  readonly id: number;
  readonly host: string;
  clientId: string;
  /** Client asked for WORK_EXCEPTION packets (OPTION_REQ exceptions). */
  exceptions: boolean;
  /** Functions this worker can run, with the per-job timeout in ms (0: none). */
  readonly abilities: Abilities<FunctionEntry>;
  wakeState: WakeState;
  /** Jobs this worker holds. */
  readonly held: Set<Job>;
  /** Foreground jobs this client waits on. */
  readonly attached: Set<Job>;
  send(packet: Buffer): void;
}

/** A function as the registry holds it: a queue per priority, its workers, and its counts. */
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
    /** How the registry names jobs (a job reaches it through its function: one field less a job). */
    readonly naming: JobNaming,
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

/** Job.flags: four booleans, the priority and the attempts allowed in one field (40 bytes a job less than six fields). */
const QUEUED = 1;
const CANCELLED = 2;
const LOGGED = 4;
const BACKGROUND = 8;
/** The priority (0-2) sits in the flags above the four booleans. */
const PRIORITY_SHIFT = 4;
/** And the attempts allowed above it: up to 2^23 - 1, more than any retry policy gets through. */
const ATTEMPTS_SHIFT = 8;
const MAX_ATTEMPTS = 2 ** 23 - 1;

/** The clients of a job nobody waits on: one shared empty map, never written to. */
const NO_CLIENTS: ReadonlyMap<Peer, number> = new Map();

/** Payloads shorter than this are kept as latin1 strings (see Job.payload). */
const STRING_PAYLOAD_MAX = 1024;

/** Waits for a background job's log entry: `err` is null once it is committed. */
export interface CommitWaiter {
  settle(err: Error | null): void;
}

/** A payload as a job keeps it. */
export function keepPayload(data: Buffer): Buffer | string {
  // Copied either way: the decoder hands out views of a shared receive buffer.
  return data.length < STRING_PAYLOAD_MAX ? data.toString('latin1') : Buffer.from(data);
}

/**
 * The fields a queued job does not use, kept aside: a job pays one pointer for all of them
 * until one is set (a client waits, a worker takes it, a timer waits for it, ...). 56 bytes of every
 * queued background job.
 */
class JobExtra {
  /**
   * Foreground clients, each with how many of its submissions joined the job (gearmand answers
   * each one): a map, so a client leaving costs O(1) however many wait on the job.
   */
  clients: Map<Peer, number> | null = null;
  /** Submissions waiting: the sum of `clients`. */
  waiting = 0;
  /** Attempts that failed so far (gearmand's `retries` in `show jobs`). */
  retries = 0;
  /** When the job may run, in ms since the epoch; 0 for now. */
  runAt = 0;
  worker: Peer | null = null;
  /** When the worker took it (performance.now()), for the duration metric. */
  startedAt = 0;
  progress: [number, number] | null = null;
  timer: NodeJS.Timeout | null = null;
  foreignId: string | null = null;
}

/** Waiting for a commit, nobody to tell yet: shared, never written. */
const NO_ACKS: CommitWaiter[] = Object.freeze([]) as unknown as CommitWaiter[];

export class Job implements Linked<Job> {
  prev: Job | null = null;
  next: Job | null = null;
  /** QUEUED | CANCELLED | LOGGED | BACKGROUND, the priority and maxAttempts, packed (see the constants above). */
  private flags = 0;
  /** Created at naming.epoch + born ms: a small integer for the first 24 days, not a boxed double. */
  private readonly born: number;
  private extra: JobExtra | null = null;
  /**
   * Told when the job's log entry is committed or refused (the JOB_CREATED replies waiting for
   * it): one, or several when submissions coalesced; null once it is, and for jobs not waiting
   * for a commit. See waitForCommit().
   */
  private acks: CommitWaiter | CommitWaiter[] | null = null;
  constructor(
    readonly seq: number,
    readonly fn: FunctionEntry,
    /**
     * The key that coalesces submissions (see uniqueKeyOf): function and the unique id the
     * client sent; null when it sent none. The unique id is read back from it (givenUnique).
     */
    readonly uniqueKey: string | null,
    /**
     * The payload: a small one as a latin1 string (one byte per character, so any bytes
     * survive), which costs its length plus 16 bytes where a Buffer costs about 100 more; a
     * large one as a Buffer. Packets take either (codec.ts); `data` makes a Buffer of it.
     */
    readonly payload: Buffer | string,
    priority: Priority,
    background: boolean,
    /** Unix time in seconds at which the job becomes runnable; 0 for now. */
    when: number,
  ) {
    if (when !== 0) this.runAt = when * 1000;
    this.flags = (background ? BACKGROUND : 0) | (priority << PRIORITY_SHIFT) | (1 << ATTEMPTS_SHIFT);
    this.born = Date.now() - fn.naming.epoch;
  }

  private get x(): JobExtra {
    return (this.extra ??= new JobExtra());
  }

  /** Foreground clients waiting on the job, each with its number of submissions. */
  get clients(): ReadonlyMap<Peer, number> {
    return this.extra?.clients ?? NO_CLIENTS;
  }

  /** Foreground submissions waiting on the job (GET_STATUS_UNIQUE's client count). */
  get clientCount(): number {
    return this.extra === null ? 0 : this.extra.waiting;
  }

  /** Attempts that failed so far (gearmand's `retries` in `show jobs`). */
  get retries(): number {
    return this.extra === null ? 0 : this.extra.retries;
  }
  set retries(n: number) {
    if (n !== 0 || this.extra !== null) this.x.retries = n;
  }

  /** When the job may run, in ms since the epoch; 0 for now. */
  get runAt(): number {
    return this.extra === null ? 0 : this.extra.runAt;
  }
  set runAt(t: number) {
    if (t !== 0 || this.extra !== null) this.x.runAt = t;
  }

  /** The worker running it; null while it waits. */
  get worker(): Peer | null {
    return this.extra === null ? null : this.extra.worker;
  }
  set worker(w: Peer | null) {
    if (w !== null || this.extra !== null) this.x.worker = w;
  }

  /** When its worker took it (performance.now()), for the duration metric. */
  get startedAt(): number {
    return this.extra === null ? 0 : this.extra.startedAt;
  }
  set startedAt(t: number) {
    this.x.startedAt = t;
  }

  /** The timer that queues it when its time comes (SUBMIT_JOB_EPOCH, a retry's backoff). */
  get timer(): NodeJS.Timeout | null {
    return this.extra === null ? null : this.extra.timer;
  }
  set timer(t: NodeJS.Timeout | null) {
    if (t !== null || this.extra !== null) this.x.timer = t;
  }

  /** The log id of a job reloaded from the store (made by another process); null otherwise. */
  get foreignId(): string | null {
    return this.extra === null ? null : this.extra.foreignId;
  }
  set foreignId(id: string | null) {
    if (id !== null || this.extra !== null) this.x.foreignId = id;
  }

  /**
   * Drop the JobExtra of a job that is gone. A dead Job can stay reachable for a while (a dead
   * object in the old generation that points to it counts as alive until the next full
   * collection), and each scavenge then copies and promotes it with all it points to. Without
   * its JobExtra there is less to carry: under the foreground load, dropping it takes what each
   * scavenge promotes from 575 to 413 KB and its pause from 2.1 to 1.8 ms, for about 3% more
   * foreground jobs/s.
   */
  forgetExtra(): void {
    this.extra = null;
  }

  /** From now until the registry's activate() or abandon(), the job waits for its log entry. */
  waitForCommit(): void {
    this.acks = NO_ACKS;
  }

  /** Its log entry is not committed yet: submissions that reach it must wait (onCommit()). */
  get awaitingCommit(): boolean {
    return this.acks !== null;
  }

  /** Tell `w` when the job's log entry is committed or refused; only while awaitingCommit. */
  onCommit(w: CommitWaiter): void {
    const a = this.acks;
    if (a === NO_ACKS || a === null) this.acks = w;
    else if (Array.isArray(a)) a.push(w);
    else this.acks = [a, w];
  }

  /** The log entry is committed (`err` null) or refused: tell whoever waits; nobody waits from now. */
  commitSettled(err: Error | null): void {
    const a = this.acks;
    this.acks = null;
    if (a === null) return;
    if (Array.isArray(a)) for (const w of a) w.settle(err);
    else a.settle(err);
  }

  /** When the job was submitted (or reloaded), ms since the epoch. */
  get createdAt(): number {
    return this.fn.naming.epoch + this.born;
  }

  private flag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }

  /** Attempts allowed before a logged job is dead (1 until the job is logged). */
  get maxAttempts(): number {
    return this.flags >>> ATTEMPTS_SHIFT;
  }
  set maxAttempts(n: number) {
    const kept = Math.min(Math.max(1, Math.floor(n) || 1), MAX_ATTEMPTS);
    this.flags = (this.flags & ((1 << ATTEMPTS_SHIFT) - 1)) | (kept << ATTEMPTS_SHIFT);
  }

  get priority(): Priority {
    return ((this.flags >>> PRIORITY_SHIFT) & 3) as Priority;
  }

  /** WORK_STATUS [numerator, denominator]: 0/0 until a worker sends one (most jobs). */
  get numerator(): number {
    const p = this.extra?.progress;
    return p ? p[0] : 0;
  }

  get denominator(): number {
    const p = this.extra?.progress;
    return p ? p[1] : 0;
  }

  /** WORK_STATUS; 0/0 forgets it (a new attempt). */
  setProgress(numerator: number, denominator: number): void {
    const forget = numerator === 0 && denominator === 0;
    if (!forget || this.extra !== null) this.x.progress = forget ? null : [numerator, denominator];
  }

  /** The unique id the client sent; '' when it sent none (see `unique`). */
  get givenUnique(): string {
    const key = this.uniqueKey;
    if (key === null) return '';
    // A unique id holds no NUL (the protocol splits arguments on NUL): `-\0` is gearmand's `-`.
    const rest = key.slice(this.fn.name.length + 1);
    return rest.charCodeAt(0) === 0x2d && rest.charCodeAt(1) === 0 ? '-' : rest;
  }

  /** In its function's queue. */
  get queued(): boolean {
    return (this.flags & QUEUED) !== 0;
  }
  set queued(on: boolean) {
    this.flag(QUEUED, on);
  }

  /** Cancelled while running: its worker's results are ignored. */
  get cancelled(): boolean {
    return (this.flags & CANCELLED) !== 0;
  }
  set cancelled(on: boolean) {
    this.flag(CANCELLED, on);
  }

  /** In the job log: background jobs, and foreground ones a background submission joined. */
  get logged(): boolean {
    return (this.flags & LOGGED) !== 0;
  }
  set logged(on: boolean) {
    this.flag(LOGGED, on);
  }

  /** Becomes true when a background submission joins a foreground job: someone was promised it runs. */
  get background(): boolean {
    return (this.flags & BACKGROUND) !== 0;
  }
  set background(on: boolean) {
    this.flag(BACKGROUND, on);
  }

  addClient(client: Peer): void {
    const x = this.x;
    const clients = (x.clients ??= new Map());
    clients.set(client, (clients.get(client) ?? 0) + 1);
    x.waiting++;
  }

  /** The client left: none of its submissions waits any more. */
  removeClient(client: Peer): void {
    const x = this.extra;
    const n = x?.clients?.get(client);
    if (n === undefined) return;
    x!.clients!.delete(client);
    x!.waiting -= n;
  }

  /** Forget every waiting client, and the job from each client's side too. */
  detachClients(): void {
    const x = this.extra;
    if (x === null || x.clients === null) return;
    for (const c of x.clients.keys()) c.attached.delete(this);
    x.clients = null;
    x.waiting = 0;
  }

  /** The payload as bytes (a copy for a small payload). */
  get data(): Buffer {
    return typeof this.payload === 'string' ? Buffer.from(this.payload, 'latin1') : this.payload;
  }

  /** Payload size in bytes. */
  get dataLength(): number {
    return this.payload.length;
  }

  get handle(): string {
    return `${this.fn.naming.handlePrefix}:${this.seq}`;
  }

  /** The client's unique id, or a random-looking UUID the server made up (gearmand makes one too). */
  get unique(): string {
    return this.givenUnique !== '' ? this.givenUnique : madeUnique(this.fn.naming, this.seq);
  }

  /** The job log id; '' for a job not in the log (foreground jobs). */
  get id(): string {
    if (!this.logged) return '';
    return this.foreignId ?? `${this.fn.naming.bootId}-${this.seq}`;
  }
}

/** `PREFIX` + the sequence number as 15 hex digits, spelled as the last 16 characters of a UUID. */
function madeUnique(naming: JobNaming, seq: number): string {
  const hex = seq.toString(16).padStart(15, '0');
  return `${naming.uniquePrefix}${hex.slice(0, 3)}-${hex.slice(3)}`;
}

/** The sequence number in a unique id this registry made up, or -1. */
export function madeUniqueSeq(naming: JobNaming, unique: string): number {
  if (unique.length !== 36 || unique.charCodeAt(23) !== 0x2d || !unique.startsWith(naming.uniquePrefix)) return -1;
  const hex = unique.slice(20, 23) + unique.slice(24);
  return /^[0-9a-f]{15}$/.test(hex) ? parseInt(hex, 16) : -1;
}

/** A decimal sequence number as the server writes it (no sign, no leading zero), or -1. */
export function parseSeq(text: string, from: number): number {
  const len = text.length - from;
  if (len < 1 || len > 15 || (len > 1 && text.charCodeAt(from) === 0x30)) return -1;
  let n = 0;
  for (let i = from; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The jobs by handle, keyed by sequence number: a number key costs no string per job. Reads
 * take the handle a client sent (`H:host:SEQ`).
 */
export class JobsByHandle {
  private readonly bySeq = new Map<number, Job>();
  constructor(private readonly handlePrefix: string) {}

  /** The sequence number in a handle of this server, or -1. */
  seqOf(handle: string): number {
    const p = this.handlePrefix;
    if (handle.length <= p.length + 1 || handle.charCodeAt(p.length) !== 0x3a || !handle.startsWith(p)) return -1;
    return parseSeq(handle, p.length + 1);
  }

  get(handle: string): Job | undefined {
    const seq = this.seqOf(handle);
    return seq < 0 ? undefined : this.bySeq.get(seq);
  }

  has(handle: string): boolean {
    return this.get(handle) !== undefined;
  }

  bySequence(seq: number): Job | undefined {
    return this.bySeq.get(seq);
  }

  add(job: Job): void {
    this.bySeq.set(job.seq, job);
  }

  /** Forget `job` (not another job that reused nothing: sequence numbers are never reused). */
  delete(job: Job): void {
    if (this.bySeq.get(job.seq) === job) this.bySeq.delete(job.seq);
  }

  holds(job: Job): boolean {
    return this.bySeq.get(job.seq) === job;
  }

  values(): IterableIterator<Job> {
    return this.bySeq.values();
  }

  get size(): number {
    return this.bySeq.size;
  }

  clear(): void {
    this.bySeq.clear();
  }
}
