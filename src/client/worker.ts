// The Gearman worker: connects to every server, registers its functions, and runs at most
// `concurrency` jobs at once across all of them. A handler's return value becomes WORK_COMPLETE,
// a thrown WorkFail WORK_FAIL, any other throw WORK_EXCEPTION.

import { EventEmitter } from 'node:events';
import { exceptionText, type GeartrainError, gtError, invalidArgument } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { type Packet, req } from '../protocol/codec.js';
import { Cmd } from '../protocol/commands.js';
import { parseServer, type ServerAddress } from './address.js';
import type { ReconnectOptions } from './backoff.js';
import { functionNameBytes, own, positiveInt } from './bytes.js';
import type { ServerConnection } from './connection.js';
import { ActiveJob, type JobHandler, WorkFail } from './worker-job.js';
import { WorkerSession, type WorkerSessionOwner } from './worker-session.js';

export interface WorkerOptions {
  /** Job servers; the worker connects to every one. @defaultValue ['127.0.0.1:4730'] */
  servers?: (string | ServerAddress)[];
  /** Jobs run at once by this worker, across all functions and servers. @defaultValue 1 */
  concurrency?: number;
  /** Shown by the `workers` admin command (SET_CLIENT_ID). */
  clientId?: string;
  /** @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** Backoff between reconnect attempts. @defaultValue {initialDelayMs:100,maxDelayMs:5000} */
  reconnect?: ReconnectOptions;
  /**
   * While asleep (PRE_SLEEP sent), grab again after this many ms even without a NOOP: gearmand
   * 1.1 does not wake workers when a scheduled job comes due. @defaultValue 5000
   */
  pollIntervalMs?: number;
  /** @defaultValue a silent logger */
  logger?: Logger;
}

export interface FunctionOptions {
  /**
   * Longest run in ms: the worker aborts job.signal and answers WORK_FAIL. The server is told
   * (CAN_DO_TIMEOUT) this plus SERVER_TIMEOUT_GRACE_MS, so a responsive worker always reports
   * first and the server's requeue only catches a worker that is stuck.
   */
  timeout?: number;
}

export interface JobEvent {
  fn: string;
  handle: string;
  ms: number;
  outcome: 'complete' | 'fail' | 'exception';
}

/**
 * Added to a function's timeout in CAN_DO_TIMEOUT. With the same value on both sides the two
 * timers race: when the server wins it requeues the job and the worker's WORK_FAIL is refused,
 * so a job that always times out would be retried forever.
 */
export const SERVER_TIMEOUT_GRACE_MS = 1000;

/** Longest wait in close() for the answers to grabs already sent. */
const GRAB_ANSWER_WAIT_MS = 2000;

interface Registration {
  handler: JobHandler;
  timeout: number | undefined;
  packet: Buffer;
}

