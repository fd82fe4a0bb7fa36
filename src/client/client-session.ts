// The client's protocol state for one job server: a lazily opened connection, the requests
// waiting for their reply (answered strictly in order, so a FIFO), and the foreground jobs
// waiting for results (routed by job handle).

import { GeartrainError, gtError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Packet, req } from '../protocol/codec.js';
import { Cmd, commandName } from '../protocol/commands.js';
import type { Backoff } from '../shared/backoff.js';
import type { ServerAddress } from './address.js';
import { formatAddress } from './address.js';
import { type ReconnectOptions, reconnectBackoff } from './backoff.js';
import { own, wireInt } from './bytes.js';
import { ServerConnection } from './connection.js';
import { Queue } from './queue.js';
import type { Submission } from './submission.js';

/** An ERROR packet from a server: `serverCode` is its first argument (QUEUE_ERROR, …). */
export type ServerError = GeartrainError & { serverCode: string };

/** ERROR codes in answer to a submission after which the client tries the next server. */
const ELSEWHERE = new Set(['QUEUE_ERROR', 'SHUTDOWN']);

/** A request that the server answers with exactly one packet (or ERROR), in order. */
interface PendingReply {
  /** The packet type that answers it. */
  readonly expects: number;
  readonly submission?: Submission;
  answer(p: Packet): void;
  /** ERROR from the server, or the connection failed before the answer came. */
  reject(err: GeartrainError): void;
}

/**
 * Foreground submissions that got the same handle (unique ids coalesce). Servers send each
 * WORK_* packet once per submission, back to back; so each progress packet goes to the next
 * submission in turn, and the first final packet settles them all.
 */
interface Attached {
  subs: Submission[];
  next: number;
}

export interface SessionOwner {
  readonly connectTimeoutMs: number;
  readonly exceptions: boolean;
  /** A submission that never got JOB_CREATED here: try another server. */
  failover(sub: Submission, err: GeartrainError): void;
  /** A foreground job created here whose result can no longer come: the connection dropped. */
  lost(sub: Submission, err: GeartrainError): void;
  report(err: unknown): void;
  onUp(address: string): void;
  onDown(address: string, err: GeartrainError): void;
}

export class ClientSession {
  readonly address: string;
  private readonly log: Logger;
  private conn: ServerConnection | null = null;
  private readonly pending = new Queue<PendingReply>();
  private readonly handles = new Map<string, Attached>();
  private readonly backoff: Backoff;
  /** While connecting fails, the time before which this server is skipped. */
  private downUntil = 0;
  private closed = false;

  constructor(
    readonly server: ServerAddress,
    private readonly owner: SessionOwner,
    reconnect: ReconnectOptions | undefined,
    log: Logger,
  ) {
    this.address = formatAddress(server);
    this.log = log.child({ server: this.address });
    this.backoff = reconnectBackoff(reconnect);
  }

  /** Whether submissions may be routed here now: connected, or not backing off. */
  available(now: number): boolean {
    return !this.closed && (this.conn !== null || now >= this.downUntil);
  }

  submit(sub: Submission): void {
    sub.tried.add(this.address);
    const conn = this.connection();
    this.pending.push({
      expects: Cmd.JOB_CREATED,
      submission: sub,
      answer: (p) => this.created(sub, p.args[0]!.toString('latin1')),
      reject: (err) => {
        if (err.code !== 'GT_SERVER_ERROR') return this.owner.failover(sub, err);
        // A server that cannot take jobs now (its job store is down, its queue is full, it is
        // stopping) did not create this one: another server may. Other refusals (a bad name)
        // would be the same everywhere.
        if (!ELSEWHERE.has((err as ServerError).serverCode)) return sub.reject(err);
        sub.refusedWith = err;
        this.owner.failover(sub, err);
      },
    });
    conn.send(sub.frame);
  }

