// The Gearman client: submits jobs (foreground, background, scheduled), asks for status, and
// runs batches of tasks. One lazily opened connection per server, shared by every request and
// pipelined; a submission picks its server by unique id or round-robin, and fails over to the
// next server until one answers JOB_CREATED, or, for a foreground job, when the connection to
// its server drops before the result.

import { EventEmitter } from 'node:events';
import { GeartrainError, gtError, invalidArgument } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { type Packet, req } from '../protocol/codec.js';
import { Cmd } from '../protocol/commands.js';
import { runLimited } from '../shared/limit.js';
import { formatAddress, parseServer, type ServerAddress } from './address.js';
import { own, positiveInt, toBytes, uniqueBytes, wireInt } from './bytes.js';
import { ClientSession, type SessionOwner } from './client-session.js';
import { Submission } from './submission.js';
import { TaskEntry } from './tasks.js';
import type { ClientOptions, JobRef, JobStatus, SubmitOptions, Task, TaskOptions, TaskResult } from './types.js';

/**
 * Events: 'connect' ({server}), 'disconnect' ({server, error}), and 'error' (a callback such
 * as onData threw; emitted only when someone listens, and always logged).
 */
export class Client extends EventEmitter implements SessionOwner {
  readonly connectTimeoutMs: number;
  readonly exceptions: boolean;
  private readonly log: Logger;
  /** The configured servers, in order: what submissions are spread over. */
  private readonly sessions: ClientSession[] = [];
  /** Every session by "host:port", including ones opened only for getStatus(ref). */
  private readonly byAddress = new Map<string, ClientSession>();
  private readonly seeds = new Map<ClientSession, number>();
  private readonly reconnect: ClientOptions['reconnect'];
  private readonly beforeSubmit: ClientOptions['beforeSubmit'];
  private roundRobin = 0;
  private nextTaskId = 1;
  private tasks: TaskEntry[] = [];
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(opts: ClientOptions = {}) {
    super();
    const servers = opts.servers ?? ['127.0.0.1:4730'];
    if (!Array.isArray(servers) || servers.length === 0) throw invalidArgument('non-empty array of servers', 'servers', servers);
    this.connectTimeoutMs = positiveInt(opts.connectTimeoutMs ?? 5000, 'connectTimeoutMs');
    this.exceptions = opts.exceptions ?? true;
    if (typeof this.exceptions !== 'boolean') throw invalidArgument('boolean', 'exceptions', opts.exceptions);
    this.log = opts.logger ?? silentLogger;
    this.reconnect = opts.reconnect;
    if (opts.beforeSubmit !== undefined && typeof opts.beforeSubmit !== 'function') throw invalidArgument('function', 'beforeSubmit', opts.beforeSubmit);
    this.beforeSubmit = opts.beforeSubmit;
    for (const s of servers) {
      const session = this.session(parseServer(s));
      if (!this.sessions.includes(session)) this.sessions.push(session);
    }
  }

  /** Run a job and wait for its result (WORK_COMPLETE data). */
  submit(fn: string, payload?: string | Uint8Array, opts: SubmitOptions = {}): Promise<Buffer> {
    return this.begin(fn, payload, opts, false).then((r) => r.data ?? Buffer.alloc(0));
  }

  /** Queue a job; resolves once a server has it (JOB_CREATED). */
  submitBackground(fn: string, payload?: string | Uint8Array, opts: SubmitOptions = {}): Promise<JobRef> {
    return this.begin(fn, payload, opts, true).then((r) => r.ref);
  }

