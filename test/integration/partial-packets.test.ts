// Packets that never finish arriving: the bytes held for them are bounded across connections
// (--max-buffered closes the connection holding the most) and in time (--packet-timeout closes
// one whose packet stopped progressing), while idle connections between packets stay open.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, type TestContext, test } from 'node:test';
import { HEADER_SIZE, type Packet } from '../../src/protocol/codec.js';
import { Cmd } from '../../src/protocol/commands.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import type { GearmanServer } from '../../src/server/server.js';
import { errorOf, peersPerTest, type RawPeer } from '../helpers/raw.js';
import { CLI, inProcessPerSuite, startCli, startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const MiB = 1024 * 1024;

const peer = peersPerTest();

/** The header of an ECHO_REQ whose body is `size` bytes. */
function echoHeader(size: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt32BE(0x00524551, 0);
  h.writeUInt32BE(Cmd.ECHO_REQ, 4);
  h.writeUInt32BE(size, 8);
  return h;
}

/** Write `bytes` of filler with backpressure; stops early if the server closes the connection. */
async function fill(p: RawPeer, bytes: number): Promise<void> {
  const block = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  while (sent < bytes && !p.isClosed && !p.socket.destroyed) {
    const n = Math.min(block.length, bytes - sent);
    sent += n;
    if (!p.socket.write(n === block.length ? block : block.subarray(0, n))) {
      await Promise.race([new Promise((r) => p.socket.once('drain', r)), p.closed]);
    }
  }
}

async function expectEcho(p: RawPeer, text: string): Promise<void> {
  p.sendPacket(Cmd.ECHO_REQ, text);
  const got = await p.readPacket();
  assert.equal(got.type, Cmd.ECHO_RES);
  assert.equal(got.args[0]!.toString('latin1'), text);
}

function expectErrorPacket(p: Packet, code: string, message: RegExp): void {
  assert.equal(p.type, Cmd.ERROR, `expected ERROR ${code}, got type ${p.type}`);
  assert.equal(errorOf(p).code, code);
  assert.match(errorOf(p).message, message);
}

describe('--packet-timeout', () => {
  const srv = inProcessPerSuite({ packetTimeoutMs: 400 });

  test('a half-sent packet that stops is closed with ERROR TIMEOUT; an idle connection stays', async () => {
    const idle = await peer(srv.port);
    await expectEcho(idle, 'between packets');
    const stalled = await peer(srv.port);
    stalled.send(Buffer.concat([echoHeader(1000), Buffer.alloc(100, 0x62)]));
    const t0 = performance.now();
    const p = await stalled.readPacket(10_000);
    const after = performance.now() - t0;
    expectErrorPacket(p, 'TIMEOUT', /^An unfinished packet \(112 bytes so far\) received nothing for 400 ms \(--packet-timeout\)/);
    await stalled.closed;
    assert.ok(after >= 350, `closed after ${after.toFixed(0)} ms, not before the timeout`);
    // The idle one was idle the whole time and longer: still served.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(idle.isClosed, false);
    await expectEcho(idle, 'still here');
    assert.equal(srv.server.partial.bytes, 0);
  });

  test('a slow packet that keeps progressing is not closed', async () => {
    const slow = await peer(srv.port);
    const body = 'x'.repeat(20);
    slow.send(echoHeader(body.length));
    // 20 bytes over about 2 s: five times the timeout in all, never a pause as long as it.
    for (const ch of body) {
      slow.send(ch);
      await new Promise((r) => setTimeout(r, 100));
    }
    const got = await slow.readPacket();
    assert.equal(got.type, Cmd.ECHO_RES);
    assert.equal(got.args[0]!.toString('latin1'), body);
  });

  test('a stalled admin line counts too', async () => {
    const p = await peer(srv.port);
    p.send('stat');
    const got = await p.readPacket(10_000);
    expectErrorPacket(got, 'TIMEOUT', /4 bytes so far/);
    await p.closed;
  });
});

describe('--max-buffered (in process)', () => {
  const srv = inProcessPerSuite({ maxPacketSize: 4 * MiB, maxBuffered: 4 * MiB });

  async function holding(p: RawPeer, server: GearmanServer, bytes: number): Promise<void> {
    await until(`the server to hold ${bytes} bytes`, () => server.partial.bytes >= bytes || p.isClosed, 10_000);
  }

  test('past the limit, the connection holding the most gets ERROR BUFFER_FULL and is closed; the others finish', async () => {
    // A packet counts with its declared body from its header on: a holds 2 MiB, b 1.5 MiB,
    // and c's 1 MiB takes the sum past 4 MiB.
    const a = await peer(srv.port);
    a.send(echoHeader(2 * MiB));
    await fill(a, 1.5 * MiB);
    await holding(a, srv.server, 2 * MiB);
    const b = await peer(srv.port);
    b.send(echoHeader(1.5 * MiB));
    await fill(b, 1 * MiB);
    await holding(b, srv.server, 3.5 * MiB);
    const c = await peer(srv.port);
    c.send(echoHeader(1 * MiB));
    expectErrorPacket(
      await a.readPacket(10_000),
      'BUFFER_FULL',
      new RegExp(
        String.raw`^Unfinished packets would hold more than 4194304 bytes on this server \(--max-buffered, each counted by its declared body size\); ` +
          'this connection held the most, 2097152 bytes, and is closed$',
      ),
    );
    await a.closed;
    assert.ok(srv.server.partial.bytes <= 4 * MiB);
    // The others are within the limit and finish their packets.
    await fill(b, 0.5 * MiB);
    assert.equal((await b.readPacket(10_000)).type, Cmd.ECHO_RES);
    await fill(c, 1 * MiB);
    assert.equal((await c.readPacket(10_000)).type, Cmd.ECHO_RES);
    await until('nothing held', () => srv.server.partial.bytes === 0, 5000);
    const metrics = await new ServerMetrics(srv.server, { processMetrics: false }).text();
    assert.match(metrics, /^geartrain_partial_packet_closes_total\{reason="buffer_full"\} 1$/m);
    assert.match(metrics, /^geartrain_partial_packet_bytes 0$/m);
  });

  test('a header whose declared body does not fit is refused before its body arrives; of equals, the newest goes', async () => {
    const a = await peer(srv.port);
    a.send(echoHeader(3 * MiB));
    await fill(a, 1 * MiB);
    await holding(a, srv.server, 3 * MiB);
    // b declares as much as a: the sum would be 6 MiB. b is the newer, so b goes, at once.
    const b = await peer(srv.port);
    b.send(echoHeader(3 * MiB));
    expectErrorPacket(await b.readPacket(10_000), 'BUFFER_FULL', /this connection held the most, 3145728 bytes, and is closed$/);
    await b.closed;
    assert.equal(srv.server.partial.bytes, 3 * MiB);
    await fill(a, 2 * MiB);
    assert.equal((await a.readPacket(10_000)).type, Cmd.ECHO_RES);
    await until('nothing held', () => srv.server.partial.bytes === 0, 5000);
  });

  test('a packet larger than maxBuffered cannot be configured', async () => {
    await assert.rejects(
      startInProcess({ maxPacketSize: 8 * MiB, maxBuffered: 4 * MiB }),
      /Expected integer of at least maxPacketSize \(8388608 bytes\) for maxBuffered but received 4194304 of type number/,
    );
  });
});

/** Resident set size of a process, bytes (Linux). */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('--max-buffered (pipeline server as a child process)', () => {
  /** 12 connections each send 40 MiB of a 48 MiB packet. */
  async function wave(port: number): Promise<RawPeer[]> {
    const conns = await Promise.all(Array.from({ length: 12 }, () => peer(port)));
    await Promise.all(
      conns.map(async (p) => {
        p.send(echoHeader(48 * MiB));
        await fill(p, 40 * MiB);
      }),
    );
    return conns;
  }

  /**
   * Two waves of 12 connections each sending 40 MiB of a 48 MiB packet (480 MiB in all, each
   * time): the server's RSS grows by less than the bound, both while it holds the first wave's
   * packets and after the second.
   */
  async function rssStaysUnder(t: TestContext, bound: number, args: string[]): Promise<void> {
    if (!existsSync(CLI)) {
      if (process.env.CI === 'true') assert.fail(`${CLI} is missing: run npm run build`);
      t.skip(`${CLI} is missing: run npm run build first`);
      return;
    }
    if (!existsSync('/proc/self/status')) {
      if (process.env.CI === 'true') assert.fail("/proc is needed to read the server's RSS");
      t.skip("no /proc: cannot read the server's RSS");
      return;
    }
    const srv = await startCli(args);
    try {
      const pid = srv.pid!;
      const warm = await peer(srv.port);
      await expectEcho(warm, 'warm');
      const before = rssOf(pid);
      const first = await wave(srv.port);
      await new Promise((r) => setTimeout(r, 300));
      const held = rssOf(pid);
      const closed = first.filter((p) => p.isClosed).length;
      t.diagnostic(
        `RSS before ${(before / MiB).toFixed(0)} MiB, holding ${(held / MiB).toFixed(0)} MiB (+${((held - before) / MiB).toFixed(0)}); ${closed} of 12 ` +
          `connections closed`,
      );
      const fit = Math.floor(bound / (40 * MiB));
      assert.ok(closed >= 12 - fit, `${closed} of 12 connections closed: at most ${fit} partial packets of 40 MiB fit in the bound`);
      assert.ok(
        held - before < bound,
        `RSS grew by ${((held - before) / MiB).toFixed(0)} MiB while holding the partial packets; the bound is ${bound / MiB} MiB`,
      );
      await expectEcho(warm, 'served throughout');
      for (const p of first) p.destroy();
      // The same attack again: the memory the first one used is reused, not added to.
      const second = await wave(srv.port);
      await new Promise((r) => setTimeout(r, 300));
      const again = rssOf(pid);
      t.diagnostic(`RSS after a second wave: ${(again / MiB).toFixed(0)} MiB (+${((again - before) / MiB).toFixed(0)})`);
      assert.ok(again - before < bound, `RSS grew by ${((again - before) / MiB).toFixed(0)} MiB after two waves; the bound is ${bound / MiB} MiB`);
      for (const p of second) p.destroy();
      await expectEcho(warm, 'after');
    } finally {
      await srv.stop();
    }
  }

  test('12 connections each sending 40 MiB of an unfinished packet: RSS grows by less than --max-buffered 64m', (t) =>
    rssStaysUnder(t, 64 * MiB, ['--max-buffered', '64m']));

  test('the same under the default --max-buffered (256 MiB)', (t) => rssStaysUnder(t, 256 * MiB, []));
});
