// A bounded fuzz run against the in-process server: random bytes, mutated valid packets,
// random admin lines, and workers/clients that misbehave mid-job, over many short
// connections. Afterwards the server must still serve, hold no connection and no stale
// worker state, and not have grown without bound.
//
// Bounds: at most 12,000 inputs and about 15 s of sending (whichever comes first), well
// inside the 20,000 / 20 s budget. The seed is random per run and printed; rerun a failure
// with FUZZ_SEED=<seed>.

import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { after, before, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { type Arg, encodePacket, HEADER_SIZE } from '../../src/protocol/codec.js';
import { Cmd } from '../../src/protocol/commands.js';
import { connect } from '../helpers/raw.js';
import { startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const MAX_INPUTS = 12_000;
const MAX_SEND_MS = 15_000;
const PARALLEL = 16;
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const FNS = ['fuzz_a', 'fuzz_b', 'fuzz_c'];
const HANDLE_PREFIX = `H:${os.hostname()}:`;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = mulberry32(SEED);
const int = (n: number): number => Math.floor(rand() * n);
const chance = (p: number): boolean => rand() < p;
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));

// ---- generators -------------------------------------------------------------------------

function unique(): string {
  return pick(['', '', '-', `u${int(50)}`, `u${int(50)}`, 'x'.repeat(64), 'x'.repeat(65), randomBytes(int(10)).toString('latin1')]);
}

function handle(): string {
  return chance(0.8) ? `${HANDLE_PREFIX}${1 + int(400)}` : randomBytes(int(20)).toString('latin1');
}

/** A well-formed request of a random type (it may still be refused by the server). */
function validPacket(): Buffer {
  const fn = chance(0.95) ? pick(FNS) : pick(['', 'f'.repeat(513), randomBytes(8).toString('latin1')]);
  const data = (): Arg => (chance(0.5) ? randomBytes(int(200)) : `payload-${int(1000)}`);
  const now = Math.floor(Date.now() / 1000);
  const choices: (() => [number, Arg[]])[] = [
    () => [Cmd.CAN_DO, [fn]],
    () => [Cmd.CAN_DO_TIMEOUT, [fn, pick(['0', '1', '500', '3000', '4294967296', '-5', 'x'])]],
    () => [Cmd.CANT_DO, [fn]],
    () => [Cmd.RESET_ABILITIES, []],
    () => [Cmd.PRE_SLEEP, []],
    () => [pick([Cmd.GRAB_JOB, Cmd.GRAB_JOB_UNIQ, Cmd.GRAB_JOB_ALL]), []],
    () => [pick([Cmd.SUBMIT_JOB, Cmd.SUBMIT_JOB_HIGH, Cmd.SUBMIT_JOB_LOW]), [fn, unique(), data()]],
    () => [pick([Cmd.SUBMIT_JOB_BG, Cmd.SUBMIT_JOB_HIGH_BG, Cmd.SUBMIT_JOB_LOW_BG]), [fn, unique(), data()]],
    () => [Cmd.SUBMIT_JOB_EPOCH, [fn, unique(), pick([String(now - 5), String(now + 1), String(now + 3600), '0', '1e300', 'soon', '']), data()]],
    () => [Cmd.SUBMIT_JOB_SCHED, [fn, unique(), '1', '2', '3', '4', '5', data()]],
    () => [Cmd.GET_STATUS, [handle()]],
    () => [Cmd.GET_STATUS_UNIQUE, [unique()]],
    () => [Cmd.ECHO_REQ, [data()]],
    () => [Cmd.SET_CLIENT_ID, [pick(['fuzzer', 'with space', '', randomBytes(6).toString('latin1')])]],
    () => [Cmd.OPTION_REQ, [pick(['exceptions', 'EXCEPTIONS', 'nope', ''])]],
    () => [Cmd.ALL_YOURS, []],
    () => [Cmd.WORK_STATUS, [handle(), String(int(100)), pick(['100', '0', '-1', 'x', '99999999999'])]],
    () => [pick([Cmd.WORK_DATA, Cmd.WORK_WARNING, Cmd.WORK_COMPLETE, Cmd.WORK_EXCEPTION]), [handle(), data()]],
    () => [Cmd.WORK_FAIL, [handle()]],
    () => [pick([Cmd.NOOP, Cmd.JOB_CREATED, Cmd.ERROR, Cmd.STATUS_RES, Cmd.ECHO_RES, Cmd.JOB_ASSIGN]), [fn, 'b', 'c', 'd', 'e']],
  ];
  const [type, args] = pick(choices)();
  return encodePacket(chance(0.95) ? 'req' : 'res', type, args);
}

