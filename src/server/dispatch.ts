// Binary command dispatch: one thin handler per request type, the rules live in JobRegistry.
// The switch is exhaustive over the command table; anything a client may not send ends in
// gearmand's "Command not expected".

import { exceptionCode, GeartrainError, gtError, isRetryable } from '../errors.js';
import { type Packet, res } from '../protocol/codec.js';
import { Cmd, type CommandName, GEARMAN_MAX_UNIQUE_SIZE } from '../protocol/commands.js';
import type { Connection, HeldReply } from './connection.js';
import type { CommitWaiter } from './job.js';
import { HIGH, type Job, type JobRegistry, LOW, NORMAL, type Peer, type Priority, type SubmitRequest } from './registry.js';

export interface DispatchContext {
  readonly registry: JobRegistry;
  /** False while shutting down: submissions are refused with GT_SHUTTING_DOWN. */
  accepting(): boolean;
  /**
   * Write a new background job to the job log. True when its JOB_CREATED must wait for the
   * commit (the registry's activate() or abandon() says when); throws when it is refused at once.
   */
  record(job: Job): boolean;
}

const str = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('latin1'));

/** Send an ERROR packet: gearmand's code spelling plus our message. */
export function sendError(conn: Connection, err: GeartrainError): void {
  conn.send(errorPacket(err));
}

export function errorPacket(err: unknown): Buffer {
  if (err instanceof GeartrainError) return res(Cmd.ERROR, err.gearmanCode, err.message);
  return res(Cmd.ERROR, 'QUEUE_ERROR', err instanceof Error ? err.message : String(err));
}

const SUBMIT: Partial<Record<number, [Priority, boolean]>> = {
  [Cmd.SUBMIT_JOB]: [NORMAL, false],
  [Cmd.SUBMIT_JOB_BG]: [NORMAL, true],
  [Cmd.SUBMIT_JOB_HIGH]: [HIGH, false],
  [Cmd.SUBMIT_JOB_HIGH_BG]: [HIGH, true],
  [Cmd.SUBMIT_JOB_LOW]: [LOW, false],
  [Cmd.SUBMIT_JOB_LOW_BG]: [LOW, true],
  [Cmd.SUBMIT_JOB_EPOCH]: [NORMAL, true],
};

