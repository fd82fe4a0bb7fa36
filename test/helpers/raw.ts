// A raw-socket Gearman peer for tests: it writes exactly the bytes a test gives it and reads
// replies one packet or one text reply at a time, so hostile and malformed input can be sent
// and the server's exact answer checked. Binary packets and admin text may be mixed.

import { once } from 'node:events';
import net from 'node:net';
import { afterEach } from 'node:test';
import { type Arg, type DecodeError, encodePacket, type Packet, PacketDecoder } from '../../src/protocol/codec.js';
import { commandName } from '../../src/protocol/commands.js';

export interface RawPeer {
  readonly socket: net.Socket;
  /** Write raw bytes (or latin1 text). */
  send(buf: Buffer | string): void;
  /** Write one `\0REQ` packet. */
  sendPacket(type: number, ...args: Arg[]): void;
  /** Next binary packet (must carry `\0RES`); args are copies. Rejects on timeout or close. */
  readPacket(timeoutMs?: number): Promise<Packet>;
  /**
   * Next text reply: with 'dot', every line up to and including a line holding "."; with
   * 'line', one line. Line endings are kept.
   */
  readText(until?: 'dot' | 'line', timeoutMs?: number): Promise<string>;
  /** Bytes received and not yet read. */
  readonly pending: number;
  /** Resolves when the socket has closed (for any reason). */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  destroy(): void;
}

const DEFAULT_TIMEOUT = 5000;

export async function connect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
  const socket = net.connect(port, host);
  socket.setNoDelay(true);
  await once(socket, 'connect');

  let chunks: Buffer[] = [];
  let length = 0;
  let isClosed = false;
  let notify: (() => void) | null = null;

  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    length += d.length;
    notify?.();
  });
  // Resets from a server that dropped us are expected in hostile tests.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      notify?.();
      resolve();
    }),
  );

  const bytes = (): Buffer => {
    if (chunks.length > 1) chunks = [Buffer.concat(chunks, length)];
    return chunks[0] ?? Buffer.alloc(0);
  };
  const take = (n: number): Buffer => {
    const all = bytes();
    const out = Buffer.from(all.subarray(0, n));
    const rest = all.subarray(n);
    chunks = rest.length > 0 ? [rest] : [];
    length = rest.length;
    return out;
  };

  /** Wait until `ready()` returns a value, the socket closes, or the time is up. */
  async function waitUntil<T>(ready: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = ready();
      if (v !== undefined) return v;
      if (isClosed) throw new Error(`connection closed while waiting for ${what} (${length} bytes unread: ${preview()})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms (${length} bytes unread: ${preview()})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        notify = () => {
          clearTimeout(t);
          resolve();
        };
      });
      notify = null;
    }
  }

  const preview = (): string => JSON.stringify(bytes().subarray(0, 48).toString('latin1'));

  function decodeOne(frame: Buffer): Packet {
    let packet: Packet | undefined;
    let error: DecodeError | undefined;
    const d = new PacketDecoder(
      { packet: (p) => (packet = { magic: p.magic, type: p.type, args: p.args.map((a) => Buffer.from(a)) }), error: (e) => (error = e) },
      { maxPacketSize: 0xffffffff },
    );
    d.push(frame);
    if (error) throw new Error(`server sent an undecodable packet: ${error.code} ${error.message}`);
    if (!packet) throw new Error('server sent an incomplete packet');
    if (packet.magic !== 'res') throw new Error(`server sent ${commandName(packet.type)} with \\0REQ magic`);
    return packet;
  }

  return {
    socket,
    send(buf) {
      socket.write(typeof buf === 'string' ? Buffer.from(buf, 'latin1') : buf);
    },
    sendPacket(type, ...args) {
      socket.write(encodePacket('req', type, args));
    },
    async readPacket(timeoutMs = DEFAULT_TIMEOUT) {
      const frame = await waitUntil(
        () => {
          if (length < 12) return undefined;
          const all = bytes();
          if (all[0] !== 0) throw new Error(`expected a binary packet, received text ${preview()}`);
          const total = 12 + all.readUInt32BE(8);
          return length >= total ? take(total) : undefined;
        },
        timeoutMs,
        'packet',
      );
      return decodeOne(frame);
    },
    async readText(until = 'dot', timeoutMs = DEFAULT_TIMEOUT) {
      return waitUntil(
        () => {
          if (length === 0) return undefined;
          const all = bytes();
          if (until === 'line') {
            const nl = all.indexOf(0x0a);
            return nl < 0 ? undefined : take(nl + 1).toString('latin1');
          }
          let start = 0;
          for (;;) {
            const nl = all.indexOf(0x0a, start);
            if (nl < 0) return undefined;
            let end = nl;
            if (end > start && all[end - 1] === 0x0d) end--;
            if (end - start === 1 && all[start] === 0x2e) return take(nl + 1).toString('latin1');
            start = nl + 1;
          }
        },
        timeoutMs,
        until === 'dot' ? 'text reply ending in "."' : 'text line',
      );
    },
    get pending() {
      return length;
    },
    closed,
    get isClosed() {
      return isClosed;
    },
    destroy() {
      socket.destroy();
    },
  };
}

/**
 * connect(), for a test file: call it at the top level, and every peer it opened is destroyed
 * after each test.
 */
export function peersPerTest(): (port: number) => Promise<RawPeer> {
  const open: RawPeer[] = [];
  afterEach(() => {
    for (const p of open.splice(0)) p.destroy();
  });
  return async (port) => {
    const p = await connect(port);
    open.push(p);
    return p;
  };
}

/** Decode an ERROR packet's two arguments. */
export function errorOf(p: Packet): { code: string; message: string } {
  return { code: p.args[0]?.toString('latin1') ?? '', message: p.args[1]?.toString('latin1') ?? '' };
}
