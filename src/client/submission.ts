// One submitted job as the client tracks it: its validated request, which servers it has been
// tried on, and how each server answer settles it. A submission settles exactly once; answers
// that arrive later (after a timeout or abort) are ignored.

import { type GeartrainError, gtError, invalidArgument } from '../errors.js';
import { req } from '../protocol/codec.js';
import { Cmd } from '../protocol/commands.js';
import { functionNameBytes, own, positiveInt, toBytes, uniqueBytes } from './bytes.js';
import type { JobExceptionError, JobRef, PriorityName, TaskOptions } from './types.js';

const COMMANDS: Record<PriorityName, readonly [foreground: number, background: number]> = {
  high: [Cmd.SUBMIT_JOB_HIGH, Cmd.SUBMIT_JOB_HIGH_BG],
  normal: [Cmd.SUBMIT_JOB, Cmd.SUBMIT_JOB_BG],
  low: [Cmd.SUBMIT_JOB_LOW, Cmd.SUBMIT_JOB_LOW_BG],
};

/** Callbacks a submission reports to; user code, so every call is guarded. */
export type SubmissionHooks = Pick<TaskOptions, 'onData' | 'onWarning' | 'onStatus' | 'onCreated' | 'onComplete' | 'onFail' | 'onException'>;

export interface SubmissionOutcome {
  /** Background: the job reference. Foreground: the WORK_COMPLETE data. */
  resolve(value: { ref: JobRef; data?: Buffer }): void;
  reject(err: Error): void;
  /** A user callback threw. */
  report(err: unknown): void;
}

export class Submission {
  readonly fn: string;
  readonly background: boolean;
  /** The unique id's bytes as latin1: the key servers are hashed by; '' for none. */
  readonly uniqueKey: string;
  /** Servers this submission was sent to without getting JOB_CREATED. */
  readonly tried = new Set<string>();
  /** The last ERROR a server answered that sent the submission on to the next server. */
  refusedWith: GeartrainError | undefined;
  ref: JobRef | undefined;
  /** Resends left after losing the server that held the job (SubmitOptions.failovers). */
  private failoversLeft: number;
  private readonly packet: () => Buffer;
  private readonly hooks: SubmissionHooks;
  private readonly timeoutMs: number | undefined;
  private readonly signal: AbortSignal | undefined;
  private outcome: SubmissionOutcome | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** Validate everything up front: a bad argument throws before anything is sent. */
  constructor(fn: string, payload: string | Uint8Array | undefined, opts: TaskOptions, background: boolean) {
    const fnBytes = functionNameBytes(fn, 'fn');
    const unique = uniqueBytes(opts.unique, 'unique');
    const data = toBytes(payload, 'payload');
    const priority = opts.priority ?? 'normal';
    if (!Object.hasOwn(COMMANDS, priority)) throw invalidArgument("'high', 'normal' or 'low'", 'priority', opts.priority);
    const commands = COMMANDS[priority];
    if (opts.timeoutMs !== undefined) {
      positiveInt(opts.timeoutMs, 'timeoutMs');
      if (background) throw invalidArgument('no timeoutMs on a background submission', 'timeoutMs', opts.timeoutMs);
    }
    if (opts.failovers !== undefined && (!Number.isInteger(opts.failovers) || opts.failovers < 0))
      throw invalidArgument('non-negative integer', 'failovers', opts.failovers);
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalidArgument('AbortSignal', 'signal', opts.signal);
    for (const hook of ['onData', 'onWarning', 'onStatus', 'onCreated', 'onComplete', 'onFail', 'onException'] as const) {
      if (opts[hook] !== undefined && typeof opts[hook] !== 'function') throw invalidArgument('function', hook, opts[hook]);
    }
    this.fn = fn;
    this.background = background;
    // A unique of "-" coalesces on the payload (gearmand), so the payload picks the server.
    this.uniqueKey = unique.length === 1 && unique[0] === 0x2d ? `-\0${data.toString('latin1')}` : unique.toString('latin1');
    this.timeoutMs = opts.timeoutMs;
    this.failoversLeft = opts.failovers ?? Number.POSITIVE_INFINITY;
    this.signal = opts.signal;
    this.hooks = opts;
    if (opts.epoch === undefined) {
      const command = commands[background ? 1 : 0];
      this.packet = () => req(command, fnBytes, unique, data);
    } else {
      if (!background) throw invalidArgument('a background submission (submitBackground or background: true)', 'epoch', opts.epoch);
      if (priority !== 'normal') throw invalidArgument("'normal' priority (SUBMIT_JOB_EPOCH has no other)", 'priority', priority);
      const when = epochSeconds(opts.epoch);
      this.packet = () => req(Cmd.SUBMIT_JOB_EPOCH, fnBytes, unique, when, data);
    }
  }