function mutate(p: Buffer): Buffer {
  const b = Buffer.from(p);
  const flip = (at: number, mask: number): void => {
    b[at] = (b[at] ?? 0) ^ mask;
  };
  switch (int(8)) {
    case 0: // flip a few bytes anywhere
      for (let k = 1 + int(4); k > 0 && b.length > 0; k--) flip(int(b.length), 1 << int(8));
      return b;
    case 1: // flip a header byte
      flip(int(Math.min(HEADER_SIZE, b.length)), 1 + int(255));
      return b;
    case 2: // lie about the size
      b.writeUInt32BE(
        pick([0, 1, b.length - HEADER_SIZE + 1 + int(64), Math.max(0, b.length - HEADER_SIZE - 1 - int(8)), int(2 ** 32), 0xffffffff, 64 * 1024 * 1024 + 1]),
        8,
      );
      return b;
    case 3: // change the type
      b.writeUInt32BE(chance(0.7) ? int(50) : int(2 ** 32), 4);
      return b;
    case 4: // truncate
      return b.subarray(0, int(b.length));
    case 5: // duplicate
      return Buffer.concat([b, b]);
    case 6: // splice into another packet
      return Buffer.concat([b.subarray(0, int(b.length)), validPacket()]);
    default: {
      // insert random bytes
      const at = int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), randomBytes(1 + int(16)), b.subarray(at)]);
    }
  }
}

const ADMIN = [
  'status',
  'workers',
  'prioritystatus',
  'show jobs',
  'show unique jobs',
  'show',
  'show nothing',
  `cancel job ${HANDLE_PREFIX}1`,
  'cancel job',
  'cancel',
  'maxqueue fuzz_a 50',
  'maxqueue fuzz_b',
  'maxqueue fuzz_c 1 2 3',
  'maxqueue fuzz_c -1',
  'getpid',
  'version',
  'verbose',
  'drop function fuzz_c',
  'drop function',
  'create function fuzz_d',
  'create function',
  '',
  'STATUS',
  'hello',
];

function textLine(): Buffer {
  let line = pick(ADMIN);
  if (chance(0.3)) line = line.replace(/ /g, () => ' '.repeat(1 + int(3)));
  if (chance(0.2)) line = line.toUpperCase();
  if (chance(0.2)) {
    const at = int(line.length + 1);
    line = line.slice(0, at) + randomBytes(1 + int(6)).toString('latin1') + line.slice(at);
  }
  if (chance(0.1)) line += `x`.repeat(int(10 * 1024));
  const ending = pick(['\n', '\r\n', '\r\n', '', '\0']);
  return Buffer.from(line + ending, 'latin1');
}

function randomInput(): Buffer {
  const kind = int(10);
  if (kind < 2) {
    const b = randomBytes(1 + int(256));
    if (chance(0.5)) b[0] = 0;
    if (chance(0.3)) b.write(pick(['\0REQ', '\0RES']), 0, 'latin1');
    return b;
  }
  if (kind < 4) return validPacket();
  if (kind < 8) return mutate(validPacket());
  return textLine();
}

/** The admin `shutdown` command would end the run; keep it out of every input. */
const harmless = (b: Buffer): boolean => !b.toString('latin1').toLowerCase().includes('shutdown');

// ---- connections ------------------------------------------------------------------------

interface Failure {
  what: string;
  inputs: Buffer[];
}
const failures: Failure[] = [];
const describeInputs = (inputs: Buffer[]): string =>
  inputs.map((b) => `${b.length}B ${b.subarray(0, 48).toString('hex')}${b.length > 48 ? '…' : ''}`).join('\n  ');

/** Send the inputs in random writes, half-close, and wait for the server to close too. */
async function blindConnection(port: number, inputs: Buffer[]): Promise<number> {
  const all = Buffer.concat(inputs);
  const s = net.connect(port, '127.0.0.1');
  s.on('data', () => {});
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  await new Promise<void>((resolve) => {
    s.once('connect', resolve);
    s.once('close', resolve);
  });
  // Re-chunk at random points: the stream, not its segmentation, must decide the outcome.
  let off = 0;
  while (off < all.length && !s.destroyed) {
    const n = chance(0.5) ? all.length - off : 1 + int(Math.max(1, all.length - off));
    s.write(all.subarray(off, off + n));
    off += n;
    if (chance(0.2)) await new Promise((r) => setImmediate(r));
  }
  if (chance(0.8)) s.end();
  else s.destroy(); // an abrupt reset, sometimes with unread replies
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
  clearTimeout(timer);
  if (!ok) {
    failures.push({ what: 'server did not close a connection within 5 s of the client closing', inputs });
    s.destroy();
  }
  return inputs.length;
}