  /** Send a request answered by one packet of type `expects`. */
  request<T>(expects: number, packet: Buffer, parse: (p: Packet) => T): Promise<T> {
    if (this.closed) return Promise.reject(gtError('GT_CLOSED', 'Client'));
    const conn = this.connection();
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ expects, answer: (p) => resolve(parse(p)), reject });
      conn.send(packet);
    });
  }

  private connection(): ServerConnection {
    if (this.conn) return this.conn;
    const conn = new ServerConnection(
      this.server,
      {
        packet: (p) => this.onPacket(p),
        closed: (err) => this.onClosed(conn, err),
      },
      { connectTimeoutMs: this.owner.connectTimeoutMs, log: this.log },
    );
    this.conn = conn;
    if (this.owner.exceptions) {
      // First on the wire, so its reply is first in the FIFO; submissions need not wait for it.
      this.pending.push({
        expects: Cmd.OPTION_RES,
        answer: () => this.log.debug('exceptions enabled'),
        reject: (err) => {
          if (err.code === 'GT_SERVER_ERROR') this.log.warn({ err: err.message }, 'server refused OPTION_REQ exceptions');
        },
      });
      conn.send(req(Cmd.OPTION_REQ, 'exceptions'));
    }
    conn.connect().then(
      () => {
        this.backoff.reset();
        this.log.debug('connected');
        this.owner.onUp(this.address);
      },
      (err: GeartrainError) => {
        if (this.conn !== conn) return;
        this.conn = null;
        this.downUntil = Date.now() + this.backoff.next();
        this.log.warn({ err: err.message, retryInMs: this.downUntil - Date.now() }, 'could not connect to job server');
        this.owner.onDown(this.address, err);
        this.abandon(err);
      },
    );
    return conn;
  }

  private onClosed(conn: ServerConnection, err: GeartrainError): void {
    if (this.conn !== conn) return;
    this.conn = null;
    // An idle connection that closed (a server restart) may be re-opened at once; one that
    // died with requests unanswered, or spoke garbage, is skipped for a backoff period.
    if (this.pending.size > 0 || this.handles.size > 0 || err.code !== 'GT_CONNECTION_LOST') {
      this.downUntil = Date.now() + this.backoff.next();
    }
    this.log.warn({ err: err.message }, 'connection to job server lost');
    this.owner.onDown(this.address, err);
    this.abandon(err);
  }

  /**
   * The connection is gone: unanswered submissions fail over, foreground jobs waiting for their
   * result go back to the owner (which may send them to another server), requests fail.
   */
  private abandon(err: GeartrainError): void {
    for (const p of this.pending.drain()) p.reject(err);
    if (this.handles.size === 0) return;
    const lost =
      err.code === 'GT_CONNECTION_LOST' ? err : new GeartrainError('GT_CONNECTION_LOST', gtError('GT_CONNECTION_LOST', this.address).message, { cause: err });
    const subs = [...this.handles.values()].flatMap((a) => a.subs);
    this.handles.clear();
    for (const sub of subs) this.owner.lost(sub, lost);
  }

  private created(sub: Submission, handle: string): void {
    sub.created({ handle, server: this.address });
    if (sub.background) return;
    const a = this.handles.get(handle);
    if (a) a.subs.push(sub);
    else this.handles.set(handle, { subs: [sub], next: 0 });
  }

  private onPacket(p: Packet): void {
    if (p.magic !== 'res') return this.protocolError(`request packet ${commandName(p.type)} from a server`);
    switch (p.type) {
      case Cmd.JOB_CREATED:
      case Cmd.STATUS_RES:
      case Cmd.STATUS_RES_UNIQUE:
      case Cmd.ECHO_RES:
      case Cmd.OPTION_RES: {
        const waiting = this.pending.shift();
        if (waiting === undefined || waiting.expects !== p.type) {
          return this.protocolError(`${commandName(p.type)} while waiting for ${waiting ? commandName(waiting.expects) : 'nothing'}`);
        }
        return waiting.answer(p);
      }
      case Cmd.ERROR: {
        const code = p.args[0]!.toString('latin1');
        const err: ServerError = Object.assign(gtError('GT_SERVER_ERROR', code, p.args[1]!.toString('utf8')), { serverCode: code });
        const waiting = this.pending.shift();
        if (waiting === undefined) this.log.warn({ err: err.message }, 'unsolicited ERROR from job server');
        else waiting.reject(err);
        return;
      }
      case Cmd.WORK_DATA:
      case Cmd.WORK_WARNING:
      case Cmd.WORK_STATUS: {
        const a = this.handles.get(handleOf(p.args[0]!));
        if (a === undefined) return;
        const sub = a.subs[a.next]!;
        a.next = (a.next + 1) % a.subs.length;
        if (p.type === Cmd.WORK_DATA) sub.data(p.args[1]!);
        else if (p.type === Cmd.WORK_WARNING) sub.warning(p.args[1]!);
        else sub.status(wireInt(p.args[1]), wireInt(p.args[2]));
        return;
      }
      case Cmd.WORK_COMPLETE:
      case Cmd.WORK_FAIL:
      case Cmd.WORK_EXCEPTION: {
        const handle = handleOf(p.args[0]!);
        const a = this.handles.get(handle);
        // Later copies of the final packet (one per coalesced submission) find nothing.
        if (a === undefined) return;
        this.handles.delete(handle);
        if (p.type === Cmd.WORK_COMPLETE) {
          const data = own(p.args[1]!);
          for (const sub of a.subs) sub.complete(data);
        } else if (p.type === Cmd.WORK_FAIL) {
          for (const sub of a.subs) sub.fail();
        } else {
          const text = p.args[1]!.toString('utf8');
          for (const sub of a.subs) sub.exception(text);
        }
        return;
      }
      default:
        this.log.debug({ type: commandName(p.type) }, 'ignoring packet not meant for a client');
    }
  }

  private protocolError(what: string): void {
    const err = gtError('GT_BAD_ARGUMENTS', `Job server sent ${what}`);
    this.log.warn({ err: err.message }, 'protocol error; dropping connection');
    this.conn?.fail(err);
  }

  /** Refuse everything still waiting with `err` and close the connection. */
  close(err: GeartrainError): Promise<void> {
    this.closed = true;
    for (const p of this.pending.drain()) {
      if (p.submission) p.submission.reject(err);
      else p.reject(err);
    }
    for (const a of this.handles.values()) for (const sub of a.subs) sub.reject(err);
    this.handles.clear();
    const conn = this.conn;
    this.conn = null;
    return conn ? conn.end() : Promise.resolve();
  }
}

/**
 * A job handle from a WORK_* packet. gearmand 1.1.20 sends the WORK_FAIL that replaces a
 * WORK_EXCEPTION (for clients without the exceptions option) with the handle's NUL terminator
 * inside the packet, so anything from the first NUL on is dropped.
 */
function handleOf(arg: Buffer): string {
  const nul = arg.indexOf(0);
  return arg.toString('latin1', 0, nul < 0 ? arg.length : nul);
}