  /** Spend one failover of the budget; false when none is left. */
  takeFailover(): boolean {
    if (this.failoversLeft <= 0) return false;
    this.failoversLeft--;
    return true;
  }

  /** The SUBMIT_* packet, encoded when the socket can take it. */
  readonly frame = (): Buffer => this.packet();

  /** Between begin() and the outcome: still waiting for the server. */
  get pending(): boolean {
    return this.outcome !== null;
  }

  /**
   * Start waiting: arm the timeout and the abort signal. Returns false (and rejects) when the
   * signal has already fired, so nothing is sent.
   */
  begin(outcome: SubmissionOutcome): boolean {
    this.outcome = outcome;
    if (this.signal?.aborted) {
      this.reject(abortReason(this.signal));
      return false;
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.reject(gtError('GT_TIMEOUT', `Job ${this.fn}`, this.timeoutMs!)), this.timeoutMs);
    }
    return true;
  }

  private readonly onAbort = (): void => this.reject(abortReason(this.signal!));

  created(ref: JobRef): void {
    this.ref = ref;
    if (this.outcome === null) return;
    this.call('onCreated', ref);
    if (this.background) this.settle({ ref });
  }

  data(chunk: Buffer): void {
    if (this.outcome) this.call('onData', own(chunk));
  }

  warning(chunk: Buffer): void {
    if (this.outcome) this.call('onWarning', own(chunk));
  }

  status(numerator: number, denominator: number): void {
    if (this.outcome) this.call('onStatus', numerator, denominator);
  }

  complete(data: Buffer): void {
    if (this.outcome === null) return;
    const copy = own(data);
    this.call('onComplete', copy);
    this.settle({ ref: this.ref!, data: copy });
  }

  fail(): void {
    if (this.outcome === null) return;
    this.call('onFail');
    this.reject(gtError('GT_JOB_FAILED', this.describe()));
  }

  exception(text: string): void {
    if (this.outcome === null) return;
    this.call('onException', text);
    const err = gtError('GT_JOB_EXCEPTION', this.describe(), text) as GeartrainError & { exception: string };
    err.exception = text;
    this.reject(err as JobExceptionError);
  }

  reject(err: Error): void {
    const outcome = this.finish();
    outcome?.reject(err);
  }

  private settle(value: { ref: JobRef; data?: Buffer }): void {
    const outcome = this.finish();
    outcome?.resolve(value);
  }

  private finish(): SubmissionOutcome | null {
    const outcome = this.outcome;
    this.outcome = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.signal?.removeEventListener('abort', this.onAbort);
    return outcome;
  }

  private describe(): string {
    return this.ref ? `${this.fn} (${this.ref.handle})` : this.fn;
  }

  private call<K extends keyof SubmissionHooks>(hook: K, ...args: Parameters<NonNullable<SubmissionHooks[K]>>): void {
    const fn = this.hooks[hook] as ((...a: typeof args) => void) | undefined;
    if (fn === undefined) return;
    try {
      fn.apply(this.hooks, args);
    } catch (err) {
      this.outcome?.report(err);
    }
  }
}

/** Unix seconds as the decimal text SUBMIT_JOB_EPOCH carries, rounded up: never early. */
function epochSeconds(epoch: Date | number): string {
  const ms = epoch instanceof Date ? epoch.getTime() : typeof epoch === 'number' ? epoch * 1000 : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) throw invalidArgument('Date or Unix time in seconds', 'epoch', epoch);
  return String(Math.ceil(ms / 1000));
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error(`This operation was aborted${reason === undefined ? '' : `: ${String(reason)}`}`), { name: 'AbortError', cause: reason });
}
