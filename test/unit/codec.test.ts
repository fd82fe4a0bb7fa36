// The packet encoder and the streaming decoder: round trips for the whole command table, the
// stream cut at every byte, pipelining, large payloads copied once into one buffer, and every
// way a peer can send garbage.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DecodeError,
  type DecoderOptions,
  encodePacket,
  HEADER_SIZE,
  MAX_TEXT_LINE,
  type Magic,
  PacketDecoder,
  req,
  res,
} from '../../src/protocol/codec.js';
import { Cmd, COMMANDS, commandById, commandName, MAX_COMMAND_ID } from '../../src/protocol/commands.js';

/** One decoder event, copied out of the decoder's views so it can be compared later. */
type Event =
  | { kind: 'packet'; magic: Magic; type: number; args: string[] }
  | { kind: 'text'; words: string[]; line: string }
  | { kind: 'error'; code: DecodeError['code']; fatal: boolean; type?: number; message: string };

function recorder(opts: DecoderOptions = {}): { decoder: PacketDecoder; events: Event[] } {
  const events: Event[] = [];
  const decoder = new PacketDecoder(
    {
      packet: (p) => events.push({ kind: 'packet', magic: p.magic, type: p.type, args: p.args.map((a) => a.toString('latin1')) }),
      text: (words, line) => events.push({ kind: 'text', words, line }),
      error: (e) => events.push({ kind: 'error', code: e.code, fatal: e.fatal, type: e.type, message: e.message }),
    },
    opts,
  );
  return { decoder, events };
}

function decodeAll(chunks: Buffer[], opts: DecoderOptions = {}): Event[] {
  const { decoder, events } = recorder(opts);
  for (const c of chunks) decoder.push(c);
  return events;
}

/** A raw header, for sizes and magics the encoder would never produce. */
function header(magic: number, type: number, size: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt32BE(magic, 0);
  h.writeUInt32BE(type, 4);
  h.writeUInt32BE(size, 8);
  return h;
}

const DATA_WITH_NULS = Buffer.from([0x00, 0x41, 0x00, 0x00, 0xff, 0x42, 0x00]);

describe('encodePacket', () => {
  test('writes magic, type, size and NUL-separated arguments', () => {
    const p = encodePacket('req', Cmd.SUBMIT_JOB, ['fn', 'uid', Buffer.from('data')]);
    assert.equal(p.subarray(0, 4).toString('latin1'), '\0REQ');
    assert.equal(p.readUInt32BE(4), 7);
    assert.equal(p.readUInt32BE(8), 'fn\0uid\0data'.length);
    assert.equal(p.subarray(HEADER_SIZE).toString('latin1'), 'fn\0uid\0data');
    assert.equal(res(Cmd.NOOP).subarray(0, 4).toString('latin1'), '\0RES');
    assert.equal(res(Cmd.NOOP).length, HEADER_SIZE);
    assert.deepEqual(req(Cmd.ECHO_REQ, 'x'), encodePacket('req', Cmd.ECHO_REQ, ['x']));
  });

  test('strings are latin1, one byte per code unit, so any byte round-trips', () => {
    const every = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i).filter((i) => i !== 0));
    const p = encodePacket('res', Cmd.JOB_CREATED, [every]);
    assert.equal(p.readUInt32BE(8), 255);
    const [ev] = decodeAll([p]);
    assert.deepEqual(ev, { kind: 'packet', magic: 'res', type: Cmd.JOB_CREATED, args: [every] });
  });

  test('Uint8Array arguments are accepted as bytes', () => {
    const p = encodePacket('req', Cmd.ECHO_REQ, [new Uint8Array([1, 2, 0, 3])]);
    assert.deepEqual([...p.subarray(HEADER_SIZE)], [1, 2, 0, 3]);
  });
});

describe('command table', () => {
  test('ids are unique, dense from 0, and looked up by id and name', () => {
    COMMANDS.forEach((c, i) => {
      assert.equal(c.id, i, `${c.name} is at index ${i}`);
      assert.equal(commandById[c.id], c);
      assert.equal(Cmd[c.name], c.id);
      assert.equal(commandName(c.id), c.name);
    });
    assert.equal(MAX_COMMAND_ID, 42);
    assert.equal(commandName(999), 'UNKNOWN(999)');
  });
});