export function dispatch(ctx: DispatchContext, conn: Connection, p: Packet): void {
  if (p.magic !== 'req') throw gtError('GT_BAD_MAGIC', 'Request magic expected');
  const { registry } = ctx;
  const a = p.args;
  const name = commandNameOf(p.type);
  switch (name) {
    case 'ECHO_REQ':
      conn.send(res(Cmd.ECHO_RES, a[0] ?? Buffer.alloc(0)));
      return;

    case 'SUBMIT_JOB':
    case 'SUBMIT_JOB_BG':
    case 'SUBMIT_JOB_HIGH':
    case 'SUBMIT_JOB_HIGH_BG':
    case 'SUBMIT_JOB_LOW':
    case 'SUBMIT_JOB_LOW_BG':
    case 'SUBMIT_JOB_EPOCH': {
      const [priority, background] = SUBMIT[p.type]!;
      const fn = requireFunction(a[0]);
      if (a[1]!.length > GEARMAN_MAX_UNIQUE_SIZE) throw gtError('GT_UNIQUE_TOO_LONG', a[1]!.length);
      const epoch = name === 'SUBMIT_JOB_EPOCH' ? parseEpoch(str(a[2])) : 0;
      const data = a[a.length - 1]!;
      const job = submitJob(ctx, conn, { fn, unique: str(a[1]), data, priority, background, when: epoch, defer: background });
      if (job.awaitingCommit) job.onCommit(new HeldCreated(conn, job));
      else conn.send(res(Cmd.JOB_CREATED, job.handle));
      return;
    }

    case 'GET_STATUS': {
      const handle = str(a[0]);
      const job = registry.jobs.get(handle);
      if (!job) conn.send(res(Cmd.STATUS_RES, handle, '0', '0', '0', '0'));
      else conn.send(res(Cmd.STATUS_RES, handle, '1', job.worker ? '1' : '0', String(job.numerator), String(job.denominator)));
      return;
    }

    case 'GET_STATUS_UNIQUE': {
      const unique = str(a[0]);
      const job = registry.findByUnique(unique);
      if (!job) conn.send(res(Cmd.STATUS_RES_UNIQUE, unique, '0', '0', '0', '0', '0'));
      else conn.send(res(Cmd.STATUS_RES_UNIQUE, unique, '1', job.worker ? '1' : '0', String(job.numerator), String(job.denominator), String(job.clientCount)));
      return;
    }

    case 'OPTION_REQ': {
      const option = str(a[0]);
      if (option.toLowerCase() !== 'exceptions') throw gtError('GT_UNKNOWN_OPTION');
      conn.exceptions = true;
      conn.send(res(Cmd.OPTION_RES, a[0]!));
      return;
    }

    case 'SET_CLIENT_ID':
      // gearmand shows "-" for no id; spaces would break the `workers` listing.
      conn.clientId = str(a[0]).replace(/[\s]/g, '_') || '-';
      return;

    case 'CAN_DO':
      registry.canDo(conn, requireFunction(a[0]), 0);
      return;

    case 'CAN_DO_TIMEOUT': {
      const timeout = Number.parseInt(str(a[1]), 10);
      if (!Number.isFinite(timeout)) throw gtError('GT_BAD_ARGUMENTS', `CAN_DO_TIMEOUT expects a timeout in milliseconds, received "${str(a[1])}"`);
      registry.canDo(conn, requireFunction(a[0]), Math.max(0, timeout));
      return;
    }

    case 'CANT_DO':
      registry.cantDo(conn, str(a[0]));
      return;

    case 'RESET_ABILITIES':
      registry.resetAbilities(conn);
      return;

    case 'PRE_SLEEP':
      registry.preSleep(conn);
      return;

    case 'GRAB_JOB':
    case 'GRAB_JOB_UNIQ':
    case 'GRAB_JOB_ALL': {
      const job = registry.grab(conn);
      if (!job) conn.send(NO_JOB);
      else if (name === 'GRAB_JOB') conn.send(res(Cmd.JOB_ASSIGN, job.handle, job.fn.name, job.payload));
      else conn.send(res(Cmd.JOB_ASSIGN_UNIQ, job.handle, job.fn.name, job.unique, job.payload));
      return;
    }

    case 'WORK_DATA':
    case 'WORK_WARNING': {
      const job = heldJob(ctx, conn, a[0]);
      if (job) registry.forward(job, p.type, a);
      return;
    }

    case 'WORK_STATUS': {
      const job = heldJob(ctx, conn, a[0]);
      if (!job) return;
      registry.status(job, toUint(a[1]), toUint(a[2]));
      registry.forward(job, p.type, a);
      return;
    }

    case 'WORK_COMPLETE': {
      const job = heldJob(ctx, conn, a[0]);
      if (!job) return;
      registry.forward(job, p.type, a);
      registry.complete(job, a[1]!);
      return;
    }

    case 'WORK_FAIL':
    case 'WORK_EXCEPTION': {
      const job = heldJob(ctx, conn, a[0]);
      if (!job) return;
      registry.forward(job, p.type, a);
      if (name === 'WORK_FAIL') return registry.attemptFailed(job, 'WORK_FAIL');
      // `GT_CODE: message` from a geartrain worker says whether another attempt could help.
      const text = a[1]!.toString('utf8', 0, Math.min(a[1]!.length, 2000));
      const code = exceptionCode(text);
      registry.attemptFailed(job, `WORK_EXCEPTION: ${text}`, false, code !== undefined && !isRetryable(code));
      return;
    }

    case 'ALL_YOURS':
      // Accepted and ignored, as gearmand does.
      return;

    case 'TEXT':
    case 'UNUSED':
    case 'NOOP':
    case 'JOB_CREATED':
    case 'NO_JOB':
    case 'JOB_ASSIGN':
    case 'ECHO_RES':
    case 'ERROR':
    case 'STATUS_RES':
    case 'OPTION_RES':
    case 'JOB_ASSIGN_UNIQ':
    case 'JOB_ASSIGN_ALL':
    case 'STATUS_RES_UNIQUE':
    case 'SUBMIT_JOB_SCHED':
    case 'SUBMIT_REDUCE_JOB':
    case 'SUBMIT_REDUCE_JOB_BACKGROUND':
      throw gtError('GT_COMMAND_NOT_EXPECTED');
    default:
      return assertNever(name);
  }
}

