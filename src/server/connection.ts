// One TCP connection to the job server: socket, decoder, and bounded output. It owns no job
// rules; packets go to the dispatcher, text lines to the admin commands.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { gtError } from '../errors.js';
import { type DecodeError, type Packet, PacketDecoder, res } from '../protocol/codec.js';
import { Cmd } from '../protocol/commands.js';
import type { PartialHolder, PartialPackets } from './partial-packets.js';
import { newPeerState, type Peer } from './registry.js';

/** A packet this large is written at once, not copied into the tick's combined buffer. */
const COALESCE_MAX = 64 * 1024;
/**
 * An unfinished body this large spans socket chunks (64 KiB each): the chunks copied into it
 * are counted towards a young collection (PartialPackets.chunkCopied). Smaller packets' chunks
 * are left to V8's own pace.
 */
const LARGE_BODY = 64 * 1024;

export interface HeldReply {
  packet: Buffer | string | null;
}

export interface ConnectionHost {
  readonly maxPacketSize: number;
  readonly maxOutputBuffer: number;
  /** Bytes held for unfinished packets, across connections. */
  readonly partial: PartialPackets;
  onPacket(conn: Connection, p: Packet): void;
  onText(conn: Connection, words: string[]): void;
  onDecodeError(conn: Connection, e: DecodeError): void;
  onClose(conn: Connection): void;
}

/**
 * Connections with packets waiting, written once per turn of the event loop (setImmediate: after
 * every socket that was ready has been read), not once per socket read (process.nextTick). The
 * number of writes is the same, but they leave back to back: on a 2-core VM a write that wakes a
 * sleeping peer process costs the writer several times one to a peer already awake, and per-read
 * flushes would wake the load generator between every two of them. Per-read against per-turn,
 * medians of A/B runs (bench/): background end to end 19.3k → 22.0k jobs/s (server CPU 52 → 45 µs
 * a job), durable SQLite 7.0k → 9.7k, foreground p50 0.60 → 0.47 ms and p99 1.9 → 1.5 ms.
 */
let dirty: Connection[] = [];
let flushQueued = false;

function flushSoon(c: Connection): void {
  dirty.push(c);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flushDirty);
  }
}

function flushDirty(): void {
  const list = dirty;
  dirty = [];
  flushQueued = false;
  for (const c of list) c.flush();
}