describe('round trip', () => {
  for (const c of COMMANDS) {
    if (c.id === 0) continue; // TEXT is not a binary packet; see the test below.
    for (const magic of ['req', 'res'] as const) {
      test(`${c.name} (${c.args} args${c.data ? ' + data' : ''}) as ${magic}`, () => {
        const args: (string | Buffer)[] = Array.from({ length: c.args }, (_, i) => `${c.name.toLowerCase()}-arg${i}`);
        if (c.data) args.push(DATA_WITH_NULS);
        const events = decodeAll([encodePacket(magic, c.id, args)], { allowText: true });
        assert.equal(events.length, 1);
        const ev = events[0]!;
        assert.equal(ev.kind, 'packet', JSON.stringify(ev));
        if (ev.kind !== 'packet') return;
        assert.equal(ev.magic, magic);
        assert.equal(ev.type, c.id);
        assert.equal(ev.args.length, c.args + (c.data ? 1 : 0));
        assert.deepEqual(
          ev.args,
          args.map((a) => (typeof a === 'string' ? a : a.toString('latin1'))),
        );
        if (c.data) assert.deepEqual(Buffer.from(ev.args.at(-1)!, 'latin1'), DATA_WITH_NULS, 'NULs in the data part stay intact');
      });
    }
  }

  test('empty data and empty arguments survive', () => {
    const [a] = decodeAll([req(Cmd.SUBMIT_JOB, 'fn', '', '')]);
    assert.deepEqual(a, { kind: 'packet', magic: 'req', type: Cmd.SUBMIT_JOB, args: ['fn', '', ''] });
    const [b] = decodeAll([req(Cmd.ECHO_REQ)]);
    assert.deepEqual(b, { kind: 'packet', magic: 'req', type: Cmd.ECHO_REQ, args: [''] });
  });

  test('type 0 (TEXT) in a binary header is refused as an unknown command, without closing', () => {
    const events = decodeAll([header(0x00524551, 0, 0), req(Cmd.ECHO_REQ, 'after')]);
    assert.equal(events[0]?.kind, 'error');
    assert.deepEqual(
      events.map((e) => (e.kind === 'error' ? [e.code, e.fatal, e.type] : e.kind)),
      [['GT_UNKNOWN_COMMAND', false, 0], 'packet'],
    );
  });
});

// A server-side stream mixing everything the decoder handles: packets of every shape, text
// lines with both endings, and a non-fatal error in the middle.
function mixedStream(): Buffer {
  return Buffer.concat([
    req(Cmd.CAN_DO, 'resize'),
    Buffer.from('status\r\n'),
    req(Cmd.SUBMIT_JOB, 'resize', 'u-1', DATA_WITH_NULS),
    header(0x00524551, 999, 3),
    Buffer.from('zzz'),
    req(Cmd.SUBMIT_JOB_EPOCH, 'resize', '', '1700000000', ''),
    Buffer.from('show  jobs\n'),
    req(Cmd.PRE_SLEEP),
    req(Cmd.SUBMIT_JOB, 'only-one-arg'),
    res(Cmd.WORK_COMPLETE, 'H:x:1', Buffer.alloc(40, 7)),
    req(Cmd.ECHO_REQ, ''),
  ]);
}

