// Gearman packet encoder and streaming decoder. Pure: no sockets, no timers.
//
// Identifiers (function names, unique ids, job handles) travel as latin1 strings inside
// geartrain: latin1 maps every byte to one code unit, so any byte sequence a foreign client
// sends round-trips exactly and `string.length` is the byte length.

import { commandById, MAX_COMMAND_ID } from './commands.js';

export const HEADER_SIZE = 12;
export const MAGIC_REQ = 0x00524551; // "\0REQ"
export const MAGIC_RES = 0x00524553; // "\0RES"

/** Default ceiling on one packet's body: 64 MiB. */
export const DEFAULT_MAX_PACKET_SIZE = 64 * 1024 * 1024;
/** Longest text admin line accepted (gearmand's text buffer is 8 KiB). */
export const MAX_TEXT_LINE = 8192;

export type Magic = 'req' | 'res';
export type Arg = string | Buffer | Uint8Array;

/** Encode one binary packet. String arguments are written as latin1 (one byte per code unit). */
export function encodePacket(magic: Magic, type: number, args: readonly Arg[] = []): Buffer {
  let size = args.length > 0 ? args.length - 1 : 0; // NUL separators
  for (const a of args) size += typeof a === 'string' ? a.length : a.byteLength;
  const out = Buffer.allocUnsafe(HEADER_SIZE + size);
  out.writeUInt32BE(magic === 'req' ? MAGIC_REQ : MAGIC_RES, 0);
  out.writeUInt32BE(type, 4);
  out.writeUInt32BE(size, 8);
  let off = HEADER_SIZE;
  for (let i = 0; i < args.length; i++) {
    if (i > 0) out[off++] = 0;
    const a = args[i]!;
    if (typeof a === 'string') off += out.write(a, off, 'latin1');
    else {
      out.set(a, off);
      off += a.byteLength;
    }
  }
  return out;
}

export const req = (type: number, ...args: Arg[]): Buffer => encodePacket('req', type, args);
export const res = (type: number, ...args: Arg[]): Buffer => encodePacket('res', type, args);

/** A decoded binary packet. `args` are views into the received bytes: copy what you keep. */
export interface Packet {
  magic: Magic;
  type: number;
  args: Buffer[];
}

/** Why the decoder stopped. `fatal` means the stream cannot be resynchronised. */
export interface DecodeError {
  code: 'GT_BAD_MAGIC' | 'GT_PACKET_TOO_LARGE' | 'GT_TEXT_LINE_TOO_LONG' | 'GT_BAD_ARGUMENTS' | 'GT_UNKNOWN_COMMAND';
  message: string;
  fatal: boolean;
  type?: number;
}

export interface DecoderHandlers {
  packet(p: Packet): void;
  /** A text admin line, without its line ending, already split on spaces. */
  text?(words: string[], line: string): void;
  error(e: DecodeError): void;
  /**
   * A header declared a body of `bytes` that has not all arrived: the decoder is about to
   * allocate it. A handler that refuses it calls discard(), and nothing is allocated.
   */
  hold?(bytes: number): void;
}

export interface DecoderOptions {
  /** Largest accepted body in bytes. @defaultValue 64 MiB */
  maxPacketSize?: number;
  /** Accept text admin lines (server side). @defaultValue false */
  allowText?: boolean;
}

/**
 * Streaming decoder. It parses packets in place from each received chunk, keeping an offset;
 * a packet that straddles chunks gets one buffer of its declared body size when its header is
 * in, and each chunk is copied into it as it arrives. So many pipelined packets in one chunk
 * cost no copies, a 64 MiB payload in 64 KiB chunks costs one copy, and no received chunk is
 * kept: each dies young, and what a partial packet holds is its one buffer (see `buffered`).
 */
