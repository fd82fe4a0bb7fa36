// One TCP connection from a client or worker to a job server: connect with a deadline, decode
// the stream, and write with per-tick batching and backpressure. No protocol rules here;
// ClientSession and WorkerSession give the packets meaning.

import net from 'node:net';
import { type GeartrainError, gtError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Packet, PacketDecoder } from '../protocol/codec.js';
import { formatAddress, type ServerAddress } from './address.js';
import { Queue } from './queue.js';

/** A packet, or a function that encodes it when the socket can take it (large payloads). */
export type Frame = Buffer | (() => Buffer);

export interface ConnectionHandlers {
  packet(p: Packet): void;
  /** The open connection ended; `err` is GT_CONNECTION_LOST or a decode error. Called once. */
  closed(err: GeartrainError): void;
  /** Everything queued while the socket was congested has been handed to it. */
  drained?(): void;
}

export interface ConnectionOptions {
  connectTimeoutMs: number;
  log: Logger;
}

/** How long end() waits for the peer to close before destroying the socket. */
const END_GRACE_MS = 2000;

export class ServerConnection {
  readonly address: string;
  private readonly socket: net.Socket;
  private readonly decoder: PacketDecoder;
  /** Frames waiting for the connection to open or for 'drain'. */
  private readonly out = new Queue<Frame>();
  private state: 'connecting' | 'open' | 'closed' = 'connecting';
  private congested = false;
  private corked = false;
  private endTimer: NodeJS.Timeout | null = null;
  private readonly closedPromise: Promise<void>;

  constructor(
    private readonly addr: ServerAddress,
    private readonly on: ConnectionHandlers,
    private readonly opts: ConnectionOptions,
  ) {
    this.address = formatAddress(addr);
    this.decoder = new PacketDecoder({
      packet: (p) => this.on.packet(p),
      error: (e) => {
        this.opts.log.warn({ server: this.address, code: e.code, err: e.message }, 'bad packet from job server');
        if (e.fatal) this.fail(gtError(e.code, e.message));
      },
    });
    this.socket = new net.Socket();
    // Always listened to: an 'error' with no listener would throw out of the event loop.
    this.socket.on('error', (err) => this.opts.log.debug({ server: this.address, err: err.message }, 'socket error'));
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** True when a write now would go straight to the socket. */
  get writable(): boolean {
    return this.state === 'open' && !this.congested;
  }

  /** Open the socket; rejects with GT_CONNECTION_FAILED. Frames sent meanwhile are held. */
  connect(): Promise<void> {
    const { socket } = this;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        settle(gtError('GT_CONNECTION_FAILED', this.address, `no answer within ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      const onError = (err: Error): void => settle(gtError('GT_CONNECTION_FAILED', this.address, err.message));
      const onClose = (): void => settle(gtError('GT_CONNECTION_FAILED', this.address, 'closed while connecting'));
      let settled = false;
      const settle = (err?: GeartrainError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (err) {
          this.state = 'closed';
          socket.destroy();
          return reject(err);
        }
        if (this.state === 'closed') return reject(gtError('GT_CONNECTION_FAILED', this.address, 'closed while connecting'));
        this.state = 'open';
        this.listen();
        this.flush();
        resolve();
      };
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.connect({ host: this.addr.host, port: this.addr.port }, () => settle());
    });
  }

  private listen(): void {
    const { socket } = this;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('drain', () => {
      this.congested = false;
      this.flush();
      if (!this.congested) this.on.drained?.();
    });
    socket.once('close', () => {
      if (this.endTimer) clearTimeout(this.endTimer);
      this.endTimer = null;
      const wasOpen = this.state === 'open';
      this.state = 'closed';
      this.out.drain();
      if (wasOpen) this.on.closed(gtError('GT_CONNECTION_LOST', this.address));
    });
  }

  /**
   * Queue a packet. Writes made in one tick are corked into one syscall (pipelined submits);
   * once write() returns false, frames wait in our queue, unencoded, until 'drain'.
   */
  send(frame: Frame): void {
    if (this.state === 'closed') return;
    if (this.state === 'connecting' || this.congested || this.out.size > 0) {
      this.out.push(frame);
      return;
    }
    this.write(frame);
  }

  private write(frame: Frame): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    if (!this.socket.write(typeof frame === 'function' ? frame() : frame)) this.congested = true;
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private flush(): void {
    while (!this.congested && this.state === 'open') {
      const frame = this.out.shift();
      if (frame === undefined) return;
      this.write(frame);
    }
  }

  /** Hand every queued frame to the socket, close it after the peer has them, and resolve once closed. */
  end(): Promise<void> {
    if (this.state === 'connecting') {
      this.state = 'closed';
      this.socket.destroy();
    } else if (this.state === 'open') {
      this.state = 'closed';
      for (const frame of this.out.drain()) this.socket.write(typeof frame === 'function' ? frame() : frame);
      this.socket.end();
      // A server that never closes its side would keep us waiting forever.
      this.endTimer = setTimeout(() => this.socket.destroy(), END_GRACE_MS);
    }
    return this.closedPromise;
  }

  /** Drop the connection now (a protocol error); `closed` reports `err`. */
  fail(err: GeartrainError): void {
    if (this.state !== 'open') {
      this.state = 'closed';
      this.socket.destroy();
      return;
    }
    this.state = 'closed';
    this.out.drain();
    this.socket.destroy();
    this.on.closed(err);
  }
}
