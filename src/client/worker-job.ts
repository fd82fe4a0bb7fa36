// A job as a handler sees it: its payload, progress reporting, and an abort signal. Progress
// packets go out on the connection that assigned the job; once the job has ended (result sent,
// timed out, connection lost, worker stopped) they are dropped.

import { type GeartrainError, invalidArgument } from '../errors.js';
import { req } from '../protocol/codec.js';
import { Cmd } from '../protocol/commands.js';
import { toBytes } from './bytes.js';
import type { ServerConnection } from './connection.js';

/** Throw this from a handler to answer WORK_FAIL (any other error answers WORK_EXCEPTION). */
export class WorkFail extends Error {
  constructor(message = 'Job failed', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WorkFail';
  }
}

export interface WorkerJob {
  readonly handle: string;
  readonly fn: string;
  readonly unique: string;
  readonly payload: Buffer;
  /** "host:port" of the server that assigned the job. */
  readonly server: string;
  /** The payload as UTF-8 text. */
  text(): string;
  /** The payload parsed as JSON; throws GT_INVALID_ARGUMENT naming the function if it is not JSON. */
  json<T = unknown>(): T;
  /** WORK_STATUS: progress as numerator / denominator. */
  status(numerator: number, denominator: number): void;
  /** WORK_DATA: a chunk of partial result, delivered to waiting clients in order. */
  data(chunk: string | Uint8Array): void;
  /** WORK_WARNING */
  warning(chunk: string | Uint8Array): void;
  /** Aborted when the job times out, its connection is lost, or the worker stops it. */
  readonly signal: AbortSignal;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing (`async () => {}`) is typed void, which undefined would refuse
export type JobHandler = (job: WorkerJob) => Promise<string | Uint8Array | void> | string | Uint8Array | void;

export class ActiveJob implements WorkerJob {
  private readonly controller = new AbortController();
  /** Set once the job's outcome is decided; later results and progress are dropped. */
  ended = false;
  timer: NodeJS.Timeout | null = null;
  readonly startedAt = performance.now();

  constructor(
    readonly handle: string,
    readonly fn: string,
    readonly unique: string,
    readonly payload: Buffer,
    readonly server: string,
    /** The connection that assigned the job: its results go back on it. */
    readonly conn: ServerConnection,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  text(): string {
    return this.payload.toString('utf8');
  }

  json<T = unknown>(): T {
    const text = this.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw invalidArgument('a JSON payload', `function ${this.fn}`, text);
    }
  }

  status(numerator: number, denominator: number): void {
    if (!Number.isInteger(numerator) || numerator < 0) throw invalidArgument('non-negative integer', 'numerator', numerator);
    if (!Number.isInteger(denominator) || denominator < 0) throw invalidArgument('non-negative integer', 'denominator', denominator);
    this.send(req(Cmd.WORK_STATUS, this.handle, String(numerator), String(denominator)));
  }

  data(chunk: string | Uint8Array): void {
    const bytes = toBytes(chunk, 'chunk');
    this.send(() => req(Cmd.WORK_DATA, this.handle, bytes));
  }

  warning(chunk: string | Uint8Array): void {
    const bytes = toBytes(chunk, 'chunk');
    this.send(() => req(Cmd.WORK_WARNING, this.handle, bytes));
  }

  private send(frame: Buffer | (() => Buffer)): void {
    if (!this.ended) this.conn.send(frame);
  }

  /** Decide the outcome: stop the timer and (when `reason` is given) abort the handler. */
  end(reason?: GeartrainError): void {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (reason) this.controller.abort(reason);
  }
}