export class PacketDecoder {
  private readonly maxPacketSize: number;
  private readonly allowText: boolean;
  /** An unfinished header or text line: a few bytes, or a text line's chunks. */
  private parts: Buffer[] = [];
  private partsLen = 0;
  private need = 0;
  /** The body of an unfinished packet whose header is in, filled up to `bodyFilled`. */
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private bodyMagic: Magic = 'req';
  private bodyType = 0;
  private stopped = false;

  constructor(
    private readonly on: DecoderHandlers,
    opts: DecoderOptions = {},
  ) {
    this.maxPacketSize = opts.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    this.allowText = opts.allowText ?? false;
  }

  /**
   * Bytes held for an unfinished packet: its whole declared body once the header is in
   * (allocated at once), before that the bytes received.
   */
  get buffered(): number {
    return this.body !== null ? this.body.length : this.partsLen;
  }

  /** Bytes of an unfinished packet received so far, its header included. */
  get received(): number {
    return this.body !== null ? HEADER_SIZE + this.bodyFilled : this.partsLen;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let off = 0;
    if (this.body === null && this.partsLen > 0) {
      if (this.parts[0]![0] === 0) {
        // A split header: complete it from this chunk alone (at most 11 bytes copied), not by
        // concatenating the whole chunk to it.
        off = Math.min(HEADER_SIZE - this.partsLen, chunk.length);
        this.parts.push(chunk.subarray(0, off));
        const head = Buffer.concat(this.parts, this.partsLen + off);
        this.parts = [];
        this.partsLen = 0;
        this.parse(head, 0);
      } else {
        this.parts.push(chunk);
        this.partsLen += chunk.length;
        if (this.partsLen < this.need) return;
        chunk = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsLen);
        this.parts = [];
        this.partsLen = 0;
      }
    }
    if (this.body !== null) off = this.fill(chunk, off);
    this.parse(chunk, off);
  }

  /** Copy what `chunk` has of the unfinished body from `off`; returns the offset after it. */
  private fill(chunk: Buffer, off: number): number {
    const body = this.body!;
    const n = Math.min(body.length - this.bodyFilled, chunk.length - off);
    chunk.copy(body, this.bodyFilled, off, off + n);
    this.bodyFilled += n;
    if (this.bodyFilled === body.length) {
      this.body = null;
      this.bodyFilled = 0;
      this.emit(this.bodyMagic, this.bodyType, body);
    }
    return off + n;
  }

  private parse(chunk: Buffer, off: number): void {
    const len = chunk.length;
    while (off < len && !this.stopped) {
      if (chunk[off] !== 0) {
        const consumed = this.textLine(chunk, off);
        if (consumed < 0) return this.stash(chunk, off, len - off + 1);
        off = consumed;
        continue;
      }
      if (len - off < HEADER_SIZE) return this.stash(chunk, off, HEADER_SIZE);
      const magic = chunk.readUInt32BE(off);
      if (magic !== MAGIC_REQ && magic !== MAGIC_RES) {
        return this.fail({
          code: 'GT_BAD_MAGIC',
          message: `Bad packet magic 0x${magic.toString(16).padStart(8, '0')}: expected \\0REQ or \\0RES`,
          fatal: true,
        });
      }
      const type = chunk.readUInt32BE(off + 4);
      const size = chunk.readUInt32BE(off + 8);
      // Check the size before trusting it: never wait for, or allocate, an untrusted length.
      if (size > this.maxPacketSize) {
        return this.fail({
          code: 'GT_PACKET_TOO_LARGE',
          message: `Packet body of ${size} bytes exceeds the limit of ${this.maxPacketSize} bytes`,
          fatal: true,
          type,
        });
      }
      const end = off + HEADER_SIZE + size;
      if (end > len) return this.begin(magic === MAGIC_REQ ? 'req' : 'res', type, size, chunk, off + HEADER_SIZE);
      this.emit(magic === MAGIC_REQ ? 'req' : 'res', type, chunk.subarray(off + HEADER_SIZE, end));
      off = end;
    }
  }

  /**
   * A packet whose body runs past this chunk: one buffer of its declared size (what `hold`
   * approves). Its pages are written only as bytes arrive, and the chunks they came in are
   * garbage at once: RSS grows by what was received, and no more is retained than the budget.
   */
  private begin(magic: Magic, type: number, size: number, chunk: Buffer, from: number): void {
    this.on.hold?.(size);
    if (this.stopped) return;
    this.body = Buffer.allocUnsafe(size);
    this.bodyFilled = 0;
    this.bodyMagic = magic;
    this.bodyType = type;
    this.fill(chunk, from);
  }

  private emit(magic: Magic, type: number, body: Buffer): void {
    const info = type <= MAX_COMMAND_ID ? commandById[type] : undefined;
    if (info === undefined || type === 0) {
      this.on.error({ code: 'GT_UNKNOWN_COMMAND', message: `Unknown packet type ${type}`, fatal: false, type });
      return;
    }
    const parts = info.args + (info.data ? 1 : 0);
    const args: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < parts - 1; i++) {
      const nul = body.indexOf(0, start);
      if (nul < 0) {
        this.on.error({ code: 'GT_BAD_ARGUMENTS', message: `${info.name} expects ${parts} arguments, received ${i + 1}`, fatal: false, type });
        return;
      }
      args.push(body.subarray(start, nul));
      start = nul + 1;
    }
    if (parts > 0) args.push(body.subarray(start));
    this.on.packet({ magic, type, args });
  }

  /** Parse one text line at `off`; returns the offset after it, or -1 when the line is incomplete. */
  private textLine(chunk: Buffer, off: number): number {
    if (!this.allowText) {
      this.fail({ code: 'GT_BAD_MAGIC', message: `Expected a binary packet (\\0RES), received byte 0x${chunk[off]!.toString(16)}`, fatal: true });
      return chunk.length;
    }
    const nl = chunk.indexOf(0x0a, off);
    if (nl < 0) {
      if (chunk.length - off > MAX_TEXT_LINE) {
        this.fail({ code: 'GT_TEXT_LINE_TOO_LONG', message: `Text command longer than ${MAX_TEXT_LINE} bytes`, fatal: true });
        return chunk.length;
      }
      return -1;
    }
    // The same limit when the newline is already here: otherwise a long line would pass or
    // fail depending on how TCP split it (gearmand refuses it either way).
    if (nl - off > MAX_TEXT_LINE) {
      this.fail({ code: 'GT_TEXT_LINE_TOO_LONG', message: `Text command longer than ${MAX_TEXT_LINE} bytes`, fatal: true });
      return chunk.length;
    }
    let end = nl;
    if (end > off && chunk[end - 1] === 0x0d) end--;
    const line = chunk.toString('latin1', off, end);
    const words = line.split(' ').filter((w) => w.length > 0);
    this.on.text?.(words, line);
    return nl + 1;
  }

  /** Stop decoding and let go of any partial packet (its connection is closing). */
  discard(): void {
    this.stopped = true;
    this.parts = [];
    this.partsLen = 0;
    const body = this.body;
    this.body = null;
    // A body of its own (not a slice of Node's shared pool) that nobody else has seen: hand its
    // memory to a young ArrayBuffer, freed at the next scavenge, where the body itself, long
    // promoted to the old generation, would wait for a full collection.
    if (body !== null && body.byteOffset === 0 && body.buffer.byteLength === body.length) {
      structuredClone(body.buffer, { transfer: [body.buffer] });
    }
  }

  private stash(chunk: Buffer, off: number, need: number): void {
    const rest = chunk.subarray(off);
    // Copy a small remainder so it does not pin a large receive buffer in memory.
    this.parts = [rest.length < 4096 ? Buffer.from(rest) : rest];
    this.partsLen = rest.length;
    this.need = need;
  }

  private fail(e: DecodeError): void {
    this.discard();
    this.on.error(e);
  }
}
