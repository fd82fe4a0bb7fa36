// The Client's public option and result types.

import type { GeartrainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ServerAddress } from './address.js';
import type { ReconnectOptions } from './backoff.js';

export type PriorityName = 'high' | 'normal' | 'low';

export interface ClientOptions {
  /** Job servers; a submission goes to one of them. @defaultValue ['127.0.0.1:4730'] */
  servers?: (string | ServerAddress)[];
  /** Longest wait for a TCP connection, in ms. @defaultValue 5000 */
  connectTimeoutMs?: number;
  /**
   * Backoff for a server that could not be reached: first delay, doubling with jitter up to
   * max. A server is skipped while it is backing off. @defaultValue {initialDelayMs:100,maxDelayMs:5000}
   */
  reconnect?: ReconnectOptions;
  /** Ask servers for WORK_EXCEPTION packets (OPTION_REQ exceptions). @defaultValue true */
  exceptions?: boolean;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /**
   * Awaited before each submission is sent (its timeout and signal already apply); a rejection
   * fails the submission with that error. WorkerCheck.ready fits here. @defaultValue none
   */
  beforeSubmit?: (fn: string) => Promise<void>;
}

export interface SubmitOptions {
  /** @defaultValue 'normal' */
  priority?: PriorityName;
  /** At most 64 bytes of UTF-8. Submissions with the same function and unique id coalesce; it also picks the server. */
  unique?: string;
  /** Run at this time (a Date, or Unix seconds): SUBMIT_JOB_EPOCH, background only, normal priority. */
  epoch?: Date | number;
  /** Foreground only: reject with GT_TIMEOUT after this many ms (the job itself goes on). */
  timeoutMs?: number;
  /**
   * Foreground only: how many times the job is sent again, with the same unique id, to the next
   * server in the id's order when the connection to the server holding it drops before its
   * result. Each server is tried at most once, so the number of servers bounds it too; 0 fails
   * the job with GT_CONNECTION_LOST at once. A job that was running on the lost server may run
   * twice (at least once, as with a crashed worker). @defaultValue every other server, once
   */
  failovers?: number;
  /** Stop waiting: the promise rejects with the signal's reason (the job itself goes on). */
  signal?: AbortSignal;
  /** WORK_DATA from the worker, in order. */
  onData?(chunk: Buffer): void;
  /** WORK_WARNING from the worker, in order. */
  onWarning?(chunk: Buffer): void;
  /** WORK_STATUS from the worker. */
  onStatus?(numerator: number, denominator: number): void;
}

export interface JobRef {
  handle: string;
  /** "host:port" of the server that holds the job. */
  server: string;
}

export interface JobStatus {
  known: boolean;
  running: boolean;
  numerator: number;
  denominator: number;
}

export interface TaskOptions extends SubmitOptions {
  /** Submit with SUBMIT_JOB_*_BG: the task is done once the server has the job. @defaultValue false */
  background?: boolean;
  onComplete?(data: Buffer): void;
  onFail?(): void;
  onException?(text: string): void;
  onCreated?(ref: JobRef): void;
}

export interface Task {
  readonly fn: string;
  /** Position among this client's tasks, from 1. */
  readonly id: number;
  /** Set once the server has answered JOB_CREATED. */
  ref?: JobRef;
  /** Settles when the task ends in runTasks(); never rejects. */
  result: Promise<TaskResult>;
}

export interface TaskResult {
  fn: string;
  id: number;
  ok: boolean;
  /** WORK_COMPLETE data of a foreground task. */
  data?: Buffer;
  ref?: JobRef;
  /**
   * Why the task did not succeed: a GeartrainError (GT_JOB_FAILED, GT_JOB_EXCEPTION, GT_TIMEOUT,
   * GT_CONNECTION_LOST, GT_NO_SERVERS, ...), or the abort reason when the task's signal fired.
   */
  error?: GeartrainError | Error;
}

/** The rejection of a job that raised: `exception` holds the worker's WORK_EXCEPTION text. */
export interface JobExceptionError extends GeartrainError {
  readonly code: 'GT_JOB_EXCEPTION';
  readonly exception: string;
}