/** A worker that takes a real job and then misbehaves with its real handle. */
async function rogueWorker(port: number): Promise<number> {
  const fn = pick(FNS);
  const w = await connect(port);
  const sent: Buffer[] = [];
  const send = (b: Buffer): void => {
    sent.push(b);
    w.send(b);
  };
  try {
    send(encodePacket('req', Cmd.SUBMIT_JOB_BG, [fn, '', `rogue-${int(1000)}`]));
    send(encodePacket('req', Cmd.CAN_DO, [fn]));
    send(encodePacket('req', Cmd.GRAB_JOB_UNIQ, []));
    let jobHandle: string | null = null;
    for (let i = 0; i < 8 && jobHandle === null; i++) {
      const p = await w.readPacket(2000);
      if (p.type === Cmd.JOB_ASSIGN_UNIQ) jobHandle = p.args[0]!.toString('latin1');
      if (p.type === Cmd.NO_JOB) break;
    }
    // A mutated packet may leave the stream mid-packet (a size that overshoots, a stray
    // text byte); then the echo below would be swallowed, so it is only sent on a clean stream.
    let clean = true;
    if (jobHandle !== null) {
      for (let k = int(5); k > 0; k--) {
        const p = pick([
          () => encodePacket('req', Cmd.WORK_STATUS, [jobHandle!, String(int(10)), pick(['10', 'x', '-3'])]),
          () => encodePacket('req', Cmd.WORK_DATA, [jobHandle!, randomBytes(int(100))]),
          () => encodePacket('req', Cmd.WORK_WARNING, [jobHandle!, 'careful']),
          () => {
            clean = false;
            return mutate(encodePacket('req', Cmd.WORK_DATA, [jobHandle!, 'mutated']));
          },
        ])();
        send(p);
      }
      // Finish it, fail it, raise, or vanish holding it (the server must requeue it).
      const end = int(4);
      if (end === 0) send(encodePacket('req', Cmd.WORK_COMPLETE, [jobHandle, 'done']));
      else if (end === 1) send(encodePacket('req', Cmd.WORK_FAIL, [jobHandle]));
      else if (end === 2) send(encodePacket('req', Cmd.WORK_EXCEPTION, [jobHandle, 'boom']));
    }
    if (clean && chance(0.5)) {
      w.sendPacket(Cmd.ECHO_REQ, 'bye');
      for (let i = 0; i < 20; i++) if ((await w.readPacket(2000)).type === Cmd.ECHO_RES) break;
    }
  } catch (err) {
    // A mutated packet may legitimately close the connection; anything else is a failure.
    if (!w.isClosed) failures.push({ what: `rogue worker: ${(err as Error).message}`, inputs: sent });
  } finally {
    w.destroy();
  }
  return sent.length;
}

/** A client that submits foreground jobs and leaves before (or while) they run. */
async function leavingClient(port: number): Promise<number> {
  const c = await connect(port);
  const n = 1 + int(4);
  for (let i = 0; i < n; i++) c.sendPacket(pick([Cmd.SUBMIT_JOB, Cmd.SUBMIT_JOB_HIGH, Cmd.SUBMIT_JOB_LOW]), pick(FNS), unique(), `leaving-${i}`);
  if (chance(0.5)) await c.readPacket(2000).catch(() => undefined);
  c.destroy();
  return n;
}

// ---- the run ----------------------------------------------------------------------------

let srv: Awaited<ReturnType<typeof startInProcess>>;
before(async () => {
  srv = await startInProcess({ maxPacketSize: 256 * 1024 });
});
after(async () => {
  await srv.stop();
});

