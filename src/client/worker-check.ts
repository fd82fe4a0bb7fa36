// Whether any worker serves a function, asked of the servers with the `status` admin command
// (gearmand and geartrain answer it on their Gearman port). Gearman itself queues a job for a
// function nobody serves and lets its submitter wait for ever; a caller that wants to know
// first (`pipeline run --server`) passes ready() as the Client's beforeSubmit.

import { setTimeout as sleep } from 'node:timers/promises';
import { type GeartrainError, gtError, invalidArgument } from '../errors.js';
import { formatAddress, parseServer, type ServerAddress } from './address.js';
import { adminCommand, adminStatus } from './admin.js';

export interface WorkerCheckOptions {
  /** How long to wait for a worker of a function nobody serves before failing with GT_NO_WORKERS. @defaultValue 0 (fail at once) */
  waitMs?: number;
  /** Between two `status` rounds while waiting, in ms. @defaultValue 500 */
  pollMs?: number;
  /** Appended to the GT_NO_WORKERS message: what the reader can do about it. */
  hint?: string;
  /** Called once per function when it starts waiting for a worker. */
  onWaiting?(fn: string, servers: string[]): void;
  /** Called when a worker shows up for a function that was waited for. */
  onReady?(fn: string): void;
}

export class WorkerCheck {
  private readonly servers: ServerAddress[];
  private readonly names: string;
  private readonly waitMs: number;
  private readonly pollMs: number;
  /** A function's settled check: served, or refused with GT_NO_WORKERS. */
  private readonly known = new Map<string, Promise<boolean>>();
  private readonly abort = new AbortController();
  private firstRefusal: GeartrainError | null = null;

  constructor(
    servers: (string | ServerAddress)[],
    private readonly opts: WorkerCheckOptions = {},
  ) {
    this.servers = servers.map((s) => parseServer(s));
    this.names = this.servers.map(formatAddress).join(', ');
    const ms = (v: number | undefined, name: string, dflt: number, min: number): number => {
      if (v === undefined) return dflt;
      if (!Number.isInteger(v) || v < min) throw invalidArgument(min === 0 ? 'non-negative integer' : 'positive integer', name, v);
      return v;
    };
    this.waitMs = ms(opts.waitMs, 'waitMs', 0, 0);
    this.pollMs = ms(opts.pollMs, 'pollMs', 500, 1);
  }

  /** The first GT_NO_WORKERS this check gave, if any. */
  get refusal(): GeartrainError | null {
    return this.firstRefusal;
  }

  /**
   * Resolves once some server lists a worker for `fn`; rejects with GT_NO_WORKERS when none
   * does within waitMs. When no server answers at all it resolves: the submission then fails
   * with the Client's own connection error. Each function is checked once.
   */
  ready(fn: string): Promise<void> {
    let p = this.known.get(fn);
    if (p === undefined) {
      const check = this.check(fn);
      // "Nobody answered" is not remembered: the next submission asks again.
      check.then(
        (served) => {
          if (!served) this.known.delete(fn);
        },
        () => {},
      );
      this.known.set(fn, check);
      p = check;
    }
    return p.then(() => undefined);
  }

  /** Stop any wait in progress (it rejects with GT_CLOSED). Idempotent. */
  close(): void {
    this.abort.abort(gtError('GT_CLOSED', 'WorkerCheck'));
  }

  /**
   * Why a run over these servers could not do its work: a function no worker served, or no
   * server reachable now (each gets one connection attempt). Null when neither holds.
   */
  async blocker(): Promise<GeartrainError | null> {
    if (this.firstRefusal) return this.firstRefusal;
    const answers = await Promise.allSettled(this.servers.map((s) => adminCommand(s.host, s.port, 'version')));
    return answers.some((a) => a.status === 'fulfilled') ? null : gtError('GT_NO_SERVERS', this.names);
  }

  /** True once served, false when no server answered; rejects with GT_NO_WORKERS. */
  private async check(fn: string): Promise<boolean> {
    const deadline = Date.now() + this.waitMs;
    let waiting = false;
    for (;;) {
      const { answered, served } = await this.ask(fn);
      if (served) {
        if (waiting) this.opts.onReady?.(fn);
        return true;
      }
      if (answered === 0) return false;
      const left = deadline - Date.now();
      if (left <= 0) {
        const waited = this.waitMs > 0 ? ` (waited ${this.waitMs} ms)` : '';
        const err = gtError('GT_NO_WORKERS', fn, `${this.names}${waited}${this.opts.hint ? `: ${this.opts.hint}` : ''}`);
        this.firstRefusal ??= err;
        throw err;
      }
      if (!waiting) {
        waiting = true;
        this.opts.onWaiting?.(fn, this.servers.map(formatAddress));
      }
      await sleep(Math.min(this.pollMs, left), undefined, { signal: this.abort.signal }).catch(() => {
        throw this.abort.signal.reason as Error;
      });
    }
  }

  private async ask(fn: string): Promise<{ answered: number; served: boolean }> {
    const answers = await Promise.allSettled(this.servers.map((s) => adminStatus(s.host, s.port)));
    let answered = 0;
    let served = false;
    for (const a of answers) {
      if (a.status !== 'fulfilled') continue;
      answered++;
      if (a.value.some((row) => row.function === fn && row.workers > 0)) served = true;
    }
    return { answered, served };
  }
}