describe('streaming', () => {
  const stream = mixedStream();
  const whole = decodeAll([stream], { allowText: true });

  test('the mixed stream decodes to the expected events in one chunk', () => {
    assert.deepEqual(
      whole.map((e) => (e.kind === 'packet' ? commandName(e.type) : e.kind === 'text' ? `text:${e.words.join('|')}` : `error:${e.code}`)),
      [
        'CAN_DO',
        'text:status',
        'SUBMIT_JOB',
        'error:GT_UNKNOWN_COMMAND',
        'SUBMIT_JOB_EPOCH',
        'text:show|jobs',
        'PRE_SLEEP',
        'error:GT_BAD_ARGUMENTS',
        'WORK_COMPLETE',
        'ECHO_REQ',
      ],
    );
  });

  test('split at every byte boundary yields identical events', () => {
    for (let i = 1; i < stream.length; i++) {
      assert.deepEqual(decodeAll([stream.subarray(0, i), stream.subarray(i)], { allowText: true }), whole, `split at byte ${i}`);
    }
  });

  test('split at every pair of byte boundaries yields identical events', () => {
    const s = stream;
    for (let i = 1; i < s.length; i++) {
      for (let j = i + 1; j < s.length; j++) {
        const got = decodeAll([s.subarray(0, i), s.subarray(i, j), s.subarray(j)], { allowText: true });
        if (!isDeepEqual(got, whole)) assert.deepEqual(got, whole, `split at bytes ${i} and ${j}`);
      }
    }
  });

  test('one byte at a time yields identical events', () => {
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    assert.deepEqual(decodeAll(chunks, { allowText: true }), whole);
  });

  test('1000 packets packed in one chunk decode in order with no copies', (t) => {
    const packets = Array.from({ length: 1000 }, (_, i) => req(Cmd.SUBMIT_JOB_BG, `fn${i % 7}`, `u${i}`, Buffer.from(`payload-${i}\0x`)));
    const chunk = Buffer.concat(packets);
    const concat = t.mock.method(Buffer, 'concat');
    const { decoder, events } = recorder();
    decoder.push(chunk);
    assert.equal(concat.mock.callCount(), 0, 'no Buffer.concat for packets that arrive whole');
    assert.equal(decoder.buffered, 0);
    assert.equal(events.length, 1000);
    for (const [i, e] of events.entries())
      assert.deepEqual(e, { kind: 'packet', magic: 'req', type: Cmd.SUBMIT_JOB_BG, args: [`fn${i % 7}`, `u${i}`, `payload-${i}\0x`] });
  });

  test('a 10 MiB payload in 64 KiB chunks is copied once, into one buffer of its declared size', (t) => {
    const payload = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = (i / 4096) & 0xff;
    payload[5] = 0; // a NUL inside the data part
    const packet = Buffer.concat([res(Cmd.WORK_COMPLETE, 'H:big:1', payload), res(Cmd.NOOP)]);
    const bodySize = packet.readUInt32BE(8);
    const got: Buffer[][] = [];
    const errors: DecodeError[] = [];
    const holds: number[] = [];
    const decoder = new PacketDecoder({ packet: (p) => got.push(p.args.map((a) => Buffer.from(a))), error: (e) => errors.push(e), hold: (n) => holds.push(n) });
    const concat = t.mock.method(Buffer, 'concat');
    const alloc = t.mock.method(Buffer, 'allocUnsafe');
    const CHUNK = 64 * 1024;
    let pushed = 0;
    for (let off = 0; off < packet.length; off += CHUNK) {
      // A fresh copy per push, overwritten after it: the decoder keeps no received chunk.
      const chunk = Buffer.from(packet.subarray(off, off + CHUNK));
      decoder.push(chunk);
      chunk.fill(0xee);
      pushed += chunk.length;
      if (got.length === 0) {
        assert.equal(decoder.buffered, bodySize, `buffered after ${pushed} bytes: the declared body`);
        assert.equal(decoder.received, pushed, `received after ${pushed} bytes`);
      }
    }
    assert.deepEqual(errors, []);
    assert.equal(got.length, 2, 'the large packet and the NOOP after it');
    assert.equal(got[0]![0]!.toString(), 'H:big:1');
    assert.ok(got[0]![1]!.equals(payload), 'payload intact');
    assert.deepEqual(got[1], []);
    assert.deepEqual(holds, [bodySize], 'the declared size announced once, before the body is allocated');
    assert.equal(concat.mock.callCount(), 0, 'no concatenation');
    assert.deepEqual(
      alloc.mock.calls.map((c) => c.arguments[0]),
      [bodySize],
      'one allocation, of the declared body size',
    );
    assert.equal(decoder.buffered, 0);
    assert.equal(decoder.received, 0);
  });

  test('a handler that refuses the declared body stops the decoder before it allocates it', (t) => {
    const events: string[] = [];
    const decoder: PacketDecoder = new PacketDecoder({
      packet: () => events.push('packet'),
      error: (e) => events.push(e.code),
      hold: (n) => {
        events.push(`hold ${n}`);
        decoder.discard();
      },
    });
    const first = Buffer.concat([req(Cmd.ECHO_REQ, 'whole'), header(0x00524551, Cmd.ECHO_REQ, 48 * 1024 * 1024), Buffer.alloc(1000)]);
    const more = Buffer.alloc(1000);
    const alloc = t.mock.method(Buffer, 'allocUnsafe');
    decoder.push(first);
    decoder.push(more);
    assert.deepEqual(events, ['packet', `hold ${48 * 1024 * 1024}`]);
    assert.equal(alloc.mock.callCount(), 0);
    assert.equal(decoder.buffered, 0);
  });

  test('a header split across chunks is completed from the next one without copying it whole', (t) => {
    const p = req(Cmd.ECHO_REQ, Buffer.alloc(100_000, 0x61));
    for (const cut of [1, 5, 11]) {
      const { decoder, events } = recorder();
      decoder.push(p.subarray(0, cut));
      assert.equal(decoder.buffered, cut);
      const concat = t.mock.method(Buffer, 'concat');
      decoder.push(p.subarray(cut, 60_000));
      assert.equal(concat.mock.calls[0]!.arguments[1], HEADER_SIZE, `split at ${cut}: the header alone is gathered`);
      concat.mock.restore();
      assert.equal(decoder.buffered, 100_000);
      decoder.push(p.subarray(60_000));
      assert.equal(events.length, 1);
      assert.equal(events[0]!.kind === 'packet' && events[0]!.args[0]!.length, 100_000);
    }
  });

  test('a small remainder is copied, so reusing the pushed buffer cannot corrupt it', () => {
    const second = req(Cmd.ECHO_REQ, 'bc');
    const chunk = Buffer.concat([req(Cmd.ECHO_REQ, 'a'), second.subarray(0, 13)]);
    const { decoder, events } = recorder();
    decoder.push(chunk);
    assert.equal(events.length, 1);
    assert.equal(decoder.buffered, 2, 'the declared body');
    assert.equal(decoder.received, 13);
    chunk.fill(0xee); // a receive buffer reused by its owner
    decoder.push(second.subarray(13));
    assert.deepEqual(events[1], { kind: 'packet', magic: 'req', type: Cmd.ECHO_REQ, args: ['bc'] });
  });
});