const NO_JOB = res(Cmd.NO_JOB);

/**
 * Create a job or join one (SUBMIT_JOB* here, POST /api/v1/jobs in http/). A background job is
 * logged before it is acknowledged: a new one, or a foreground job this submission joined (it
 * must now outlive its foreground clients). While `job.awaitingCommit`, the acknowledgement waits:
 * see Job.onCommit(). `r.defer` must equal `r.background`.
 */
export function submitJob(ctx: DispatchContext, client: Peer | null, r: SubmitRequest & { defer: boolean }): Job {
  if (!ctx.accepting()) throw gtError('GT_SHUTTING_DOWN');
  const { registry } = ctx;
  const job = registry.submit(client, r);
  if (r.background && !job.logged) {
    registry.logJob(job);
    let waits: boolean;
    try {
      waits = ctx.record(job);
    } catch (err) {
      registry.abandon(job, err as Error);
      throw err;
    }
    if (waits) job.waitForCommit();
    else registry.activate(job);
  }
  return job;
}

/**
 * A JOB_CREATED held in its connection's replies until the job is committed (an ERROR if it
 * is refused). One object per durable submission, and the only one kept while it waits.
 */
class HeldCreated implements HeldReply, CommitWaiter {
  packet: Buffer | null = null;
  constructor(
    private readonly conn: Connection,
    private readonly job: Job,
  ) {
    conn.hold(this);
  }

  settle(err: Error | null): void {
    this.packet = err === null ? res(Cmd.JOB_CREATED, this.job.handle) : errorPacket(err);
    this.conn.release();
  }
}

function commandNameOf(type: number): CommandName {
  // The decoder only emits types present in the table.
  return COMMAND_NAMES[type]!;
}
const COMMAND_NAMES: CommandName[] = [];
for (const [k, v] of Object.entries(Cmd)) COMMAND_NAMES[v] = k as CommandName;

function assertNever(x: never): never {
  throw new Error(`unhandled command ${String(x)}`);
}

function requireFunction(b: Buffer | undefined): string {
  const name = str(b);
  if (name.length === 0) throw gtError('GT_FUNCTION_NAME_INVALID', 'is empty');
  if (name.length > 512) throw gtError('GT_FUNCTION_NAME_INVALID', `is ${name.length} bytes; the limit is 512`);
  return name;
}

/**
 * The job a WORK_* packet names, if this worker holds it. Results for a job cancelled by an
 * operator go nowhere (it has no clients left); anything else gets gearmand's JOB_NOT_FOUND.
 */
function heldJob(ctx: DispatchContext, conn: Connection, handleArg: Buffer | undefined): Job | undefined {
  const handle = str(handleArg);
  const job = ctx.registry.held(conn, handle) ?? ctx.registry.heldCancelled(conn, handle);
  if (job) return job;
  throw gtError('GT_JOB_NOT_FOUND', 'Job given in work result not found');
}

function toUint(b: Buffer | undefined): number {
  const n = Number.parseInt(str(b), 10);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 0xffffffff) : 0;
}

function parseEpoch(s: string): number {
  const n = Number(s);
  if (!/^\d{1,12}$/.test(s) || !Number.isSafeInteger(n)) throw gtError('GT_BAD_ARGUMENTS', `SUBMIT_JOB_EPOCH expects a Unix time in seconds, received "${s}"`);
  return n;
}