export class Connection implements Peer, PartialHolder {
  readonly host: string;
  readonly log: Logger;
  clientId = '-';
  exceptions = false;
  readonly abilities: Peer['abilities'];
  wakeState: Peer['wakeState'];
  readonly held: Peer['held'];
  readonly attached: Peer['attached'];
  closed = false;
  /** It sent a text admin command (the `connections` metric counts it as admin, not client). */
  admin = false;
  private readonly decoder: PacketDecoder;
  /**
   * Packets sent this turn of the loop, written together by flush(): the first one alone, the
   * others in `more`. Most turns send a connection one packet (a worker's next JOB_ASSIGN), and an
   * array for it was 150-400 bytes of garbage a job.
   */
  private first: Buffer | null = null;
  private more: Buffer[] | null = null;
  /** Replies waiting behind a held one (see hold()), in order; null when nothing waits. */
  private waiting: HeldReply[] | null = null;
  private waitHead = 0;
  private pendingBytes = 0;
  private pausedForOutput = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  /** Bytes of an unfinished packet the decoder holds, as last reported to `partial`. */
  private partialBytes = 0;

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
        // Counted before the decoder allocates the body: past --max-buffered the largest holder
        // is closed first, this one included (then the decoder allocates nothing).
        hold: (bytes) => {
          this.partialBytes = bytes;
          server.partial.update(this, bytes);
        },
      },
      { maxPacketSize: server.maxPacketSize, allowText: true },
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      const held = this.decoder.buffered;
      // Only a connection in the middle of a packet is tracked: no work between whole packets.
      if (held !== 0 || this.partialBytes !== 0) {
        this.partialBytes = held;
        server.partial.update(this, held);
        if (held >= LARGE_BODY) server.partial.chunkCopied(chunk.length);
      }
    });
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
   * Queue a packet. Packets sent in one turn of the loop leave as one buffer in one write: a
   * burst of pipelined submits answered with hundreds of JOB_CREATED costs one Buffer.concat, where
   * cork() + a stream write per packet cost a Writable entry each and a writev of hundreds of
   * iovecs (bench/background-noop.ts, 2 cores: end to end +20%, server CPU 34 → 30 µs a job).
   * When this peer stops reading, we stop reading its requests (so its own replies stop
   * growing), and past maxOutputBuffer (forwarded results it never reads) it is dropped.
   */
  send(packet: Buffer | string): void {
    if (this.closed) return;
    if (this.waiting !== null) {
      this.waiting.push({ packet });
      return;
    }
    this.write(packet);
  }

  /**
   * Keep a place for a reply that must wait (JOB_CREATED waits for the job to be durable):
   * everything sent to this peer after it waits behind it, so replies keep request order. Set
   * its `packet`, then call release().
   */
  hold(slot: HeldReply): void {
    if (this.closed) return;
    (this.waiting ??= []).push(slot);
  }

  /** Send the held replies that are ready, up to the first one that is not. */
  release(): void {
    const waiting = this.waiting;
    if (waiting === null) return;
    // A head index, not shift(): a batch of a thousand pipelined submits settles slot by slot.
    let i = this.waitHead;
    while (i < waiting.length && waiting[i]!.packet !== null) this.write(waiting[i++]!.packet!);
    if (i === waiting.length) {
      this.waiting = null;
      this.waitHead = 0;
    } else if (i > 1024) {
      waiting.splice(0, i);
      this.waitHead = 0;
    } else this.waitHead = i;
  }

  private write(packet: Buffer | string): void {
    if (this.closed) return;
    // Admin replies are strings; socket.write(string) sent them as UTF-8, and so does this.
    const b = typeof packet === 'string' ? Buffer.from(packet) : packet;
    const large = b.length >= COALESCE_MAX;
    if (this.first === null) {
      if (!large) flushSoon(this);
      this.first = b;
    } else (this.more ??= []).push(b);
    this.pendingBytes += b.length;
    // A large packet (a forwarded result) goes out now, behind what is pending: a copy would
    // gain nothing, and the output limit is checked as it is queued, not a tick later.
    if (large) this.flush();
  }

  /** Write what is pending (flushDirty() calls it for every connection that has some). */
  flush(): void {
    const first = this.first;
    const more = this.more;
    const bytes = this.pendingBytes;
    this.first = null;
    this.more = null;
    this.pendingBytes = 0;
    if (this.closed || first === null) return;
    let ok = true;
    if (more === null) ok = this.socket.write(first);
    else if (more[more.length - 1]!.length < COALESCE_MAX) {
      more.unshift(first);
      ok = this.socket.write(Buffer.concat(more, bytes));
    } else {
      // Small packets, then the large one that flushed them: no copy of it; one writev.
      this.socket.cork();
      this.socket.write(first);
      for (const b of more) ok = this.socket.write(b);
      this.socket.uncork();
    }
    if (ok) return;
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

  /** PartialPackets: reading is paused until the peer reads its replies. */
  get readPaused(): boolean {
    return this.pausedForOutput;
  }

  /** PartialPackets: this connection holds too much of an unfinished packet, or for too long. */
  dropPartial(reason: 'buffered' | 'stalled', bytes: number): void {
    const err =
      reason === 'buffered'
        ? gtError('GT_BUFFER_FULL', this.server.partial.limits.maxBuffered, bytes)
        : gtError('GT_PACKET_TIMEOUT', this.decoder.received, this.server.partial.limits.timeoutMs);
    this.log.warn(
      { code: err.code, bytes },
      reason === 'buffered' ? 'unfinished packets over --max-buffered; closing the largest' : 'unfinished packet stalled; closing',
    );
    this.partialBytes = 0;
    this.end(res(Cmd.ERROR, err.gearmanCode, err.message));
    // Read nothing more: the rest of its packet would be read, allocated and thrown away
    // (hundreds of MiB from a peer that keeps writing). end()'s linger timer closes it.
    this.socket.pause();
  }

  /** Send a last packet, then close. */
  end(last?: Buffer | string): void {
    if (this.closed) return;
    this.flush();
    if (last !== undefined) this.socket.write(last);
    this.socket.end();
    this.closed = true;
    this.decoder.discard();
    // A peer that never reads would keep a half-closed socket forever. Cleared on close, or
    // a flood of bad connections would each stay in memory for the full two seconds.
    this.lingerTimer = setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.decoder.discard();
    this.socket.destroy();
  }

  private onClosed(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.closed = true;
    this.decoder.discard();
    this.server.onClose(this);
  }
}