describe('hostile input', () => {
  test('bad magic is fatal GT_BAD_MAGIC and nothing after it is decoded', () => {
    const { decoder, events } = recorder({ allowText: true });
    decoder.push(Buffer.concat([req(Cmd.ECHO_REQ, 'ok'), header(0x00584559, Cmd.ECHO_REQ, 0), req(Cmd.ECHO_REQ, 'later')]));
    decoder.push(req(Cmd.ECHO_REQ, 'even later'));
    assert.equal(events.length, 2);
    assert.equal(events[0]!.kind, 'packet');
    assert.deepEqual(events[1], {
      kind: 'error',
      code: 'GT_BAD_MAGIC',
      fatal: true,
      type: undefined,
      message: 'Bad packet magic 0x00584559: expected \\0REQ or \\0RES',
    });
  });

  test('text where a client expects packets is GT_BAD_MAGIC', () => {
    const events = decodeAll([Buffer.from('OK\r\n')]);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind === 'error' && events[0]!.code, 'GT_BAD_MAGIC');
    assert.equal(events[0]!.kind === 'error' && events[0]!.fatal, true);
  });

  test('a body over maxPacketSize is refused from the header alone', () => {
    const { decoder, events } = recorder({ maxPacketSize: 1024 });
    const h = header(0x00524551, Cmd.SUBMIT_JOB, 1025);
    decoder.push(h.subarray(0, 11));
    assert.deepEqual(events, [], 'nothing before the size field is complete');
    decoder.push(h.subarray(11));
    assert.equal(events.length, 1, 'refused as soon as the 12-byte header is in, before any body byte');
    assert.deepEqual(events[0], {
      kind: 'error',
      code: 'GT_PACKET_TOO_LARGE',
      fatal: true,
      type: Cmd.SUBMIT_JOB,
      message: 'Packet body of 1025 bytes exceeds the limit of 1024 bytes',
    });
    assert.equal(decoder.buffered, 0, 'nothing held after a fatal error');
    decoder.push(Buffer.alloc(1025));
    assert.equal(events.length, 1);
  });

  test('a body of exactly maxPacketSize is accepted', () => {
    const body = Buffer.alloc(1024 - 3, 0x61);
    const events = decodeAll([req(Cmd.SUBMIT_JOB, 'f', '', body)], { maxPacketSize: 1024 });
    assert.equal(events[0]?.kind, 'packet');
  });

  test('a 4 GiB size is refused without waiting for or allocating it', () => {
    const events = decodeAll([header(0x00524551, Cmd.SUBMIT_JOB, 0xffffffff)]);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind === 'error' && events[0]!.code, 'GT_PACKET_TOO_LARGE');
  });

  test('an unknown type is a non-fatal GT_UNKNOWN_COMMAND; its body is skipped and the next packet decodes', () => {
    const { decoder, events } = recorder();
    decoder.push(Buffer.concat([header(0x00524551, 999, 4), Buffer.from([0, 0x52, 0x45, 0x51]), req(Cmd.ECHO_REQ, 'next')]));
    decoder.push(header(0x00524553, MAX_COMMAND_ID + 1, 0));
    decoder.push(req(Cmd.ECHO_REQ, 'still'));
    assert.deepEqual(events, [
      { kind: 'error', code: 'GT_UNKNOWN_COMMAND', fatal: false, type: 999, message: 'Unknown packet type 999' },
      { kind: 'packet', magic: 'req', type: Cmd.ECHO_REQ, args: ['next'] },
      { kind: 'error', code: 'GT_UNKNOWN_COMMAND', fatal: false, type: MAX_COMMAND_ID + 1, message: `Unknown packet type ${MAX_COMMAND_ID + 1}` },
      { kind: 'packet', magic: 'req', type: Cmd.ECHO_REQ, args: ['still'] },
    ]);
  });

  test('too few arguments is a non-fatal GT_BAD_ARGUMENTS', () => {
    const events = decodeAll([
      encodePacket('req', Cmd.SUBMIT_JOB, ['fn-without-unique-or-data']),
      encodePacket('req', Cmd.SUBMIT_JOB_SCHED, ['f', 'u', '1', '2']),
      encodePacket('res', Cmd.STATUS_RES, []),
      req(Cmd.ECHO_REQ, 'after'),
    ]);
    assert.deepEqual(events, [
      { kind: 'error', code: 'GT_BAD_ARGUMENTS', fatal: false, type: Cmd.SUBMIT_JOB, message: 'SUBMIT_JOB expects 3 arguments, received 1' },
      { kind: 'error', code: 'GT_BAD_ARGUMENTS', fatal: false, type: Cmd.SUBMIT_JOB_SCHED, message: 'SUBMIT_JOB_SCHED expects 8 arguments, received 4' },
      { kind: 'error', code: 'GT_BAD_ARGUMENTS', fatal: false, type: Cmd.STATUS_RES, message: 'STATUS_RES expects 5 arguments, received 1' },
      { kind: 'packet', magic: 'req', type: Cmd.ECHO_REQ, args: ['after'] },
    ]);
  });

  test('extra NULs in a packet without data stay in its last argument', () => {
    const [ev] = decodeAll([encodePacket('req', Cmd.CAN_DO, ['a', 'b'])]);
    assert.deepEqual(ev, { kind: 'packet', magic: 'req', type: Cmd.CAN_DO, args: ['a\0b'] });
  });
});