test('fuzz: the server survives hostile input (seed printed as FUZZ_SEED)', async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  const tag = (msg: string): string => `${msg} (rerun with FUZZ_SEED=${SEED})`;
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;

  const started = Date.now();
  let inputs = 0;
  let connections = 0;
  let bytes = 0;
  const nextConnection = async (): Promise<void> => {
    while (inputs < MAX_INPUTS && Date.now() - started < MAX_SEND_MS && failures.length === 0) {
      connections++;
      const kind = int(20);
      if (kind === 0) inputs += await rogueWorker(srv.port);
      else if (kind === 1) inputs += await leavingClient(srv.port);
      else {
        const batch: Buffer[] = [];
        for (let i = 1 + int(8); i > 0; i--) {
          let b = randomInput();
          while (!harmless(b)) b = randomInput();
          batch.push(b);
          bytes += b.length;
        }
        inputs += batch.length;
        await blindConnection(srv.port, batch);
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, nextConnection));
  t.diagnostic(`${inputs} inputs (${(bytes / 1048576).toFixed(1)} MiB) over ${connections} connections in ${Date.now() - started} ms`);
  assert.deepEqual(
    failures.map((f) => f.what),
    [],
    tag(`failures; first one's inputs:\n  ${failures[0] ? describeInputs(failures[0].inputs) : ''}`),
  );
  assert.ok(inputs <= MAX_INPUTS + 16 * 8, 'stayed within the input budget');

  // Every connection is gone on the server side too.
  const server = srv.server;
  await until(tag('the server to hold no connections after the fuzz run'), () => [...server.connections()].length === 0, 10_000);

  // With nobody connected there are no workers, no sleepers, nothing running, no waiting clients.
  for (const fn of server.registry.functions.values()) {
    assert.equal(fn.workers.size, 0, tag(`${fn.name}: workers left behind`));
    assert.equal(fn.sleepers.size, 0, tag(`${fn.name}: sleepers left behind`));
    assert.equal(fn.awake, 0, tag(`${fn.name}: wake counter`));
    assert.equal(fn.running, 0, tag(`${fn.name}: running count`));
  }
  let queued = 0;
  let scheduled = 0;
  for (const fn of server.registry.functions.values()) {
    queued += fn.queued;
    scheduled += fn.scheduled;
  }
  for (const job of server.registry.jobs.values()) {
    assert.equal(job.background, true, tag(`foreground job ${job.handle} outlived its clients`));
    assert.equal(job.worker, null, tag(`job ${job.handle} still held by a gone worker`));
    assert.equal(job.clientCount, 0, tag(`job ${job.handle} still lists clients`));
  }
  assert.equal(server.registry.jobs.size, queued + scheduled, tag('every listed job is queued or scheduled'));
  t.diagnostic(`${queued} background jobs queued, ${scheduled} scheduled, ${server.registry.functions.size} functions`);

  // Still serving: ECHO, and a full submit/grab/complete round trip on a fresh function.
  const client = await connect(srv.port);
  const worker = await connect(srv.port);
  try {
    client.sendPacket(Cmd.ECHO_REQ, 'alive?');
    const echo = await client.readPacket();
    assert.equal(echo.type, Cmd.ECHO_RES, tag('echo after the fuzz run'));
    assert.equal(echo.args[0]!.toString(), 'alive?');
    const fn = 'fuzz_check_roundtrip';
    worker.sendPacket(Cmd.CAN_DO, fn);
    client.sendPacket(Cmd.SUBMIT_JOB, fn, '', 'after-fuzz');
    const created = await client.readPacket();
    assert.equal(created.type, Cmd.JOB_CREATED, tag('submit after the fuzz run'));
    worker.sendPacket(Cmd.GRAB_JOB);
    const assign = await worker.readPacket();
    assert.equal(assign.type, Cmd.JOB_ASSIGN, tag('grab after the fuzz run'));
    worker.sendPacket(Cmd.WORK_COMPLETE, assign.args[0]!, 'ok');
    const done = await client.readPacket();
    assert.equal(done.type, Cmd.WORK_COMPLETE, tag('result after the fuzz run'));
    assert.equal(done.args[1]!.toString(), 'ok');
  } finally {
    client.destroy();
    worker.destroy();
  }
  await until(tag('the check connections to close'), () => [...server.connections()].length === 0, 10_000);

  // Bounded growth. What the server may legitimately keep is the fuzz's background jobs
  // (payloads under 200 bytes, a few thousand at most) and a few hundred function names:
  // a few MB. 32 MB of heap catches per-connection leaks (decoders, buffers, listeners) at
  // this connection count; 256 MB of RSS catches any allocation driven by a hostile size.
  gc();
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  t.diagnostic(`heap +${(heapGrowth / 1048576).toFixed(1)} MB, rss +${(rssGrowth / 1048576).toFixed(1)} MB`);
  assert.ok(heapGrowth < 32 * 1024 * 1024, tag(`heap grew by ${(heapGrowth / 1048576).toFixed(1)} MB`));
  assert.ok(rssGrowth < 256 * 1024 * 1024, tag(`RSS grew by ${(rssGrowth / 1048576).toFixed(1)} MB`));
});
