// A worker's link to one job server: connect (and reconnect with backoff), register the
// functions, and the grab cycle: GRAB_JOB_UNIQ → JOB_ASSIGN_UNIQ, or NO_JOB → PRE_SLEEP → NOOP.
// At most one grab is outstanding per connection; the Worker decides when to grab.

import type { GeartrainError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Packet, req } from '../protocol/codec.js';
import { Cmd, commandName } from '../protocol/commands.js';
import type { Backoff } from '../shared/backoff.js';
import { formatAddress, type ServerAddress } from './address.js';
import { type ReconnectOptions, reconnectBackoff } from './backoff.js';
import { ServerConnection } from './connection.js';

export interface WorkerSessionOwner {
  readonly connectTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** SET_CLIENT_ID and CAN_DO(_TIMEOUT) packets to send on every (re)connect. */
  registration(): Buffer[];
  /** An outstanding grab was answered or lost. */
  grabDone(): void;
  assigned(session: WorkerSession, p: Packet): void;
  /** The connection died: jobs it assigned are lost (the server requeues them). */
  connectionLost(session: WorkerSession, conn: ServerConnection): void;
  /** Grab if there is capacity. */
  pump(): void;
  onUp(address: string): void;
  onDown(address: string, err: GeartrainError): void;
}

const GRAB_JOB_UNIQ = req(Cmd.GRAB_JOB_UNIQ);
const PRE_SLEEP = req(Cmd.PRE_SLEEP);

export class WorkerSession {
  readonly address: string;
  conn: ServerConnection | null = null;
  /** idle: may grab; grabbing: GRAB_JOB_UNIQ sent; sleeping: PRE_SLEEP sent, waiting for NOOP. */
  private grab: 'idle' | 'grabbing' | 'sleeping' = 'idle';
  private ready = false;
  private closed = false;
  /** Set when the worker starts stopping: a connection lost from now on is not re-opened. */
  private stopping = false;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly server: ServerAddress,
    private readonly owner: WorkerSessionOwner,
    reconnect: ReconnectOptions | undefined,
    log: Logger,
  ) {
    this.address = formatAddress(server);
    this.log = log.child({ server: this.address });
    this.backoff = reconnectBackoff(reconnect);
  }

  get canGrab(): boolean {
    return this.ready && this.grab === 'idle' && this.conn?.writable === true;
  }

  /** One connection attempt; on failure a retry is scheduled. Never rejects. */
  connect(): Promise<void> {
    const conn = new ServerConnection(
      this.server,
      {
        packet: (p) => this.onPacket(p),
        closed: (err) => this.onClosed(conn, err),
        drained: () => this.owner.pump(),
      },
      { connectTimeoutMs: this.owner.connectTimeoutMs, log: this.log },
    );
    this.conn = conn;
    return conn.connect().then(
      () => {
        if (this.conn !== conn) return;
        this.backoff.reset();
        this.ready = true;
        this.grab = 'idle';
        for (const packet of this.owner.registration()) conn.send(packet);
        this.log.debug('connected');
        this.owner.onUp(this.address);
        this.owner.pump();
      },
      (err: GeartrainError) => {
        if (this.conn !== conn) return;
        this.conn = null;
        this.log.warn({ err: err.message }, 'could not connect to job server');
        this.owner.onDown(this.address, err);
        this.retry();
      },
    );
  }

  /** The worker is stopping: keep the connection while jobs finish on it, but never reconnect. */
  stopReconnecting(): void {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private retry(): void {
    if (this.closed || this.stopping) return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  send(packet: Buffer): void {
    if (this.ready) this.conn?.send(packet);
  }

  /** Ask for a job (the caller has checked canGrab and capacity). */
  sendGrab(): void {
    this.grab = 'grabbing';
    this.conn!.send(GRAB_JOB_UNIQ);
  }

  /** A new function was registered: a sleeping connection should look for its jobs. */
  wake(): void {
    if (this.grab !== 'sleeping') return;
    this.stopPolling();
    this.grab = 'idle';
  }

  private onPacket(p: Packet): void {
    switch (p.type) {
      case Cmd.NOOP:
        // A NOOP while grabbing is harmless: PRE_SLEEP after a NO_JOB re-checks the queue.
        if (this.grab === 'sleeping') {
          this.stopPolling();
          this.grab = 'idle';
          this.owner.pump();
        }
        return;
      case Cmd.NO_JOB:
        if (this.grab !== 'grabbing') return this.log.debug('NO_JOB without a grab');
        this.grab = 'sleeping';
        this.owner.grabDone();
        this.conn!.send(PRE_SLEEP);
        this.startPolling();
        this.owner.pump();
        return;
      case Cmd.JOB_ASSIGN:
      case Cmd.JOB_ASSIGN_UNIQ:
      case Cmd.JOB_ASSIGN_ALL:
        if (this.grab !== 'grabbing') return this.log.warn('job assigned without a grab; ignored');
        this.grab = 'idle';
        this.owner.grabDone();
        this.owner.assigned(this, p);
        this.owner.pump();
        return;
      case Cmd.ERROR:
        this.log.warn({ code: p.args[0]!.toString('latin1'), err: p.args[1]!.toString('utf8') }, 'job server answered ERROR');
        return;
      default:
        this.log.debug({ type: commandName(p.type) }, 'ignoring packet not meant for a worker');
    }
  }

  /**
   * While asleep, grab again every pollIntervalMs even without a NOOP: gearmand 1.1 sends no
   * NOOP when a scheduled (epoch) job comes due, and a lost wake-up must not stall a worker.
   */
  private startPolling(): void {
    this.stopPolling();
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      if (this.grab !== 'sleeping') return;
      this.grab = 'idle';
      this.owner.pump();
    }, this.owner.pollIntervalMs);
  }

  private stopPolling(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  private onClosed(conn: ServerConnection, err: GeartrainError): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.ready = false;
    this.stopPolling();
    if (this.grab === 'grabbing') this.owner.grabDone();
    this.grab = 'idle';
    this.log.warn({ err: err.message }, 'connection to job server lost');
    this.owner.onDown(this.address, err);
    this.owner.connectionLost(this, conn);
    this.retry();
  }

  /** Stop reconnecting and close the connection once what was sent has been handed over. */
  end(): Promise<void> {
    this.closed = true;
    this.ready = false;
    this.stopPolling();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.grab === 'grabbing') this.owner.grabDone();
    this.grab = 'idle';
    const conn = this.conn;
    this.conn = null;
    return conn ? conn.end() : Promise.resolve();
  }
}