describe('text lines', () => {
  test('\\n and \\r\\n endings, several spaces, and lines split across chunks', () => {
    const events = decodeAll([Buffer.from('status\nwork'), Buffer.from('ers\r'), Buffer.from('\nmaxqueue  fn   3\r\n'), Buffer.from('\n')], {
      allowText: true,
    });
    assert.deepEqual(events, [
      { kind: 'text', words: ['status'], line: 'status' },
      { kind: 'text', words: ['workers'], line: 'workers' },
      { kind: 'text', words: ['maxqueue', 'fn', '3'], line: 'maxqueue  fn   3' },
      { kind: 'text', words: [], line: '' },
    ]);
  });

  test('text is refused unless allowed (client side)', () => {
    const events = decodeAll([Buffer.from('status\n')]);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind === 'error' && events[0]!.code, 'GT_BAD_MAGIC');
  });

  test('a line of exactly 8 KiB is accepted, even when its newline comes later', () => {
    const line = 'x'.repeat(MAX_TEXT_LINE);
    const events = decodeAll([Buffer.from(line), Buffer.from('\n')], { allowText: true });
    assert.deepEqual(events, [{ kind: 'text', words: [line], line }]);
  });

  test('a 9 KiB line without a newline is fatal GT_TEXT_LINE_TOO_LONG', () => {
    const events = decodeAll([Buffer.from('x'.repeat(9 * 1024))], { allowText: true });
    assert.deepEqual(events, [
      { kind: 'error', code: 'GT_TEXT_LINE_TOO_LONG', fatal: true, type: undefined, message: `Text command longer than ${MAX_TEXT_LINE} bytes` },
    ]);
  });

  test('a 9 KiB line arriving in 1 KiB chunks is refused once it passes 8 KiB', () => {
    const { decoder, events } = recorder({ allowText: true });
    let sent = 0;
    while (events.length === 0 && sent < 9 * 1024) {
      decoder.push(Buffer.alloc(1024, 0x79));
      sent += 1024;
    }
    assert.equal(sent, 9 * 1024);
    assert.equal(events[0]!.kind === 'error' && events[0]!.code, 'GT_TEXT_LINE_TOO_LONG');
    assert.equal(decoder.buffered, 0);
  });

  test('a 9 KiB line is refused even when its newline arrives in the same chunk', () => {
    // Otherwise the outcome would depend on how TCP happened to split the bytes.
    const stream = Buffer.concat([req(Cmd.ECHO_REQ, 'before'), Buffer.from(`${'x'.repeat(9 * 1024)}\nstatus\n`)]);
    const whole = decodeAll([stream], { allowText: true });
    assert.equal(whole.length, 2);
    assert.equal(whole[1]!.kind === 'error' && whole[1]!.code, 'GT_TEXT_LINE_TOO_LONG');
    const cuts = [1, 13, 14, 100, 8192, 8205, 8206, 8207, 9000, stream.length - 8, stream.length - 1];
    for (const i of cuts) assert.deepEqual(decodeAll([stream.subarray(0, i), stream.subarray(i)], { allowText: true }), whole, `split at ${i}`);
  });

  test('text and packets interleave on one stream', () => {
    const events = decodeAll([Buffer.concat([Buffer.from('version\n'), req(Cmd.ECHO_REQ, 'x'), Buffer.from('getpid\r\n')])], { allowText: true });
    assert.deepEqual(
      events.map((e) => e.kind),
      ['text', 'packet', 'text'],
    );
  });
});