/** Events: 'job' (JobEvent), 'connect' / 'disconnect' ({server, error?}), 'error' (only when listened to). */
export class Worker extends EventEmitter implements WorkerSessionOwner {
  readonly connectTimeoutMs: number;
  readonly pollIntervalMs: number;
  private readonly concurrency: number;
  private readonly clientId: Buffer | undefined;
  private readonly log: Logger;
  private readonly sessions: WorkerSession[] = [];
  private readonly functions = new Map<string, Registration>();
  private readonly jobs = new Set<ActiveJob>();
  private grabsInFlight = 0;
  private nextSession = 0;
  private starting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];
  private grabWaiters: (() => void)[] = [];
  /** Set once close() has waited out the grabs in flight: an assignment now is left to the server. */
  private draining = false;

  constructor(opts: WorkerOptions = {}) {
    super();
    const servers = opts.servers ?? ['127.0.0.1:4730'];
    if (!Array.isArray(servers) || servers.length === 0) throw invalidArgument('non-empty array of servers', 'servers', servers);
    this.concurrency = positiveInt(opts.concurrency ?? 1, 'concurrency');
    this.connectTimeoutMs = positiveInt(opts.connectTimeoutMs ?? 5000, 'connectTimeoutMs');
    this.pollIntervalMs = positiveInt(opts.pollIntervalMs ?? 5000, 'pollIntervalMs');
    if (opts.clientId !== undefined && (typeof opts.clientId !== 'string' || opts.clientId.length === 0 || opts.clientId.includes('\0'))) {
      throw invalidArgument('non-empty string without NUL', 'clientId', opts.clientId);
    }
    this.clientId = opts.clientId === undefined ? undefined : Buffer.from(opts.clientId, 'utf8');
    this.log = opts.logger ?? silentLogger;
    const seen = new Set<string>();
    for (const s of servers) {
      const session = new WorkerSession(parseServer(s), this, opts.reconnect, this.log);
      if (seen.has(session.address)) continue;
      seen.add(session.address);
      this.sessions.push(session);
    }
  }

  /** Jobs running now. */
  get running(): number {
    return this.jobs.size;
  }

  /** Register a function (CAN_DO, or CAN_DO_TIMEOUT with `timeout`); a second call replaces the handler. */
  addFunction(name: string, handler: JobHandler, opts: FunctionOptions = {}): this {
    const nameBytes = functionNameBytes(name, 'name');
    if (typeof handler !== 'function') throw invalidArgument('function', 'handler', handler);
    const timeout = opts.timeout === undefined ? undefined : positiveInt(opts.timeout, 'timeout');
    const packet = timeout === undefined ? req(Cmd.CAN_DO, nameBytes) : req(Cmd.CAN_DO_TIMEOUT, nameBytes, String(timeout + SERVER_TIMEOUT_GRACE_MS));
    this.functions.set(name, { handler, timeout, packet });
    if (this.closing) return this;
    for (const s of this.sessions) {
      s.send(packet);
      s.wake();
    }
    this.pump();
    return this;
  }

  /** Unregister a function (CANT_DO). Jobs already running finish. */
  removeFunction(name: string): this {
    const nameBytes = functionNameBytes(name, 'name');
    if (this.functions.delete(name)) for (const s of this.sessions) s.send(req(Cmd.CANT_DO, nameBytes));
    return this;
  }

  /**
   * Connect to every server. Resolves once each is connected or has failed once; failed ones
   * keep retrying in the background.
   */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(gtError('GT_CLOSED', 'Worker'));
    this.starting ??= Promise.all(this.sessions.map((s) => s.connect())).then(() => undefined);
    return this.starting;
  }

  // ---- WorkerSessionOwner ----------------------------------------------------------------

  registration(): Buffer[] {
    const packets = this.clientId ? [req(Cmd.SET_CLIENT_ID, this.clientId)] : [];
    for (const r of this.functions.values()) packets.push(r.packet);
    return packets;
  }

  grabDone(): void {
    this.grabsInFlight--;
    if (this.grabsInFlight === 0) for (const wake of this.grabWaiters.splice(0)) wake();
  }

  /** Grab on connections that may, while running jobs plus outstanding grabs stay under concurrency. */
  pump(): void {
    if (this.closing || this.functions.size === 0) return;
    const n = this.sessions.length;
    for (let i = 0; i < n && this.jobs.size + this.grabsInFlight < this.concurrency; i++) {
      const idx = (this.nextSession + i) % n;
      const s = this.sessions[idx]!;
      if (!s.canGrab) continue;
      s.sendGrab();
      this.grabsInFlight++;
      this.nextSession = (idx + 1) % n;
    }
  }

  assigned(session: WorkerSession, p: Packet): void {
    const conn = session.conn!;
    const handle = p.args[0]!.toString('latin1');
    const fn = p.args[1]!.toString('utf8');
    // JOB_ASSIGN has no unique id; JOB_ASSIGN_ALL adds a reducer before the data.
    const unique = p.type === Cmd.JOB_ASSIGN ? '' : p.args[2]!.toString('utf8');
    if (this.draining) {
      // Stopping and past waiting for grabs: leave it held; the server requeues it when this
      // connection closes. (A job answering a grab sent before close() runs: releasing it would
      // cost a background job one of its attempts.)
      this.log.debug({ fn, handle }, 'job assigned while stopping; left for the server to requeue');
      return;
    }
    const reg = this.functions.get(fn);
    if (reg === undefined) {
      this.log.warn({ fn, handle }, 'job for a function no longer registered; failing it');
      conn.send(req(Cmd.WORK_FAIL, handle));
      return;
    }
    const job = new ActiveJob(handle, fn, unique, own(p.args[p.args.length - 1]!), session.address, conn);
    this.jobs.add(job);
    if (reg.timeout !== undefined) {
      const ms = reg.timeout;
      job.timer = setTimeout(() => this.abandon(job, gtError('GT_TIMEOUT', `Job ${fn} (${handle})`, ms), true), ms);
    }
    this.execute(job, reg.handler).catch((err: unknown) => this.report(err));
  }

  private async execute(job: ActiveJob, handler: JobHandler): Promise<void> {
    let packet: Buffer | (() => Buffer);
    let outcome: JobEvent['outcome'];
    try {
      const value = await handler(job);
      const data = resultBytes(value, job.fn);
      packet = () => req(Cmd.WORK_COMPLETE, job.handle, data);
      outcome = 'complete';
    } catch (err) {
      // WORK_FAIL carries no text, so the reason is logged here for the operator.
      const text = exceptionText(err);
      if (err instanceof WorkFail) {
        packet = req(Cmd.WORK_FAIL, job.handle);
        outcome = 'fail';
      } else {
        packet = req(Cmd.WORK_EXCEPTION, job.handle, Buffer.from(text, 'utf8'));
        outcome = 'exception';
      }
      this.log.info({ fn: job.fn, handle: job.handle, outcome, err: text }, 'job did not complete');
    }
    if (job.ended) return; // timed out, lost or stopped meanwhile: the result goes nowhere
    this.finish(job, packet, outcome);
  }

  private finish(job: ActiveJob, packet: Buffer | (() => Buffer), outcome: JobEvent['outcome']): void {
    job.end();
    job.conn.send(packet);
    this.jobs.delete(job);
    const ms = Math.round((performance.now() - job.startedAt) * 1000) / 1000;
    this.emit('job', { fn: job.fn, handle: job.handle, ms, outcome } satisfies JobEvent);
    this.afterJob();
  }

  /** End a job without its handler's result: WORK_FAIL when `fail`, else silently (connection gone). */
  private abandon(job: ActiveJob, reason: GeartrainError, fail: boolean): void {
    if (job.ended) return;
    if (fail) {
      this.log.warn({ fn: job.fn, handle: job.handle, err: reason.message }, 'job stopped; answering WORK_FAIL');
      job.end(reason);
      this.finish(job, req(Cmd.WORK_FAIL, job.handle), 'fail');
    } else {
      this.log.warn({ fn: job.fn, handle: job.handle, err: reason.message }, 'job abandoned; the server requeues it');
      job.end(reason);
      this.jobs.delete(job);
      this.afterJob();
    }
  }

  private afterJob(): void {
    if (this.jobs.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    this.pump();
  }

  connectionLost(_session: WorkerSession, conn: ServerConnection): void {
    for (const job of [...this.jobs]) if (job.conn === conn) this.abandon(job, gtError('GT_CONNECTION_LOST', job.server), false);
  }

  onUp(server: string): void {
    this.emit('connect', { server });
  }

  onDown(server: string, error: GeartrainError): void {
    this.emit('disconnect', { server, error });
  }

  private report(err: unknown): void {
    this.log.error({ err }, 'worker internal error');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // ---- shutdown --------------------------------------------------------------------------

  /**
   * Stop grabbing, let running jobs finish for up to `timeoutMs` (default 30000), answer
   * WORK_FAIL for the rest (aborting their signal), and close every connection. Idempotent.
   */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closing) return this.closing;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(invalidArgument('non-negative integer', 'timeoutMs', timeoutMs));
    }
    this.closing = this.shutdown(timeoutMs);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    // A connection lost from here on stays lost: one re-opened meanwhile would never be ended,
    // and would keep the process alive after close() resolved.
    for (const s of this.sessions) s.stopReconnecting();
    // A grab already sent is answered at once (NO_JOB or a job); wait for the answers, so a job
    // the server already assigned is run here rather than released with a failed attempt.
    if (this.grabsInFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.grabWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(timeoutMs, GRAB_ANSWER_WAIT_MS)))),
      ]);
      clearTimeout(timer);
    }
    this.draining = true;
    const busy = new Set([...this.jobs].map((j) => j.conn));
    // Connections with nothing running close now, releasing any job assigned to them meanwhile.
    const ended = this.sessions.filter((s) => s.conn === null || !busy.has(s.conn)).map((s) => s.end());
    if (this.jobs.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
      for (const job of [...this.jobs]) this.abandon(job, gtError('GT_CLOSED', 'Worker'), true);
    }
    // Every session, not only the busy ones: a busy connection may have dropped meanwhile. end()
    // of a session already ended resolves at once.
    await Promise.all([...ended, ...this.sessions.map((s) => s.end())]);
  }
}

function resultBytes(value: unknown, fn: string): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgument('string, Uint8Array or nothing', `the result of ${fn}`, value);
}
