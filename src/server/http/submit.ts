// POST /api/v1/jobs: submission in this process, through the same submitJob() the Gearman
// SUBMIT_JOB* packets use (so durability, coalescing, maxqueue and shutdown rules are the same),
// not through a loopback Gearman client: no extra connection, no second encode/decode, and no
// dependency on src/client. A foreground call waits as a Peer of its own, a tiny stand-in for a
// client connection that reads the WORK_* packets the registry forwards to it.

import { type GeartrainError, gtError } from '../../errors.js';
import { Cmd } from '../../protocol/commands.js';
import { submitJob } from '../dispatch.js';
import { type Job, newPeerState, type Peer, type Priority } from '../registry.js';
import type { HttpHost } from './host.js';

export interface HttpSubmission {
  fn: string;
  data: Buffer;
  priority: Priority;
  unique: string;
}

export interface Submitted {
  job: Job;
  /** It joined a job already queued or running with the same function and unique id. */
  coalesced: boolean;
}

function coalescedOnto(host: HttpHost, s: HttpSubmission): Job | undefined {
  if (s.unique === '' || s.unique === '-') return undefined;
  const prior = host.registry.findByUnique(s.unique);
  return prior && prior.fn.name === s.fn && !prior.cancelled ? prior : undefined;
}

/** A background job, resolved once it is in the job log (what JOB_CREATED waits for). */
export async function submitBackground(host: HttpHost, s: HttpSubmission): Promise<Submitted> {
  const prior = coalescedOnto(host, s);
  const job = submitJob(host, null, { fn: s.fn, unique: s.unique, data: s.data, priority: s.priority, background: true, defer: true });
  if (job.awaitingCommit) await new Promise<void>((resolve, reject) => job.onCommit({ settle: (err) => (err ? reject(err) : resolve()) }));
  return { job, coalesced: prior === job };
}

export type Outcome = { ok: true; job: Job; result: Buffer } | { ok: false; job: Job | null; error: GeartrainError };

let lastPeerId = 0;

/** A foreground HTTP caller as the registry sees it: a client waiting on one job. */
class HttpWaiter implements Peer {
  // Negative: never the id of a Gearman connection.
  readonly id = --lastPeerId;
  clientId = 'http';
  exceptions = true;
  readonly abilities: Peer['abilities'];
  wakeState: Peer['wakeState'];
  readonly held: Peer['held'];
  readonly attached: Peer['attached'];
  job: Job | null = null;

  constructor(
    readonly host: string,
    private readonly settle: (o: Outcome) => void,
  ) {
    const s = newPeerState();
    this.abilities = s.abilities;
    this.wakeState = s.wakeState;
    this.held = s.held;
    this.attached = s.attached;
  }

  /** The registry forwards encoded WORK_* packets: 12-byte header, then handle NUL argument. */
  send(packet: Buffer): void {
    const job = this.job;
    if (job === null) return;
    const type = packet.readUInt32BE(4);
    const body = packet.subarray(12);
    const nul = body.indexOf(0);
    const arg = nul < 0 ? Buffer.alloc(0) : body.subarray(nul + 1);
    switch (type) {
      case Cmd.WORK_COMPLETE:
        return this.settle({ ok: true, job, result: arg });
      case Cmd.WORK_FAIL:
        return this.settle({ ok: false, job, error: gtError('GT_JOB_FAILED', job.handle) });
      case Cmd.WORK_EXCEPTION:
        return this.settle({ ok: false, job, error: gtError('GT_JOB_EXCEPTION', job.handle, arg.toString('utf8')) });
      default:
        // WORK_STATUS is kept on the job (GET /jobs/:id/status); WORK_DATA and WORK_WARNING
        // have nowhere to go in one JSON answer.
        return;
    }
  }
}

/** Foreground calls in flight, so that close() can answer them. */
export class ForegroundCalls {
  private readonly pending = new Set<(o: Outcome) => void>();

  /**
   * Submit and wait for the result, at most `timeoutMs`. `gone` is called with a function to
   * run when the HTTP caller goes away: the job is then left as a Gearman client's would be
   * (dropped if it has not started and nobody else waits for it).
   */
  run(
    host: HttpHost,
    s: HttpSubmission,
    timeoutMs: number,
    peerHost: string,
    gone: (stop: () => void) => void,
  ): { job: Job; coalesced: boolean; outcome: Promise<Outcome> } {
    let finish!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((resolve) => {
      let done = false;
      finish = (o: Outcome): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(finish);
        // Detach: after a result the job is gone already; after a timeout or a caller that
        // left, a job nobody waits for is dropped unless it runs or is background.
        host.registry.clientGone(waiter);
        resolve(o);
      };
      const timer = setTimeout(
        () => finish({ ok: false, job: waiter.job, error: gtError('GT_TIMEOUT', `Job ${waiter.job?.handle ?? ''}`, timeoutMs) }),
        timeoutMs,
      );
    });
    const waiter = new HttpWaiter(peerHost, (o) => finish(o));
    const prior = coalescedOnto(host, s);
    let job: Job;
    try {
      job = submitJob(host, waiter, { fn: s.fn, unique: s.unique, data: s.data, priority: s.priority, background: false, defer: false });
    } catch (err) {
      finish({ ok: false, job: null, error: err as GeartrainError });
      throw err;
    }
    waiter.job = job;
    this.pending.add(finish);
    gone(() => finish({ ok: false, job, error: gtError('GT_CONNECTION_LOST', 'HTTP caller') }));
    return { job, coalesced: prior === job, outcome };
  }

  /** The server is closing: every caller still waiting gets GT_SHUTTING_DOWN. */
  closeAll(): void {
    for (const finish of [...this.pending]) finish({ ok: false, job: null, error: gtError('GT_SHUTTING_DOWN') });
  }
}
