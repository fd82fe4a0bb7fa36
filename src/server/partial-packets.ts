// The bytes the server holds for packets that have not finished arriving, across every
// connection: a packet's whole declared body from its header on (the decoder allocates it
// then), the bytes received before. Each connection may hold up to one packet
// (--max-packet-size); this bounds the sum (--max-buffered: past it, the connection holding the
// most is closed) and the time a packet may sit without a new byte (--packet-timeout). A
// connection with no partial packet costs nothing here: idle workers may sleep for hours.

import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Chunks copied into unfinished packets between two minor collections. A received socket chunk
 * is garbage once copied into its packet's buffer, but V8 frees chunks only at a collection,
 * which it starts on its own after about 64 MiB of them (external memory), and glibc keeps what
 * they took. With a scavenge every 8 MiB, twelve connections sending 40 MiB of a 48 MiB packet
 * under --max-buffered 64m grow RSS by 42-50 MiB over six runs, where V8's own pace gave
 * 50-74 MiB.
 */
const YOUNG_GC_EVERY = 8 * 1024 * 1024;

/** A minor (young generation) collection, or nothing where the runtime does not expose one. */
let collectYoung: (() => void) | undefined;

function youngCollector(): () => void {
  try {
    // Exposed to one fresh context only, then switched off again: the server's own global
    // scope never gets a gc().
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as (options: { type: 'minor' }) => void;
    return () => gc({ type: 'minor' });
  } catch {
    return () => {};
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

export interface PartialHolder {
  /**
   * The server stopped reading it (its replies are backed up): its packet cannot progress, and
   * that is not the peer's stall.
   */
  readonly readPaused: boolean;
  /** Close the connection for holding too much, or for too long. */
  dropPartial(reason: 'buffered' | 'stalled', bytes: number): void;
}

interface Held {
  bytes: number;
  /** Sweeps since its partial packet last received a byte. */
  idleSweeps: number;
}

export interface PartialPacketLimits {
  /** Sum over all connections, in bytes. */
  maxBuffered: number;
  /** How long a partial packet may wait for its next byte, ms. */
  timeoutMs: number;
}

export class PartialPackets {
  private readonly held = new Map<PartialHolder, Held>();
  private total = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly sweepMs: number;
  /** Idle sweeps after which a packet has stalled: no clock read per received chunk. */
  private readonly stallSweeps: number;
  /** Bytes of received chunks copied into unfinished packets since the last minor collection. */
  private copied = 0;
  /** Connections closed so far, by reason (for /metrics). */
  readonly closed = { buffered: 0, stalled: 0 };

  constructor(readonly limits: PartialPacketLimits) {
    // Stalled packets are found within a quarter of the timeout (at most a second) after it.
    this.sweepMs = Math.max(10, Math.min(1000, Math.floor(limits.timeoutMs / 4)));
    this.stallSweeps = Math.ceil(limits.timeoutMs / this.sweepMs);
  }

  /** Bytes held for unfinished packets, all connections together. */
  get bytes(): number {
    return this.total;
  }

  /** Connections holding an unfinished packet. */
  get holders(): number {
    return this.held.size;
  }

  /**
   * `conn` now holds `bytes` for an unfinished packet (0: none): called before its decoder
   * allocates a body, and as bytes arrive (the packet is progressing). Called only when it held
   * or holds some, so a connection between whole packets costs nothing.
   */
  update(conn: PartialHolder, bytes: number): void {
    const h = this.held.get(conn);
    if (bytes === 0) {
      if (h) this.forget(conn);
      return;
    }
    if (h) {
      this.total += bytes - h.bytes;
      h.bytes = bytes;
      h.idleSweeps = 0;
    } else {
      this.total += bytes;
      this.held.set(conn, { bytes, idleSweeps: 0 });
      this.sweeper ??= setInterval(() => this.sweep(), this.sweepMs).unref();
    }
    // Over the limit: close the largest holders first, and of equals the newest (the map keeps
    // insertion order), so a packet well under way is not lost to one that just began. Each
    // close frees at least the average a holder has, so a scan over holders is paid for by
    // that many bytes.
    while (this.total > this.limits.maxBuffered) {
      let largest: PartialHolder | null = null;
      let most = 0;
      for (const [c, x] of this.held) {
        if (x.bytes >= most) {
          most = x.bytes;
          largest = c;
        }
      }
      if (largest === null) break;
      this.forget(largest);
      this.closed.buffered++;
      largest.dropPartial('buffered', most);
    }
  }

  /**
   * A received chunk of `bytes` went into an unfinished packet's buffer and is garbage now.
   * Every YOUNG_GC_EVERY bytes of them, a scavenge frees them (about a millisecond: the young
   * generation holds little else that lives).
   */
  chunkCopied(bytes: number): void {
    if ((this.copied += bytes) < YOUNG_GC_EVERY) return;
    this.copied = 0;
    (collectYoung ??= youngCollector())();
  }

  /** The connection holds no partial packet any more (it finished one, or closed). */
  forget(conn: PartialHolder): void {
    const h = this.held.get(conn);
    if (!h) return;
    this.total -= h.bytes;
    this.held.delete(conn);
    if (this.held.size === 0) this.stop();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private sweep(): void {
    for (const [c, h] of [...this.held]) {
      if (c.readPaused) {
        h.idleSweeps = 0;
        continue;
      }
      // Sweeps are at least sweepMs apart: idle through more than stallSweeps of them, a packet
      // has waited at least timeoutMs (and at most one sweep more).
      if (++h.idleSweeps <= this.stallSweeps) continue;
      this.forget(c);
      this.closed.stalled++;
      c.dropPartial('stalled', h.bytes);
    }
  }
}
