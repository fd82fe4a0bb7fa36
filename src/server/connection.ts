// One TCP connection to the job server: socket, decoder, and bounded output. It owns no job
// rules; packets go to the dispatcher, text lines to the admin commands.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { PacketDecoder, type DecodeError, type Packet } from '../protocol/codec.js';
import { newPeerState, type Peer } from './registry.js';

export interface ConnectionHost {
  readonly maxPacketSize: number;
  readonly maxOutputBuffer: number;
  onPacket(conn: Connection, p: Packet): void;
  onText(conn: Connection, words: string[]): void;
  onDecodeError(conn: Connection, e: DecodeError): void;
  onClose(conn: Connection): void;
}

export class Connection implements Peer {
  readonly host: string;
  readonly log: Logger;
  clientId = '-';
  exceptions = false;
  readonly abilities: Peer['abilities'];
  wakeState: Peer['wakeState'];
  readonly held: Peer['held'];
  readonly attached: Peer['attached'];
  closed = false;
  private readonly decoder: PacketDecoder;
  private corked = false;
  private pausedForOutput = false;
  private lingerTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly server: ConnectionHost,
    log: Logger,
  ) {
    const s = newPeerState();
    this.abilities = s.abilities;
    this.wakeState = s.wakeState;
    this.held = s.held;
    this.attached = s.attached;
    this.host = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '-';
    this.log = log.child({ conn: id, peer: `${this.host}:${socket.remotePort}` });
    this.decoder = new PacketDecoder(
      {
        packet: (p) => server.onPacket(this, p),
        text: (words) => server.onText(this, words),
        error: (e) => server.onDecodeError(this, e),
      },
      { maxPacketSize: server.maxPacketSize, allowText: true },
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('drain', () => {
      if (this.pausedForOutput) {
        this.pausedForOutput = false;
        socket.resume();
      }
    });
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.onClosed());
  }

  /**
   * Queue a packet. Writes made in one tick are corked into one syscall. When this peer stops
   * reading, we stop reading its requests (so its own replies stop growing), and past
   * maxOutputBuffer (forwarded results it never reads) the connection is dropped.
   */
  send(packet: Buffer | string): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    if (!this.socket.write(packet)) {
      if (this.socket.writableLength > this.server.maxOutputBuffer) {
        this.log.warn({ buffered: this.socket.writableLength }, 'peer is not reading its replies; closing');
        this.destroy();
        return;
      }
      if (!this.pausedForOutput) {
        this.pausedForOutput = true;
        this.socket.pause();
      }
    }
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /** Send a last packet, then close. */
  end(last?: Buffer | string): void {
    if (this.closed) return;
    if (last !== undefined) this.socket.write(last);
    this.socket.end();
    this.closed = true;
    // A peer that never reads would keep a half-closed socket forever. Cleared on close, or
    // a flood of bad connections would each stay in memory for the full two seconds.
    this.lingerTimer = setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onClosed(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.closed = true;
    this.server.onClose(this);
  }
}