  private begin(fn: string, payload: string | Uint8Array | undefined, opts: TaskOptions, background: boolean): Promise<{ ref: JobRef; data?: Buffer }> {
    let sub: Submission;
    try {
      sub = new Submission(fn, payload, opts ?? {}, background);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.start(sub);
  }

  private start(sub: Submission): Promise<{ ref: JobRef; data?: Buffer }> {
    return new Promise((resolve, reject) => {
      if (!sub.begin({ resolve, reject, report: (err) => this.report(err) })) return;
      if (this.beforeSubmit === undefined) return this.route(sub);
      this.beforeSubmit(sub.fn).then(
        () => this.route(sub),
        (err: unknown) => sub.reject(err instanceof Error ? err : new Error(String(err))),
      );
    });
  }

  private route(sub: Submission, lastError?: GeartrainError): void {
    if (!sub.pending) return; // timed out or aborted while failing over
    if (this.closed) return sub.reject(gtError('GT_CLOSED', 'Client'));
    const session = this.pick(sub.uniqueKey, sub.tried);
    // A server's own refusal says more than "no server reachable".
    if (session === undefined) return sub.reject(sub.refusedWith ?? this.noServers(lastError));
    session.submit(sub);
  }

  /**
   * SessionOwner: the connection to the server holding a foreground job dropped before its
   * result. The job goes, with the same unique id, to the next server in the id's order that it
   * has not been on (a server that still holds it coalesces the two), within its failover budget;
   * without one left it fails with GT_CONNECTION_LOST.
   */
  lost(sub: Submission, err: GeartrainError): void {
    if (!sub.pending) return;
    const session = this.closed || !sub.takeFailover() ? undefined : this.pick(sub.uniqueKey, sub.tried);
    if (session === undefined) return sub.reject(err);
    this.log.info({ fn: sub.fn, from: err.message, to: session.address }, 'resubmitting a job whose server connection dropped');
    session.submit(sub);
  }

  /** SessionOwner: the server did not take the submission; try the next one. */
  failover(sub: Submission, err: GeartrainError): void {
    this.log.debug({ fn: sub.fn, err: err.message }, 'submission failing over');
    this.route(sub, err);
  }

  /**
   * The server for a request: by rendezvous hash of the unique id over the available servers
   * (so a server going down moves only its own ids), else the next available in turn.
   */
  private pick(uniqueKey: string, exclude?: ReadonlySet<string>): ClientSession | undefined {
    const now = Date.now();
    const usable = (s: ClientSession): boolean => s.available(now) && !(exclude?.has(s.address) ?? false);
    if (uniqueKey !== '') {
      let best: ClientSession | undefined;
      let bestScore = -1;
      for (const s of this.sessions) {
        if (!usable(s)) continue;
        const score = hash32(uniqueKey, this.seeds.get(s)!);
        if (score > bestScore) [best, bestScore] = [s, score];
      }
      return best;
    }
    const n = this.sessions.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.roundRobin + i) % n;
      const s = this.sessions[idx]!;
      if (usable(s)) {
        this.roundRobin = (idx + 1) % n;
        return s;
      }
    }
    return undefined;
  }

  private noServers(cause?: GeartrainError): GeartrainError {
    const err = gtError('GT_NO_SERVERS', this.sessions.map((s) => s.address).join(', '));
    return cause ? new GeartrainError(err.code, err.message, { cause }) : err;
  }

  private session(addr: ServerAddress): ClientSession {
    const key = formatAddress(addr);
    let s = this.byAddress.get(key);
    if (!s) {
      s = new ClientSession(addr, this, this.reconnect, this.log);
      this.byAddress.set(key, s);
      this.seeds.set(s, hash32(key, 0x811c9dc5));
    }
    return s;
  }

  /** The status of a job, asked of the server that holds it. */
  getStatus(ref: JobRef): Promise<JobStatus> {
    try {
      if (typeof ref !== 'object' || ref === null || typeof ref.handle !== 'string' || ref.handle.length === 0) {
        throw invalidArgument('{handle, server}', 'ref', ref);
      }
      return this.request(this.session(parseServer(ref.server)), Cmd.STATUS_RES, req(Cmd.GET_STATUS, ref.handle), parseStatus);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The status of the job with this unique id; `clients` counts foreground submitters waiting. */
  getStatusUnique(unique: string, server?: string): Promise<JobStatus & { clients: number }> {
    try {
      const bytes = uniqueBytes(unique, 'unique');
      if (bytes.length === 0) throw invalidArgument('non-empty string', 'unique', unique);
      const session = server === undefined ? this.pick(bytes.toString('latin1')) : this.session(parseServer(server));
      if (session === undefined) throw this.noServers();
      return this.request(session, Cmd.STATUS_RES_UNIQUE, req(Cmd.GET_STATUS_UNIQUE, bytes), (p) => ({
        ...parseStatus(p),
        clients: wireInt(p.args[5]),
      }));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** ECHO_REQ: the server sends the data back. */
  echo(data: string | Uint8Array, server?: string): Promise<Buffer> {
    try {
      const bytes = toBytes(data, 'data');
      const session = server === undefined ? this.pick('') : this.session(parseServer(server));
      if (session === undefined) throw this.noServers();
      return this.request(session, Cmd.ECHO_RES, req(Cmd.ECHO_REQ, bytes), (p) => own(p.args[0]!));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private request<T>(session: ClientSession, expects: number, packet: Buffer, parse: (p: Packet) => T): Promise<T> {
    if (this.closed) return Promise.reject(gtError('GT_CLOSED', 'Client'));
    return session.request(expects, packet, parse);
  }

  /** Queue a task for runTasks(); arguments are checked now. */
  addTask(fn: string, payload?: string | Uint8Array, opts: TaskOptions = {}): Task {
    if (this.closed) throw gtError('GT_CLOSED', 'Client');
    const sub = new Submission(fn, payload, opts, opts.background ?? false);
    const task = new TaskEntry(fn, this.nextTaskId++, sub);
    this.tasks.push(task);
    return task;
  }

  /**
   * Submit every queued task, at most `concurrency` in flight (a foreground task until its
   * result, a background one until JOB_CREATED), and wait for all. Results come in the order
   * the tasks were added; a task's failure is in its result, never a rejection.
   */
  async runTasks(opts: { concurrency?: number } = {}): Promise<TaskResult[]> {
    const limit = opts.concurrency === undefined ? Number.POSITIVE_INFINITY : positiveInt(opts.concurrency, 'concurrency');
    const tasks = this.tasks;
    this.tasks = [];
    await runLimited(tasks, limit, (task) =>
      this.start(task.submission).then(
        (r) => task.settle({ ok: true, ref: r.ref, ...(r.data ? { data: r.data } : {}) }),
        (err: Error) => task.settle({ ok: false, error: err }),
      ),
    );
    return Promise.all(tasks.map((t) => t.result));
  }

  onUp(server: string): void {
    this.emit('connect', { server });
  }

  onDown(server: string, error: GeartrainError): void {
    this.emit('disconnect', { server, error });
  }

  report(err: unknown): void {
    this.log.error({ err }, 'client callback threw');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Refuse new work, fail whatever still waits with GT_CLOSED, close every connection. */
  close(): Promise<void> {
    if (this.closing === null) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const err = gtError('GT_CLOSED', 'Client');
    for (const task of this.tasks) task.settle({ ok: false, error: err });
    this.tasks = [];
    await Promise.all([...this.byAddress.values()].map((s) => s.close(err)));
  }
}

function parseStatus(p: Packet): JobStatus {
  return {
    known: wireInt(p.args[1]) === 1,
    running: wireInt(p.args[2]) === 1,
    numerator: wireInt(p.args[3]),
    denominator: wireInt(p.args[4]),
  };
}

/** FNV-1a over latin1 code units from `seed`, finished with murmur3's fmix32 to spread it. */
function hash32(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
