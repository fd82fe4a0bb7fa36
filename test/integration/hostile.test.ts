// Hostile peers against the in-process server: malformed and oversize packets, response
// packets sent as requests, impostor workers, split and packed packets, a client that never
// reads, a worker that dies mid-job, and admin text beside binary traffic. Each bad peer gets
// a clear ERROR (and is closed when the stream cannot be trusted); everyone else is served.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { encodePacket, HEADER_SIZE, type Packet } from '../../src/protocol/codec.js';
import { Cmd, COMMANDS } from '../../src/protocol/commands.js';
import type { Connection } from '../../src/server/connection.js';
import type { GearmanServer } from '../../src/server/server.js';
import { connect, errorOf, type RawPeer } from '../helpers/raw.js';
import { startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

// For the test that a dropped connection is released: collect garbage on demand.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

type Started = Awaited<ReturnType<typeof startInProcess>>;

const MAGIC_REQ = 0x00524551;
const MAGIC_RES = 0x00524553;

function header(magic: number, type: number, size: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt32BE(magic, 0);
  h.writeUInt32BE(type, 4);
  h.writeUInt32BE(size, 8);
  return h;
}

const str = (p: Packet, i: number): string => p.args[i]?.toString('latin1') ?? '';

/** Peers opened by the current test; all destroyed after it. */
const open: RawPeer[] = [];
async function peer(port: number): Promise<RawPeer> {
  const p = await connect(port);
  open.push(p);
  return p;
}
afterEach(() => {
  for (const p of open.splice(0)) p.destroy();
});

async function expectPacket(p: RawPeer, type: number, what: string): Promise<Packet> {
  const got = await p.readPacket();
  assert.equal(got.type, type, `${what}: expected packet type ${type}, got ${got.type} ${JSON.stringify(got.args.map(String))}`);
  return got;
}

async function expectError(p: RawPeer, code: string, message?: string | RegExp): Promise<void> {
  const got = await p.readPacket();
  assert.equal(got.type, Cmd.ERROR, `expected ERROR ${code}, got type ${got.type} ${JSON.stringify(got.args.map(String))}`);
  const e = errorOf(got);
  assert.equal(e.code, code);
  if (typeof message === 'string') assert.equal(e.message, message);
  else if (message) assert.match(e.message, message);
}

async function expectEcho(p: RawPeer, text = 'still here'): Promise<void> {
  p.sendPacket(Cmd.ECHO_REQ, text);
  const got = await expectPacket(p, Cmd.ECHO_RES, 'echo');
  assert.equal(str(got, 0), text);
}

/** A client submits, a worker grabs and completes, the client gets the result. */
async function roundTrip(client: RawPeer, worker: RawPeer, fn: string, payload = 'payload'): Promise<void> {
  worker.sendPacket(Cmd.CAN_DO, fn);
  client.sendPacket(Cmd.SUBMIT_JOB, fn, '', payload);
  const created = await expectPacket(client, Cmd.JOB_CREATED, 'submit');
  const handle = str(created, 0);
  worker.sendPacket(Cmd.GRAB_JOB);
  const assign = await expectPacket(worker, Cmd.JOB_ASSIGN, 'grab');
  assert.deepEqual(
    assign.args.map((a) => a.toString('latin1')),
    [handle, fn, payload],
  );
  worker.sendPacket(Cmd.WORK_COMPLETE, handle, `done:${payload}`);
  const done = await expectPacket(client, Cmd.WORK_COMPLETE, 'result');
  assert.deepEqual(
    done.args.map((a) => a.toString('latin1')),
    [handle, `done:${payload}`],
  );
}

/** The server-side connection for a raw peer. */
function serverSide(server: GearmanServer, p: RawPeer): Connection | undefined {
  for (const c of server.connections()) if (c.socket.remotePort === p.socket.localPort) return c;
  return undefined;
}

/** Arguments that satisfy a command's argument count, so only its direction is wrong. */
function argsFor(c: (typeof COMMANDS)[number]): string[] {
  const args = Array.from({ length: c.args }, (_, i) => `a${i}`);
  if (c.data) args.push('data');
  return args;
}

describe('hostile peers (default limits)', () => {
  let srv: Started;
  before(async () => {
    srv = await startInProcess();
  });
  after(async () => {
    await srv.stop();
  });

  test('bad magic: ERROR, then closed; an already-connected client keeps working', async () => {
    const client = await peer(srv.port);
    const worker = await peer(srv.port);
    await expectEcho(client); // both connected before the attack
    await expectEcho(worker);
    const bad = await peer(srv.port);
    bad.send(Buffer.concat([Buffer.from('\0XYZ'), Buffer.alloc(8)]));
    await expectError(bad, 'INVALID_MAGIC', /Bad packet magic 0x0058595a/);
    await bad.closed;
    await roundTrip(client, worker, 'hostile_badmagic_fn');
  });

  test('valid packets before bad magic in the same write are answered first', async () => {
    const p = await peer(srv.port);
    // A first byte of 0 makes it a packet header; anything else would start an admin text line.
    p.send(Buffer.concat([encodePacket('req', Cmd.ECHO_REQ, ['first']), header(0x00585858, 1, 0), encodePacket('req', Cmd.ECHO_REQ, ['never'])]));
    assert.equal(str(await expectPacket(p, Cmd.ECHO_RES, 'echo before the bad packet'), 0), 'first');
    await expectError(p, 'INVALID_MAGIC', 'Bad packet magic 0x00585858: expected \\0REQ or \\0RES');
    await p.closed;
  });

  test('unknown type 999: ERROR INVALID_COMMAND, and the connection stays usable', async () => {
    const p = await peer(srv.port);
    p.send(Buffer.concat([header(MAGIC_REQ, 999, 5), Buffer.from('a\0b\0c')]));
    await expectError(p, 'INVALID_COMMAND', 'Unknown packet type 999');
    await expectEcho(p);
  });

  test('type 0 and types past the table: ERROR INVALID_COMMAND, usable', async () => {
    const p = await peer(srv.port);
    for (const type of [0, 43, 0x7fffffff, 0xffffffff]) {
      p.send(header(MAGIC_REQ, type, 0));
      await expectError(p, 'INVALID_COMMAND', `Unknown packet type ${type}`);
    }
    await expectEcho(p);
  });

  test('every response type sent as \\0REQ: ERROR "Command not expected", usable', async () => {
    const p = await peer(srv.port);
    const responses = COMMANDS.filter((c) => c.dir === 'res');
    assert.ok(responses.length >= 10);
    for (const c of responses) {
      p.sendPacket(c.id, ...argsFor(c));
      await expectError(p, 'INVALID_COMMAND', 'Command not expected');
    }
    await expectEcho(p);
  });

  test('requests the server does not serve (UNUSED, SUBMIT_JOB_SCHED, SUBMIT_REDUCE_JOB*): "Command not expected"', async () => {
    const p = await peer(srv.port);
    for (const name of ['UNUSED', 'SUBMIT_JOB_SCHED', 'SUBMIT_REDUCE_JOB', 'SUBMIT_REDUCE_JOB_BACKGROUND'] as const) {
      const c = COMMANDS.find((x) => x.name === name)!;
      p.sendPacket(c.id, ...argsFor(c));
      await expectError(p, 'INVALID_COMMAND', 'Command not expected');
    }
    await expectEcho(p);
  });

  test('any \\0RES packet: ERROR "Request magic expected", usable', async () => {
    const p = await peer(srv.port);
    for (const c of COMMANDS) {
      if (c.id === 0) continue; // type 0 is an unknown command whatever the magic
      p.send(encodePacket('res', c.id, argsFor(c)));
      await expectError(p, 'INVALID_MAGIC', 'Request magic expected');
    }
    await expectEcho(p);
  });

  test('too few arguments: ERROR INVALID_PACKET, usable', async () => {
    const p = await peer(srv.port);
    p.send(encodePacket('req', Cmd.SUBMIT_JOB, ['hostile_fewargs_fn']));
    await expectError(p, 'INVALID_PACKET', 'SUBMIT_JOB expects 3 arguments, received 1');
    p.send(encodePacket('req', Cmd.WORK_STATUS, ['H:x:1']));
    await expectError(p, 'INVALID_PACKET', 'WORK_STATUS expects 3 arguments, received 1');
    await expectEcho(p);
  });

  test('malformed numbers: ERROR INVALID_PACKET, usable', async () => {
    const p = await peer(srv.port);
    p.sendPacket(Cmd.SUBMIT_JOB_EPOCH, 'hostile_epoch_fn', '', 'tomorrow', 'x');
    await expectError(p, 'INVALID_PACKET', /SUBMIT_JOB_EPOCH expects a Unix time/);
    p.sendPacket(Cmd.CAN_DO_TIMEOUT, 'hostile_cdt_fn', 'soon');
    await expectError(p, 'INVALID_PACKET', /CAN_DO_TIMEOUT expects a timeout/);
    await expectEcho(p);
  });

  test('a header claiming 4 GiB: ERROR, close, and no allocation from the size', async () => {
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 20; i++) {
      const p = await peer(srv.port);
      p.send(header(MAGIC_REQ, Cmd.SUBMIT_JOB, 0xffffffff));
      await expectError(p, 'ARGUMENT_TOO_LARGE', 'Packet body of 4294967295 bytes exceeds the limit of 67108864 bytes');
      await p.closed;
    }
    const grown = process.memoryUsage().rss - rssBefore;
    // Generous: allocating even one of those bodies would add gigabytes.
    assert.ok(grown < 50 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MB`);
  });

  test('a connection closed for a bad packet is released at once, not kept by a timer', async () => {
    const p = await peer(srv.port);
    await expectEcho(p);
    const conn = new WeakRef(serverSide(srv.server, p)!);
    p.send(header(MAGIC_REQ, Cmd.SUBMIT_JOB, 0xffffffff));
    await expectError(p, 'ARGUMENT_TOO_LARGE');
    await p.closed;
    await until('the server to forget the connection', () => serverSide(srv.server, p) === undefined, 5000);
    // WeakRefs survive until the current job ends; collect from a fresh macrotask.
    for (let i = 0; i < 3 && conn.deref() !== undefined; i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    assert.equal(conn.deref(), undefined, 'the closed Connection (socket, decoder, buffers) was garbage-collected');
  });

  test('headers under the limit whose bodies never come: nothing allocated from the size', async () => {
    const rssBefore = process.memoryUsage().rss;
    const stalled: RawPeer[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await peer(srv.port);
      p.send(Buffer.concat([header(MAGIC_REQ, Cmd.ECHO_REQ, 60 * 1024 * 1024), Buffer.from('only this')]));
      stalled.push(p);
    }
    const other = await peer(srv.port);
    await expectEcho(other); // served while five connections wait for 300 MiB that never comes
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 50 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MB`);
    for (const p of stalled) p.destroy();
    await until('the server to forget the stalled connections', () => stalled.every((p) => serverSide(srv.server, p) === undefined), 5000);
  });

  test('a unique id of 65 bytes: ERROR ARGUMENT_TOO_LARGE; 64 bytes is fine', async () => {
    const p = await peer(srv.port);
    p.sendPacket(Cmd.SUBMIT_JOB_BG, 'hostile_unique_fn', 'u'.repeat(65), 'x');
    await expectError(p, 'ARGUMENT_TOO_LARGE', 'Unique id of 65 bytes exceeds the limit of 64 bytes');
    p.sendPacket(Cmd.SUBMIT_JOB, 'hostile_unique_fn', 'v'.repeat(65), 'x');
    await expectError(p, 'ARGUMENT_TOO_LARGE');
    p.sendPacket(Cmd.SUBMIT_JOB_BG, 'hostile_unique_fn', 'u'.repeat(64), 'x');
    await expectPacket(p, Cmd.JOB_CREATED, '64-byte unique');
  });

  test('empty and over-long function names: ERROR INVALID_FUNCTION_NAME', async () => {
    const p = await peer(srv.port);
    p.sendPacket(Cmd.SUBMIT_JOB_BG, '', '', 'x');
    await expectError(p, 'INVALID_FUNCTION_NAME');
    p.sendPacket(Cmd.CAN_DO, '');
    await expectError(p, 'INVALID_FUNCTION_NAME');
    p.sendPacket(Cmd.CAN_DO, 'f'.repeat(513));
    await expectError(p, 'INVALID_FUNCTION_NAME', /513 bytes/);
    await expectEcho(p);
  });

  test('WORK_COMPLETE for a job the connection does not hold: JOB_NOT_FOUND; the real worker completes it', async () => {
    const fn = 'hostile_impostor_fn';
    const client = await peer(srv.port);
    const worker = await peer(srv.port);
    const impostor = await peer(srv.port);
    worker.sendPacket(Cmd.CAN_DO, fn);
    impostor.sendPacket(Cmd.CAN_DO, fn);
    client.sendPacket(Cmd.SUBMIT_JOB, fn, '', 'work');
    const handle = str(await expectPacket(client, Cmd.JOB_CREATED, 'submit'), 0);
    worker.sendPacket(Cmd.GRAB_JOB);
    await expectPacket(worker, Cmd.JOB_ASSIGN, 'grab');
    for (const type of [Cmd.WORK_COMPLETE, Cmd.WORK_FAIL, Cmd.WORK_EXCEPTION, Cmd.WORK_DATA, Cmd.WORK_WARNING, Cmd.WORK_STATUS] as const) {
      const args = type === Cmd.WORK_FAIL ? [handle] : type === Cmd.WORK_STATUS ? [handle, '1', '2'] : [handle, 'forged'];
      impostor.sendPacket(type, ...args);
      await expectError(impostor, 'JOB_NOT_FOUND', 'Job given in work result not found');
    }
    impostor.sendPacket(Cmd.WORK_COMPLETE, 'H:nowhere:42', 'forged');
    await expectError(impostor, 'JOB_NOT_FOUND');
    worker.sendPacket(Cmd.WORK_COMPLETE, handle, 'genuine');
    // The first thing the client hears about the job is the genuine result: nothing forged got through.
    const done = await expectPacket(client, Cmd.WORK_COMPLETE, 'result');
    assert.deepEqual(done.args.map(String), [handle, 'genuine']);
    await expectEcho(impostor);
  });

  test('packets split one byte at a time still work', async () => {
    const fn = 'hostile_split_fn';
    const client = await peer(srv.port);
    const worker = await peer(srv.port);
    const dribble = async (p: RawPeer, bytes: Buffer): Promise<void> => {
      for (const b of bytes) {
        p.send(Buffer.from([b]));
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    await dribble(worker, encodePacket('req', Cmd.CAN_DO, [fn]));
    await dribble(client, encodePacket('req', Cmd.SUBMIT_JOB, [fn, 'split-1', Buffer.from('a\0b')]));
    const handle = str(await expectPacket(client, Cmd.JOB_CREATED, 'submit'), 0);
    await dribble(worker, encodePacket('req', Cmd.GRAB_JOB_UNIQ));
    const assign = await expectPacket(worker, Cmd.JOB_ASSIGN_UNIQ, 'grab');
    assert.deepEqual(
      assign.args.map((a) => a.toString('latin1')),
      [handle, fn, 'split-1', 'a\0b'],
    );
    await dribble(worker, encodePacket('req', Cmd.WORK_COMPLETE, [handle, 'ok']));
    assert.equal(str(await expectPacket(client, Cmd.WORK_COMPLETE, 'result'), 1), 'ok');
    await dribble(client, Buffer.from('status\r\n'));
    assert.match(await client.readText(), new RegExp(`^${fn}\\t0\\t0\\t1$`, 'm'));
  });

  test('1000 packets packed in one write are all answered, in order', async () => {
    const p = await peer(srv.port);
    p.send(Buffer.concat(Array.from({ length: 1000 }, (_, i) => encodePacket('req', Cmd.ECHO_REQ, [`n${i}`]))));
    for (let i = 0; i < 1000; i++) assert.equal(str(await expectPacket(p, Cmd.ECHO_RES, `echo ${i}`), 0), `n${i}`);
  });

  test('a worker that disconnects mid-job: the job is requeued and another worker completes it', async () => {
    const fn = 'hostile_dying_worker_fn';
    const client = await peer(srv.port);
    const w1 = await peer(srv.port);
    const w2 = await peer(srv.port);
    const admin = await peer(srv.port);
    w1.sendPacket(Cmd.CAN_DO, fn);
    w2.sendPacket(Cmd.CAN_DO, fn);
    w2.sendPacket(Cmd.PRE_SLEEP);
    await expectEcho(w2); // w2 is asleep before the job exists
    client.sendPacket(Cmd.SUBMIT_JOB, fn, '', 'fragile');
    const handle = str(await expectPacket(client, Cmd.JOB_CREATED, 'submit'), 0);
    await expectPacket(w2, Cmd.NOOP, 'w2 woken for the new job');
    w1.sendPacket(Cmd.GRAB_JOB);
    await expectPacket(w1, Cmd.JOB_ASSIGN, 'w1 takes it first');
    w1.sendPacket(Cmd.WORK_STATUS, handle, '1', '3');
    await expectPacket(client, Cmd.WORK_STATUS, 'progress from w1');
    w2.sendPacket(Cmd.GRAB_JOB);
    await expectPacket(w2, Cmd.NO_JOB, 'nothing while w1 holds it');
    w2.sendPacket(Cmd.PRE_SLEEP);
    w1.destroy();
    await expectPacket(w2, Cmd.NOOP, 'w2 woken for the requeued job');
    admin.send('show jobs\n');
    assert.match(await admin.readText(), new RegExp(`^${handle}\\t1\\t0\\t0$`, 'm'), 'listed with one retry');
    w2.sendPacket(Cmd.GRAB_JOB);
    const again = await expectPacket(w2, Cmd.JOB_ASSIGN, 'w2 grabs');
    assert.deepEqual(again.args.map(String), [handle, fn, 'fragile']);
    w2.sendPacket(Cmd.WORK_COMPLETE, handle, 'survived');
    const done = await expectPacket(client, Cmd.WORK_COMPLETE, 'result');
    assert.deepEqual(done.args.map(String), [handle, 'survived']);
  });

  test('a client that disconnects: its queued foreground job goes, its background job stays', async () => {
    const fn = 'hostile_leaving_client_fn';
    const client = await peer(srv.port);
    client.sendPacket(Cmd.SUBMIT_JOB, fn, 'fg', 'x');
    client.sendPacket(Cmd.SUBMIT_JOB_BG, fn, 'bg', 'x');
    await expectPacket(client, Cmd.JOB_CREATED, 'fg');
    await expectPacket(client, Cmd.JOB_CREATED, 'bg');
    const admin = await peer(srv.port);
    admin.send('status\n');
    assert.match(await admin.readText(), new RegExp(`^${fn}\\t2\\t0\\t0$`, 'm'));
    client.destroy();
    await until('the foreground job to be dropped', () => srv.server.registry.fn(fn).total === 1, 5000);
    admin.send('show unique jobs\n');
    const uniques = await admin.readText();
    assert.match(uniques, /^bg$/m);
    assert.doesNotMatch(uniques, /^fg$/m);
  });

  test('admin text on one connection while binary clients and workers use others', async () => {
    const fn = 'hostile_admin_mix_fn';
    const admin = await peer(srv.port);
    const client = await peer(srv.port);
    const worker = await peer(srv.port);
    worker.sendPacket(Cmd.SET_CLIENT_ID, 'mixer-worker');
    worker.sendPacket(Cmd.CAN_DO, fn);
    client.sendPacket(Cmd.SUBMIT_JOB, fn, '', 'x');
    const handle = str(await expectPacket(client, Cmd.JOB_CREATED, 'submit'), 0);
    admin.send('status\n');
    assert.match(await admin.readText(), new RegExp(`^${fn}\\t1\\t0\\t1$`, 'm'));
    admin.send('workers\r\n');
    assert.match(await admin.readText(), new RegExp(`^\\d+ 127\\.0\\.0\\.1 mixer-worker : ${fn}$`, 'm'));
    worker.sendPacket(Cmd.GRAB_JOB);
    await expectPacket(worker, Cmd.JOB_ASSIGN, 'grab');
    admin.send('prioritystatus\n');
    assert.match(await admin.readText(), new RegExp(`^${fn}\\t0\\t0\\t0\\t1$`, 'm'));
    admin.send('status\n');
    assert.match(await admin.readText(), new RegExp(`^${fn}\\t1\\t1\\t1$`, 'm'));
    worker.sendPacket(Cmd.WORK_COMPLETE, handle, 'r');
    await expectPacket(client, Cmd.WORK_COMPLETE, 'result');
    admin.send('status\n');
    assert.match(await admin.readText(), new RegExp(`^${fn}\\t0\\t0\\t1$`, 'm'));
    admin.send('version\n');
    assert.match(await admin.readText('line'), /^OK \S+\n$/);
  });

  test('admin text and binary packets on the same connection', async () => {
    const p = await peer(srv.port);
    p.send(Buffer.concat([Buffer.from('getpid\n'), encodePacket('req', Cmd.ECHO_REQ, ['between']), Buffer.from('bogus\r\n')]));
    assert.equal(await p.readText('line'), `OK ${process.pid}\n`);
    assert.equal(str(await expectPacket(p, Cmd.ECHO_RES, 'echo'), 0), 'between');
    assert.equal(await p.readText('line'), 'ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n');
  });

  test('an admin line over 8 KiB: ERROR, then closed, with or without its newline', async () => {
    for (const tail of ['', '\n']) {
      const p = await peer(srv.port);
      p.send(`${'s'.repeat(9 * 1024)}${tail}`);
      await expectError(p, 'ARGUMENT_TOO_LARGE', 'Text command longer than 8192 bytes');
      await p.closed;
    }
  });

  test('an unknown OPTION_REQ: ERROR UNKNOWN_OPTION, usable', async () => {
    const p = await peer(srv.port);
    p.sendPacket(Cmd.OPTION_REQ, 'turbo');
    await expectError(p, 'UNKNOWN_OPTION', 'Server does not recognize given option');
    p.sendPacket(Cmd.OPTION_REQ, 'exceptions');
    assert.equal(str(await expectPacket(p, Cmd.OPTION_RES, 'option'), 0), 'exceptions');
  });
});

describe('hostile peers (64 KiB packets)', () => {
  let srv: Started;
  before(async () => {
    srv = await startInProcess({ maxPacketSize: 65536 });
  });
  after(async () => {
    await srv.stop();
  });

  test('a body of exactly maxPacketSize is served', async () => {
    const p = await peer(srv.port);
    const body = Buffer.alloc(65536, 0x61);
    p.send(Buffer.concat([header(MAGIC_REQ, Cmd.ECHO_REQ, body.length), body]));
    const echo = await expectPacket(p, Cmd.ECHO_RES, 'echo');
    assert.ok(echo.args[0]!.equals(body));
  });

  test('a size one byte over maxPacketSize: ERROR from the header alone, then closed', async () => {
    const p = await peer(srv.port);
    p.send(header(MAGIC_REQ, Cmd.SUBMIT_JOB, 65537)); // no body sent at all
    await expectError(p, 'ARGUMENT_TOO_LARGE', 'Packet body of 65537 bytes exceeds the limit of 65536 bytes');
    await p.closed;
    const other = await peer(srv.port);
    await expectEcho(other);
  });

  test('an oversize \\0RES header is refused the same way', async () => {
    const p = await peer(srv.port);
    p.send(header(MAGIC_RES, Cmd.WORK_COMPLETE, 1 << 30));
    await expectError(p, 'ARGUMENT_TOO_LARGE');
    await p.closed;
  });
});

describe('a client that never reads', () => {
  const MAX_PACKET = 1 << 20;
  const MAX_OUTPUT = 4 << 20;
  let srv: Started;
  before(async () => {
    srv = await startInProcess({ maxPacketSize: MAX_PACKET, maxOutputBuffer: MAX_OUTPUT });
  });
  after(async () => {
    await srv.stop();
  });

  test('is dropped once its unread results pass maxOutputBuffer; others keep being served', async (t) => {
    const fn = 'hostile_never_reads_fn';
    const JOBS = 64; // 64 MiB of results: far more than socket buffers can hide
    const sluggard = await peer(srv.port);
    await expectEcho(sluggard);
    sluggard.socket.pause(); // from here on it reads nothing
    const conn = serverSide(srv.server, sluggard);
    assert.ok(conn, 'found the server side of the sluggish client');
    let peakQueued = 0;
    const send = conn.send.bind(conn);
    conn.send = (packet) => {
      send(packet);
      peakQueued = Math.max(peakQueued, conn.socket.writableLength);
    };

    for (let i = 0; i < JOBS; i++) sluggard.sendPacket(Cmd.SUBMIT_JOB, fn, `job-${i}`, 'x');
    const worker = await peer(srv.port);
    const bystander = await peer(srv.port);
    const bystanderWorker = await peer(srv.port);
    worker.sendPacket(Cmd.CAN_DO, fn);
    const result = Buffer.alloc(MAX_PACKET - 64, 0x5a); // leaves room for the handle in one packet
    let completed = 0;
    let checkedDuring = false;
    const deadline = Date.now() + 20_000;
    while (!sluggard.isClosed && serverSide(srv.server, sluggard) !== undefined) {
      if (Date.now() > deadline) assert.fail(`the client that never reads was still connected after ${completed} results of 1 MiB`);
      worker.sendPacket(Cmd.GRAB_JOB);
      const p = await worker.readPacket();
      if (p.type === Cmd.NO_JOB) {
        // The sluggard's submissions may still be in flight; its reads are paused by the server.
        await new Promise((r) => setTimeout(r, 10));
        if (completed >= JOBS) break;
        continue;
      }
      assert.equal(p.type, Cmd.JOB_ASSIGN);
      worker.sendPacket(Cmd.WORK_COMPLETE, str(p, 0), result);
      completed++;
      if (completed === 2 && !checkedDuring) {
        checkedDuring = true;
        await roundTrip(bystander, bystanderWorker, 'hostile_bystander_during_fn');
      }
    }
    await until('the server to drop the client that never reads', () => serverSide(srv.server, sluggard) === undefined, 10_000);
    t.diagnostic(`dropped after ${completed} results of 1 MiB; peak queued for it ${(peakQueued / 1048576).toFixed(2)} MiB`);
    assert.ok(completed < JOBS, `dropped after ${completed} results of 1 MiB, before all ${JOBS}`);
    assert.ok(
      peakQueued <= MAX_OUTPUT + MAX_PACKET + 64 * 1024,
      `server queued at most maxOutputBuffer plus one packet for it (peak ${(peakQueued / 1048576).toFixed(2)} MiB)`,
    );
    assert.ok(peakQueued > MAX_OUTPUT, 'the limit, not something else, ended the connection');
    // Its remaining foreground jobs are gone with it; the worker is not stuck.
    await until("the dropped client's queued jobs to go", () => srv.server.registry.fn(fn).queued === 0, 5000);
    await roundTrip(bystander, bystanderWorker, 'hostile_bystander_after_fn');
    await expectEcho(worker);
  });

  test('a client that floods requests and never reads is paused, not buffered', async (t) => {
    const flooder = await peer(srv.port);
    await expectEcho(flooder);
    flooder.socket.pause();
    const conn = serverSide(srv.server, flooder);
    assert.ok(conn);
    const echo = encodePacket('req', Cmd.ECHO_REQ, [Buffer.alloc(64 * 1024, 0x46)]);
    const CAP = 256 * 1024 * 1024;
    let written = 0;
    // Write with backpressure until the server stops taking bytes (no drain for a while).
    while (written < CAP) {
      if (flooder.socket.write(echo)) {
        written += echo.length;
        continue;
      }
      written += echo.length;
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 300);
        flooder.socket.once('drain', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) break;
    }
    t.diagnostic(`flooder wrote ${(written / 1048576).toFixed(1)} MiB before the server stopped reading`);
    assert.ok(written < CAP, 'the server stopped reading the flooder');
    assert.ok(conn.socket.isPaused(), 'the server paused reading it');
    assert.ok(conn.socket.writableLength <= MAX_OUTPUT, `replies queued for it: ${conn.socket.writableLength} bytes`);
    assert.ok(conn.socket.readableLength <= 1024 * 1024, `requests held unread: ${conn.socket.readableLength} bytes`);
    const other = await peer(srv.port);
    const otherWorker = await peer(srv.port);
    await roundTrip(other, otherWorker, 'hostile_flood_bystander_fn');
    flooder.destroy();
    await until('the server to forget the flooder', () => serverSide(srv.server, flooder) === undefined, 5000);
  });
});