describe('decoder bookkeeping', () => {
  test('buffered reports the bytes held for an incomplete packet: received ones, then the declared body', () => {
    const p = req(Cmd.ECHO_REQ, 'hello world');
    const { decoder, events } = recorder();
    decoder.push(p.subarray(0, 5));
    assert.equal(decoder.buffered, 5);
    assert.equal(decoder.received, 5);
    decoder.push(p.subarray(5, 15));
    assert.equal(decoder.buffered, 11, 'the header is in: its declared body is held');
    assert.equal(decoder.received, 15);
    decoder.push(p.subarray(15));
    assert.equal(decoder.buffered, 0);
    assert.equal(decoder.received, 0);
    assert.equal(events.length, 1);
  });

  test('discard() in the middle of a body lets it go, whether pooled or of its own', () => {
    for (const size of [100, 4096, 100_000]) {
      const p = req(Cmd.ECHO_REQ, Buffer.alloc(size, 0x61));
      const { decoder, events } = recorder();
      decoder.push(p.subarray(0, 50));
      assert.equal(decoder.buffered, size);
      decoder.discard();
      assert.equal(decoder.buffered, 0);
      assert.equal(decoder.received, 0);
      decoder.push(p.subarray(50));
      assert.deepEqual(events, [], `nothing decoded after discard() (${size} bytes)`);
    }
  });

  test('handlers see views that stay valid until the next push', () => {
    // The contract says "copy what you keep"; check that the view is correct at call time.
    const seen: string[] = [];
    const d = new PacketDecoder({ packet: (p) => seen.push(p.args[0]!.toString()), error: () => assert.fail('no error expected') });
    const a = req(Cmd.ECHO_REQ, 'first');
    d.push(a.subarray(0, 14));
    d.push(Buffer.concat([a.subarray(14), req(Cmd.ECHO_REQ, 'second')]));
    assert.deepEqual(seen, ['first', 'second']);
  });
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
