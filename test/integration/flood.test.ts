// Floods from one peer against the in-process server: many functions on one worker connection,
// many bad results from a worker holding many jobs. Each request costs the server the same
// whatever came before it on that connection, so other peers are answered throughout, and what
// one worker may register is bounded.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodePacket, type Packet } from '../../src/protocol/codec.js';
import { Cmd } from '../../src/protocol/commands.js';
import { connect, errorOf, peersPerTest, type RawPeer } from '../helpers/raw.js';
import { inProcessPerSuite, startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const peer = peersPerTest();

const str = (p: Packet, i: number): string => p.args[i]?.toString('latin1') ?? '';

async function expectEcho(p: RawPeer, text: string, timeoutMs = 60_000): Promise<void> {
  p.sendPacket(Cmd.ECHO_REQ, text);
  for (;;) {
    const got = await p.readPacket(timeoutMs);
    if (got.type === Cmd.ECHO_RES && str(got, 0) === text) return;
  }
}

/**
 * While `flood` runs, a bystander sends ECHO after ECHO; resolves with the slowest answer in ms.
 * Every read of the flood's bytes runs between two of them, so this is the longest the server
 * spent on one read of the flood.
 */
async function slowestEchoDuring(port: number, flood: Promise<void>): Promise<number> {
  const bystander = await peer(port);
  let done = false;
  const finished = flood.finally(() => (done = true));
  let slowest = 0;
  for (let i = 0; !done; i++) {
    const t0 = performance.now();
    await expectEcho(bystander, `ping-${i}`);
    slowest = Math.max(slowest, performance.now() - t0);
  }
  await finished;
  return slowest;
}

/** `count` packets of one type, in one buffer (written at once, read by the server in chunks). */
function packets(count: number, args: (i: number) => string[], type: number): Buffer {
  const list: Buffer[] = [];
  for (let i = 0; i < count; i++) list.push(encodePacket('req', type, args(i)));
  return Buffer.concat(list);
}

describe('a CAN_DO flood on one connection', () => {
  const srv = inProcessPerSuite({ maxFunctionsPerWorker: 50_000 });

  test("20,000 distinct CAN_DO: another client's ECHO answers within a second throughout", async (t) => {
    const N = 20_000;
    const worker = await peer(srv.port);
    const flood = (async () => {
      worker.send(packets(N, (i) => [`flood_fn_${i}`], Cmd.CAN_DO));
      await expectEcho(worker, 'flood done');
    })();
    const slowest = await slowestEchoDuring(srv.port, flood);
    t.diagnostic(`slowest ECHO during the flood: ${slowest.toFixed(1)} ms`);
    // Generous: the point is that it is not seconds.
    assert.ok(slowest < 1000, `slowest ECHO took ${slowest.toFixed(0)} ms`);
    const conn = [...srv.server.connections()].find((c) => c.abilities.size > 0);
    assert.equal(conn?.abilities.size, N);
    // Most recently registered first, as gearmand lists them.
    assert.equal([...conn.abilities.keys()][0]!.name, `flood_fn_${N - 1}`);
  });
});

describe('a worker holding many jobs sends results for handles it does not hold', () => {
  const srv = inProcessPerSuite();

  test("each costs the same: another client's ECHO answers within a second throughout", async (t) => {
    const fn = 'flood_held_fn';
    const JOBS = 20_000;
    const client = await peer(srv.port);
    client.send(packets(JOBS, (i) => [fn, '', `${i}`], Cmd.SUBMIT_JOB_BG));
    for (let i = 0; i < JOBS; i++) assert.equal((await client.readPacket(60_000)).type, Cmd.JOB_CREATED);
    const worker = await peer(srv.port);
    worker.sendPacket(Cmd.CAN_DO, fn);
    worker.send(packets(JOBS, () => [], Cmd.GRAB_JOB));
    for (let i = 0; i < JOBS; i++) assert.equal((await worker.readPacket(60_000)).type, Cmd.JOB_ASSIGN);
    const BAD = 20_000;
    const flood = (async () => {
      worker.send(packets(BAD, () => ['x', '', ''], Cmd.WORK_STATUS));
      for (let i = 0; i < BAD; i++) {
        const p = await worker.readPacket(60_000);
        assert.equal(errorOf(p).code, 'JOB_NOT_FOUND');
      }
    })();
    const slowest = await slowestEchoDuring(srv.port, flood);
    t.diagnostic(`slowest ECHO during ${BAD} bad WORK_STATUS from a worker holding ${JOBS} jobs: ${slowest.toFixed(1)} ms`);
    assert.ok(slowest < 1000, `slowest ECHO took ${slowest.toFixed(0)} ms`);
  });
});

describe('clients leaving a job one client joined many times', () => {
  const srv = inProcessPerSuite();

  test("each leaving client costs the same: another client's ECHO answers within a second throughout", async (t) => {
    const fn = 'flood_joined_fn';
    const JOINS = 50_000;
    const LEAVERS = 300;
    const joiner = await peer(srv.port);
    joiner.send(packets(JOINS, () => [fn, 'one-job', 'x'], Cmd.SUBMIT_JOB));
    for (let i = 0; i < JOINS; i++) assert.equal((await joiner.readPacket(60_000)).type, Cmd.JOB_CREATED);
    const leavers = await Promise.all(Array.from({ length: LEAVERS }, () => connect(srv.port)));
    for (const p of leavers) p.sendPacket(Cmd.SUBMIT_JOB, fn, 'one-job', 'x');
    for (const p of leavers) assert.equal((await p.readPacket()).type, Cmd.JOB_CREATED);
    const status = await peer(srv.port);
    /** The clients waiting on the job, as GET_STATUS_UNIQUE counts them. */
    const waiting = async (): Promise<number> => {
      status.sendPacket(Cmd.GET_STATUS_UNIQUE, 'one-job');
      return Number(str(await status.readPacket(120_000), 5));
    };
    assert.equal(await waiting(), JOINS + LEAVERS);
    const flood = (async () => {
      for (const p of leavers) p.destroy();
      await Promise.all(leavers.map((p) => p.closed));
      await until(`${JOINS} peers left waiting`, async () => (await waiting()) === JOINS);
    })();
    const slowest = await slowestEchoDuring(srv.port, flood);
    t.diagnostic(`slowest ECHO while ${LEAVERS} clients left a job another client joined ${JOINS} times: ${slowest.toFixed(1)} ms`);
    assert.ok(slowest < 1000, `slowest ECHO took ${slowest.toFixed(0)} ms`);
  });
});

describe('admin lines naming functions while the server knows many', () => {
  const srv = inProcessPerSuite();

  test("drop function costs the same however many functions exist: another client's ECHO answers within a second", async (t) => {
    const FUNCTIONS = 100_000;
    const admin = await peer(srv.port);
    let lines = '';
    for (let i = 0; i < FUNCTIONS; i++) lines += `create function many_fn_${i}\n`;
    admin.send(lines);
    for (let i = 0; i < FUNCTIONS; i++) assert.equal(await admin.readText('line', 60_000), 'OK\r\n');
    const DROPS = 20_000;
    const flood = (async () => {
      admin.send(`drop function MANY_FN_7\n${'drop function no_such_fn\n'.repeat(DROPS)}`);
      assert.equal(await admin.readText('line', 120_000), 'OK\r\n', 'names match regardless of case, as in gearmand');
      for (let i = 0; i < DROPS; i++) assert.equal(await admin.readText('line', 120_000), 'ERR function not found\r\n');
    })();
    const slowest = await slowestEchoDuring(srv.port, flood);
    t.diagnostic(`slowest ECHO during ${DROPS} drop function lines with ${FUNCTIONS} functions: ${slowest.toFixed(1)} ms`);
    assert.ok(slowest < 1000, `slowest ECHO took ${slowest.toFixed(0)} ms`);
    admin.send('status\n');
    const listed = await admin.readText('dot', 60_000);
    assert.ok(!listed.includes('many_fn_7\t'), 'many_fn_7 was dropped');
    assert.ok(listed.includes('many_fn_8\t'));
  });

  test('of two names that differ only in case, drop function takes the newer, then the older', async () => {
    const admin = await peer(srv.port);
    admin.send('create function Case_Fn\ncreate function CASE_FN\ndrop function case_fn\n');
    for (let i = 0; i < 3; i++) assert.equal(await admin.readText('line'), 'OK\r\n');
    admin.send('status\n');
    const listed = await admin.readText('dot');
    assert.ok(listed.includes('Case_Fn\t') && !listed.includes('CASE_FN\t'), listed);
    admin.send('drop function CASE_fn\ndrop function case_fn\n');
    assert.equal(await admin.readText('line'), 'OK\r\n');
    assert.equal(await admin.readText('line'), 'ERR function not found\r\n');
  });
});

describe('--max-functions-per-worker', () => {
  const LIMIT = 50;
  const srv = inProcessPerSuite({ maxFunctionsPerWorker: LIMIT });

  test('a CAN_DO beyond the limit gets an ERROR naming it; the functions registered stay', async () => {
    const worker = await peer(srv.port);
    worker.send(packets(LIMIT, (i) => [`limit_fn_${i}`], Cmd.CAN_DO));
    worker.sendPacket(Cmd.CAN_DO_TIMEOUT, 'limit_fn_over', '1000');
    const p = await worker.readPacket();
    assert.equal(p.type, Cmd.ERROR);
    assert.deepEqual(errorOf(p), {
      code: 'TOO_MANY_FUNCTIONS',
      message: `Worker connection already registered ${LIMIT} functions, the limit (--max-functions-per-worker); limit_fn_over is refused`,
    });
    // Registering a function it already has, or one in place of one it gave up, is fine.
    worker.sendPacket(Cmd.CAN_DO, 'limit_fn_0');
    worker.sendPacket(Cmd.CANT_DO, 'limit_fn_1');
    worker.sendPacket(Cmd.CAN_DO, 'limit_fn_new');
    await expectEcho(worker, 'still usable');
    const admin = await peer(srv.port);
    admin.send('workers\n');
    const row = (await admin.readText()).split('\n').find((l) => l.includes('limit_fn_'));
    const names = row!.split(':')[1]!.trim().split(' ');
    assert.equal(names.length, LIMIT);
    assert.equal(names[0], 'limit_fn_new');
    assert.ok(!names.includes('limit_fn_over') && !names.includes('limit_fn_1'));
    // A refused name is not created either: `status` does not list it.
    admin.send('status\n');
    assert.ok(!(await admin.readText()).includes('limit_fn_over'));
  });

  test('the default is 1,000', async () => {
    const s = await startInProcess();
    try {
      const worker = await connect(s.port);
      worker.send(packets(1001, (i) => [`default_limit_fn_${i}`], Cmd.CAN_DO));
      const p = await worker.readPacket();
      assert.equal(errorOf(p).code, 'TOO_MANY_FUNCTIONS');
      assert.match(errorOf(p).message, /already registered 1000 functions/);
      worker.destroy();
    } finally {
      await s.stop();
    }
  });
});
