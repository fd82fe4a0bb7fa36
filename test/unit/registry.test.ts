// JobRegistry alone, with fake peers that record what they are sent: priorities, unique-id
// coalescing, epoch jobs, wake-ups (one NOOP per job, never a lost one), requeue on worker
// death, client departure, cancel, maxqueue and drop function.

import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { GeartrainError } from '../../src/errors.js';
import { type Packet, PacketDecoder } from '../../src/protocol/codec.js';
import { Cmd, commandName } from '../../src/protocol/commands.js';
import { Abilities } from '../../src/server/abilities.js';
import { HIGH, type Job, JobRegistry, LOW, NORMAL, type Peer, type Priority } from '../../src/server/registry.js';

const SLEEPING = 1;
const WOKEN = 2;

let nextPeerId = 1;

/** A Peer that keeps every packet it is sent. */
class FakePeer implements Peer {
  readonly id = nextPeerId++;
  readonly host = '127.0.0.1';
  clientId = '-';
  exceptions = false;
  readonly abilities: Peer['abilities'] = new Abilities();
  wakeState: Peer['wakeState'] = 0;
  readonly held: Peer['held'] = new Set();
  readonly attached: Peer['attached'] = new Set();
  readonly sent: Packet[] = [];
  private readonly decoder = new PacketDecoder({
    packet: (p) => this.sent.push({ magic: p.magic, type: p.type, args: p.args.map((a) => Buffer.from(a)) }),
    error: (e) => assert.fail(`registry sent an undecodable packet: ${e.message}`),
  });
  constructor(readonly label = `peer${nextPeerId}`) {}
  send(packet: Buffer): void {
    this.decoder.push(packet);
  }
  count(type: number): number {
    return this.sent.filter((p) => p.type === type).length;
  }
  names(): string[] {
    return this.sent.map((p) => commandName(p.type));
  }
  clear(): void {
    this.sent.length = 0;
  }
}

const newRegistry = (): JobRegistry => new JobRegistry({ handlePrefix: 'H:test' });

function bg(r: JobRegistry, fn: string, unique = '', data = 'x', priority: Priority = NORMAL, when = 0): Job {
  return r.submit(null, { fn, unique, data: Buffer.from(data), priority, background: true, when });
}

function fg(r: JobRegistry, client: Peer, fn: string, unique = '', data = 'x', priority: Priority = NORMAL): Job {
  return r.submit(client, { fn, unique, data: Buffer.from(data), priority, background: false });
}

function worker(r: JobRegistry, ...fns: string[]): FakePeer {
  const w = new FakePeer();
  for (const f of fns) r.canDo(w, f, 0);
  return w;
}

function sleeper(r: JobRegistry, ...fns: string[]): FakePeer {
  const w = worker(r, ...fns);
  r.preSleep(w);
  assert.equal(w.wakeState, SLEEPING);
  return w;
}

const noops = (ws: FakePeer[]): number => ws.reduce((n, w) => n + w.count(Cmd.NOOP), 0);

describe('queues', () => {
  test('high before normal before low, FIFO within a priority', () => {
    const r = newRegistry();
    const submitted = [
      bg(r, 'prio_fn', '', 'low1', LOW),
      bg(r, 'prio_fn', '', 'normal1', NORMAL),
      bg(r, 'prio_fn', '', 'high1', HIGH),
      bg(r, 'prio_fn', '', 'normal2', NORMAL),
      bg(r, 'prio_fn', '', 'low2', LOW),
      bg(r, 'prio_fn', '', 'high2', HIGH),
    ];
    assert.equal(r.fn('prio_fn').queued, 6);
    const w = worker(r, 'prio_fn');
    const got: string[] = [];
    for (let job = r.grab(w); job; job = r.grab(w)) got.push(job.data.toString());
    assert.deepEqual(got, ['high1', 'high2', 'normal1', 'normal2', 'low1', 'low2']);
    assert.equal(submitted.length, 6);
    assert.equal(r.fn('prio_fn').running, 6);
    assert.equal(r.fn('prio_fn').queued, 0);
  });

  test('a worker grabs from several functions, highest priority first', () => {
    const r = newRegistry();
    bg(r, 'multi_a', '', 'a-normal', NORMAL);
    bg(r, 'multi_b', '', 'b-high', HIGH);
    bg(r, 'multi_c', '', 'c-low', LOW);
    bg(r, 'multi_other', '', 'not-mine', HIGH);
    const w = worker(r, 'multi_a', 'multi_b', 'multi_c');
    assert.deepEqual(
      [r.grab(w), r.grab(w), r.grab(w), r.grab(w)].map((j) => j?.data.toString() ?? null),
      ['b-high', 'a-normal', 'c-low', null],
    );
    assert.equal(r.fn('multi_other').queued, 1);
  });

  test('a worker without abilities grabs nothing', () => {
    const r = newRegistry();
    bg(r, 'nobody_fn');
    assert.equal(r.grab(new FakePeer()), null);
  });

  test('grab records the worker, the running count and the held set', () => {
    const r = newRegistry();
    const job = bg(r, 'grab_fn');
    const w = worker(r, 'grab_fn');
    assert.equal(r.grab(w), job);
    assert.equal(job.worker, w);
    assert.equal(job.queued, false);
    assert.ok(w.held.has(job));
    assert.equal(r.held(w, job.handle), job);
    assert.equal(r.held(new FakePeer(), job.handle), undefined, 'another worker does not hold it');
    assert.equal(r.fn('grab_fn').running, 1);
    assert.equal(r.fn('grab_fn').total, 1);
    r.complete(job, Buffer.alloc(0));
    assert.equal(r.fn('grab_fn').running, 0);
    assert.equal(r.jobs.has(job.handle), false);
    assert.equal(w.held.size, 0);
  });

  test('the payload is copied out of the caller buffer', () => {
    const r = newRegistry();
    const data = Buffer.from('original');
    const job = r.submit(null, { fn: 'copy_fn', unique: '', data, priority: NORMAL, background: true });
    data.fill(0x21);
    assert.equal(job.data.toString(), 'original');
  });
});

describe('unique ids', () => {
  test('a second foreground submit with the same unique attaches to the job (same handle)', () => {
    const r = newRegistry();
    const c1 = new FakePeer();
    const c2 = new FakePeer();
    const a = fg(r, c1, 'uniq_fn', 'same-id', 'first');
    const b = fg(r, c2, 'uniq_fn', 'same-id', 'second payload is ignored');
    assert.equal(b, a);
    assert.equal(b.handle, a.handle);
    assert.deepEqual([...a.clients.keys()], [c1, c2]);
    assert.ok(c2.attached.has(a));
    assert.equal(r.fn('uniq_fn').queued, 1);
    // Both clients get the result.
    const w = worker(r, 'uniq_fn');
    assert.equal(r.grab(w), a);
    r.forward(a, Cmd.WORK_COMPLETE, [Buffer.from(a.handle), Buffer.from('result')]);
    r.complete(a, Buffer.alloc(0));
    for (const c of [c1, c2]) {
      assert.deepEqual(c.names(), ['WORK_COMPLETE']);
      assert.equal(c.sent[0]!.args[1]!.toString(), 'result');
      assert.equal(c.attached.size, 0);
    }
  });

  test('coalescing holds while the job runs, and ends with it', () => {
    const r = newRegistry();
    const c1 = new FakePeer();
    const job = fg(r, c1, 'uniq_run_fn', 'u1');
    const w = worker(r, 'uniq_run_fn');
    r.grab(w);
    const c2 = new FakePeer();
    assert.equal(fg(r, c2, 'uniq_run_fn', 'u1'), job, 'attached to the running job');
    r.complete(job, Buffer.alloc(0));
    const again = fg(r, c2, 'uniq_run_fn', 'u1');
    assert.notEqual(again, job, 'a new job once the first is done');
  });

  test('a background submit with a known unique returns the job without attaching', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const job = fg(r, c, 'uniq_bg_fn', 'u1');
    assert.equal(bg(r, 'uniq_bg_fn', 'u1'), job);
    assert.deepEqual([...job.clients.keys()], [c]);
  });

  test('a client that joins a job three times gets three results; when it leaves, the others still wait', () => {
    const r = newRegistry();
    const many = new FakePeer();
    const other = new FakePeer();
    const job = fg(r, many, 'uniq_thrice_fn', 'u3');
    assert.equal(fg(r, many, 'uniq_thrice_fn', 'u3'), job);
    assert.equal(fg(r, other, 'uniq_thrice_fn', 'u3'), job);
    assert.equal(fg(r, many, 'uniq_thrice_fn', 'u3'), job);
    assert.equal(job.clientCount, 4, 'each submission counts, as in gearmand');
    const w = worker(r, 'uniq_thrice_fn');
    r.grab(w);
    r.forward(job, Cmd.WORK_DATA, [Buffer.from(job.handle), Buffer.from('part')]);
    assert.equal(many.count(Cmd.WORK_DATA), 3);
    assert.equal(other.count(Cmd.WORK_DATA), 1);
    r.clientGone(many);
    assert.equal(job.clientCount, 1);
    assert.deepEqual([...job.clients.keys()], [other]);
    r.forward(job, Cmd.WORK_COMPLETE, [Buffer.from(job.handle), Buffer.from('done')]);
    assert.equal(many.count(Cmd.WORK_COMPLETE), 0);
    assert.equal(other.count(Cmd.WORK_COMPLETE), 1);
  });

  test('the same unique under another function is another job', () => {
    const r = newRegistry();
    assert.notEqual(bg(r, 'uniq_fn_a', 'u1'), bg(r, 'uniq_fn_b', 'u1'));
  });

  test('an empty unique never coalesces and gets a generated unique id', () => {
    const r = newRegistry();
    const a = bg(r, 'uniq_empty_fn', '', 'same');
    const b = bg(r, 'uniq_empty_fn', '', 'same');
    assert.notEqual(a, b);
    assert.match(a.unique, /^[0-9a-f-]{36}$/);
    assert.notEqual(a.unique, b.unique);
  });

  test("unique '-' coalesces on the payload", () => {
    const r = newRegistry();
    const a = bg(r, 'uniq_dash_fn', '-', 'payload-1');
    const b = bg(r, 'uniq_dash_fn', '-', 'payload-1');
    const c = bg(r, 'uniq_dash_fn', '-', 'payload-2');
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.equal(a.unique, '-');
    assert.equal(r.fn('uniq_dash_fn').queued, 2);
    // And does not collide with a literal unique equal to the payload.
    assert.notEqual(bg(r, 'uniq_dash_fn', 'payload-1'), a);
  });

  test('a unique over 64 bytes is refused with GT_UNIQUE_TOO_LONG', () => {
    const r = newRegistry();
    assert.ok(bg(r, 'uniq_len_fn', 'u'.repeat(64)));
    assert.throws(
      () => bg(r, 'uniq_len_fn', 'u'.repeat(65)),
      (e: unknown) => e instanceof GeartrainError && e.code === 'GT_UNIQUE_TOO_LONG' && e.message === 'Unique id of 65 bytes exceeds the limit of 64 bytes',
    );
    assert.equal(r.fn('uniq_len_fn').queued, 1);
  });

  test('a made-up unique id is a v4 UUID that names its job, for coalescing and GET_STATUS_UNIQUE, until the job ends', () => {
    const r = newRegistry();
    const a = bg(r, 'made_fn');
    const b = bg(r, 'made_fn');
    assert.match(a.unique, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(a.unique, a.unique, 'the same id on every read');
    assert.notEqual(a.unique, b.unique);
    assert.notEqual(
      new JobRegistry({ handlePrefix: 'H:test' }).submit(null, { fn: 'made_fn', unique: '', data: Buffer.from('x'), priority: NORMAL, background: true })
        .unique,
      a.unique,
      'another registry (process) makes other ids',
    );
    // A client that read the id (JOB_ASSIGN_UNIQ) and submits with it meets the same job.
    assert.equal(bg(r, 'made_fn', a.unique), a);
    assert.equal(r.findByUnique(a.unique), a);
    assert.notEqual(bg(r, 'made_other_fn', b.unique), b, 'under another function it is another job');
    assert.deepEqual(
      [...r.uniques()].filter((j) => j.fn.name === 'made_fn'),
      [a, b],
    );
    const w = worker(r, 'made_fn');
    r.complete(r.grab(w)!, Buffer.alloc(0));
    assert.equal(r.findByUnique(a.unique), undefined, 'gone with its job');
    const again = bg(r, 'made_fn', a.unique);
    assert.notEqual(again, a);
    assert.equal(again.unique, a.unique, 'now a client-given unique like any other');
  });

  test('handles and job log ids are read back exactly: no other spelling finds a job', () => {
    const r = newRegistry();
    const job = bg(r, 'handle_fn');
    r.logJob(job);
    assert.match(job.handle, /^H:test:\d+$/);
    assert.equal(r.jobs.get(job.handle), job);
    const seq = job.handle.slice('H:test:'.length);
    for (const other of [`H:test:0${seq}`, `H:test:+${seq}`, `H:tes:${seq}`, `H:test:${seq} `, `H:test${seq}`, 'H:test:', `X:test:${seq}`]) {
      assert.equal(r.jobs.get(other), undefined, other);
    }
    assert.equal(r.findById(job.id), job);
    assert.equal(r.findById(`${job.id}0`), undefined);
    assert.equal(r.findById(job.id.replace(/-(\d+)$/, '-0$1')), undefined);
    const unlogged = bg(r, 'handle_fn');
    assert.equal(unlogged.id, '');
    assert.equal(r.findById(`${job.id.split('-')[0]}-${unlogged.handle.split(':')[2]}`), undefined, 'a job not in the log has no log id');
    const restored = r.restore({
      id: 'other-boot-7',
      fn: 'handle_fn',
      unique: 'u-7',
      priority: NORMAL,
      data: Buffer.from('x'),
      attempts: 1,
      maxAttempts: 3,
      runAt: 0,
    });
    assert.equal(restored.id, 'other-boot-7');
    assert.equal(r.findById('other-boot-7'), restored);
    r.remove(restored);
    assert.equal(r.findById('other-boot-7'), undefined);
  });

  test("a job restored with unique '-' coalesces on its payload, as it did when it was submitted", () => {
    const r = newRegistry();
    const restored = r.restore({
      id: 'b-1',
      fn: 'dash_restore_fn',
      unique: '-',
      priority: NORMAL,
      data: Buffer.from('p1'),
      attempts: 0,
      maxAttempts: 3,
      runAt: 0,
    });
    assert.equal(bg(r, 'dash_restore_fn', '-', 'p1'), restored);
    assert.notEqual(bg(r, 'dash_restore_fn', '-', 'p2'), restored);
  });

  test('a payload is kept as sent, every byte value, small (a latin1 string) or large (a Buffer), and copied from the receive buffer', () => {
    const r = newRegistry();
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const large = Buffer.concat(Array.from({ length: 8 }, () => every));
    for (const sent of [every, large, Buffer.alloc(0)]) {
      const view = Buffer.from(sent);
      const job = r.submit(null, { fn: 'payload_fn', unique: '', data: view, priority: NORMAL, background: true });
      view.fill(0x41);
      assert.deepEqual(job.data, sent);
      assert.equal(job.dataLength, sent.length);
    }
  });

  test('findByUnique finds a job by its unique id', () => {
    const r = newRegistry();
    const job = bg(r, 'find_fn', 'find-me');
    assert.equal(r.findByUnique('find-me'), job);
    assert.equal(r.findByUnique('not-there'), undefined);
  });
});

describe('epoch jobs', () => {
  const NOW_MS = 1_700_000_000_000;
  const NOW_S = NOW_MS / 1000;

  function withClock(t: TestContext): void {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: NOW_MS });
  }

  test('an epoch job is not grabbable until it is due', (t) => {
    withClock(t);
    const r = newRegistry();
    const w = worker(r, 'epoch_fn');
    const job = bg(r, 'epoch_fn', 'e1', 'later', NORMAL, NOW_S + 10);
    assert.equal(r.fn('epoch_fn').scheduled, 1);
    assert.equal(r.fn('epoch_fn').queued, 0);
    assert.equal(r.grab(w), null);
    t.mock.timers.tick(9_999);
    assert.equal(r.grab(w), null, 'not yet due');
    t.mock.timers.tick(1);
    assert.equal(r.fn('epoch_fn').scheduled, 0);
    assert.equal(r.fn('epoch_fn').queued, 1);
    assert.equal(r.grab(w), job);
  });

  test('a due epoch job wakes a sleeping worker', (t) => {
    withClock(t);
    const r = newRegistry();
    const w = sleeper(r, 'epoch_wake_fn');
    bg(r, 'epoch_wake_fn', '', 'x', NORMAL, NOW_S + 5);
    assert.equal(w.count(Cmd.NOOP), 0, 'no wake-up for a job that is not due');
    t.mock.timers.tick(5_000);
    assert.equal(w.count(Cmd.NOOP), 1);
  });

  test('an epoch time in the past queues at once', (t) => {
    withClock(t);
    const r = newRegistry();
    const job = bg(r, 'epoch_past_fn', '', 'x', NORMAL, NOW_S - 100);
    assert.equal(r.fn('epoch_past_fn').queued, 1);
    assert.equal(r.grab(worker(r, 'epoch_past_fn')), job);
  });

  test('cancelling a scheduled job stops its timer and its count', (t) => {
    withClock(t);
    const r = newRegistry();
    const job = bg(r, 'epoch_cancel_fn', 'e1', 'x', NORMAL, NOW_S + 60);
    assert.equal(r.cancel(job.handle), true);
    assert.equal(r.fn('epoch_cancel_fn').scheduled, 0);
    t.mock.timers.tick(60_000);
    assert.equal(r.fn('epoch_cancel_fn').queued, 0, 'the timer did not queue a cancelled job');
  });
});

describe('wake-ups', () => {
  test('5 sleeping workers and 1 job: exactly one NOOP', () => {
    const r = newRegistry();
    const ws = Array.from({ length: 5 }, () => sleeper(r, 'wake_one_fn'));
    bg(r, 'wake_one_fn');
    assert.equal(noops(ws), 1);
    const woken = ws.find((w) => w.count(Cmd.NOOP) === 1)!;
    assert.equal(woken.wakeState, WOKEN);
    assert.equal(r.fn('wake_one_fn').awake, 1);
    assert.equal(r.fn('wake_one_fn').sleepers.size, 4);
    assert.ok(r.grab(woken));
    assert.equal(noops(ws), 1, 'grabbing wakes nobody else');
    assert.equal(r.fn('wake_one_fn').awake, 0);
  });

  test('5 sleeping workers and 3 jobs: three NOOPs to three workers', () => {
    const r = newRegistry();
    const ws = Array.from({ length: 5 }, () => sleeper(r, 'wake_three_fn'));
    for (let i = 0; i < 3; i++) bg(r, 'wake_three_fn');
    assert.equal(noops(ws), 3);
    assert.equal(ws.filter((w) => w.count(Cmd.NOOP) === 1).length, 3);
    // A fourth job wakes a fourth worker; a sixth and seventh find only one left.
    bg(r, 'wake_three_fn');
    assert.equal(noops(ws), 4);
    bg(r, 'wake_three_fn');
    bg(r, 'wake_three_fn');
    assert.equal(noops(ws), 5);
  });

  test("a woken worker that grabs another function's job passes its wake-up on", () => {
    const r = newRegistry();
    // w1 can do both; b is registered last, and (as in gearmand) the most recently
    // registered function is tried first, so a grab prefers b's job.
    const w1 = sleeper(r, 'pass_a', 'pass_b');
    const w2 = sleeper(r, 'pass_a');
    const ja = bg(r, 'pass_a', '', 'job-a');
    assert.equal(w1.count(Cmd.NOOP), 1, 'w1 slept first, so it is woken for job-a');
    assert.equal(w2.count(Cmd.NOOP), 0);
    const jb = bg(r, 'pass_b', '', 'job-b');
    assert.equal(w1.count(Cmd.NOOP), 1);
    assert.equal(r.grab(w1), jb, 'w1 takes job-b instead');
    assert.equal(w2.count(Cmd.NOOP), 1, 'job-a still gets a worker woken');
    assert.equal(r.grab(w2), ja);
  });

  test('a woken worker that drops the function (CANT_DO) passes its wake-up on', () => {
    const r = newRegistry();
    const w1 = sleeper(r, 'cant_a', 'cant_b');
    const w2 = sleeper(r, 'cant_a');
    const ja = bg(r, 'cant_a');
    assert.equal(w1.count(Cmd.NOOP), 1);
    r.cantDo(w1, 'cant_a');
    assert.equal(w2.count(Cmd.NOOP), 1, 'the job is not left with only sleepers');
    assert.equal(r.fn('cant_a').awake, 1, 'w2 is now the one on its way');
    assert.equal(r.grab(w1), null);
    assert.equal(r.grab(w2), ja);
  });

  test('a woken worker that resets its abilities passes its wake-up on', () => {
    const r = newRegistry();
    const w1 = sleeper(r, 'reset_a');
    const w2 = sleeper(r, 'reset_a');
    bg(r, 'reset_a');
    assert.equal(w1.count(Cmd.NOOP), 1);
    r.resetAbilities(w1);
    assert.equal(w2.count(Cmd.NOOP), 1);
  });

  test('a woken worker that disconnects passes its wake-up on', () => {
    const r = newRegistry();
    const w1 = sleeper(r, 'gone_wake_a');
    const w2 = sleeper(r, 'gone_wake_a');
    bg(r, 'gone_wake_a');
    r.workerGone(w1);
    assert.equal(w2.count(Cmd.NOOP), 1);
    assert.equal(r.fn('gone_wake_a').awake, 1);
  });

  test('PRE_SLEEP with work queued answers NOOP at once and does not sleep', () => {
    const r = newRegistry();
    bg(r, 'presleep_fn');
    const w = worker(r, 'presleep_fn');
    r.preSleep(w);
    assert.deepEqual(w.names(), ['NOOP']);
    assert.notEqual(w.wakeState, SLEEPING);
    assert.equal(r.fn('presleep_fn').sleepers.size, 0);
  });

  test('PRE_SLEEP with nothing queued sleeps without a NOOP', () => {
    const r = newRegistry();
    const w = sleeper(r, 'presleep_idle_fn');
    assert.deepEqual(w.names(), []);
    assert.ok(r.fn('presleep_idle_fn').sleepers.has(w));
  });

  test('a sleeping worker that adds a function with queued work is woken', () => {
    const r = newRegistry();
    bg(r, 'late_cando_fn');
    const w = sleeper(r, 'something_else');
    r.canDo(w, 'late_cando_fn', 0);
    assert.equal(w.count(Cmd.NOOP), 1);
  });

  test('a woken worker that another worker beats to the job wakes no one and loses nothing', () => {
    const r = newRegistry();
    const w1 = sleeper(r, 'race_fn');
    const w2 = sleeper(r, 'race_fn');
    const busy = worker(r, 'race_fn');
    const j1 = bg(r, 'race_fn');
    assert.equal(w1.count(Cmd.NOOP), 1);
    assert.equal(r.grab(busy), j1);
    const j2 = bg(r, 'race_fn');
    assert.equal(w2.count(Cmd.NOOP), 0, 'w1 is still on its way: no extra NOOP');
    assert.equal(r.grab(w1), j2);
  });

  // The property behind the cases above, on random schedules: workers that follow the
  // protocol (grab until NO_JOB, PRE_SLEEP, wait for NOOP) finish every job, and the wake
  // counters always agree with the workers' states.
  test('never loses a wake-up (seeded random schedules)', () => {
    for (let seed = 1; seed <= Number(process.env.SIM_SEEDS ?? 60); seed++) simulate(seed);
  });
});

describe('worker and client departure', () => {
  test('workerGone requeues the held job at the head with retries + 1', () => {
    const r = newRegistry();
    const w1 = worker(r, 'requeue_fn');
    const w2 = sleeper(r, 'requeue_fn');
    const j1 = bg(r, 'requeue_fn', '', 'j1');
    const j2 = bg(r, 'requeue_fn', '', 'j2');
    assert.equal(w2.count(Cmd.NOOP), 1, 'one sleeper, one NOOP');
    assert.equal(r.grab(w1), j1);
    r.workerGone(w1);
    assert.equal(j1.retries, 1);
    assert.equal(j1.worker, null);
    assert.equal(r.fn('requeue_fn').running, 0);
    assert.equal(r.fn('requeue_fn').workers.has(w1), false);
    const w3 = worker(r, 'requeue_fn');
    assert.equal(r.grab(w3), j1, 'the requeued job goes first');
    assert.equal(r.grab(w3), j2);
  });

  test('a requeued job wakes a sleeping worker', () => {
    const r = newRegistry();
    bg(r, 'requeue_wake_fn');
    const w1 = worker(r, 'requeue_wake_fn');
    r.grab(w1);
    const w2 = sleeper(r, 'requeue_wake_fn');
    r.workerGone(w1);
    assert.equal(w2.count(Cmd.NOOP), 1);
  });

  test('a worker that dies mid foreground job: the job is requeued while its client waits', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const job = fg(r, c, 'requeue_fg_fn');
    const w = worker(r, 'requeue_fg_fn');
    r.grab(w);
    r.workerGone(w);
    assert.equal(job.queued, true);
    assert.ok(r.jobs.has(job.handle));
  });

  test('a running foreground job whose client left is dropped, not requeued, when its worker dies', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const job = fg(r, c, 'requeue_orphan_fn');
    const w = worker(r, 'requeue_orphan_fn');
    r.grab(w);
    r.clientGone(c);
    assert.ok(r.jobs.has(job.handle), 'still running');
    r.workerGone(w);
    assert.equal(r.jobs.has(job.handle), false);
    assert.equal(r.fn('requeue_orphan_fn').total, 0);
  });

  test('clientGone drops a queued foreground job but keeps a background one', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const fgJob = fg(r, c, 'gone_client_fn', 'fg1');
    const bgJob = bg(r, 'gone_client_fn', 'bg1');
    assert.equal(r.fn('gone_client_fn').queued, 2);
    r.clientGone(c);
    assert.equal(r.jobs.has(fgJob.handle), false);
    assert.equal(fgJob.queued, false);
    assert.ok(r.jobs.has(bgJob.handle));
    assert.equal(r.fn('gone_client_fn').queued, 1);
    assert.equal(c.attached.size, 0);
    assert.equal(r.findByUnique('fg1'), undefined, 'its unique id is free again');
  });

  test('clientGone keeps a foreground job another client still waits on', () => {
    const r = newRegistry();
    const c1 = new FakePeer();
    const c2 = new FakePeer();
    const job = fg(r, c1, 'gone_shared_fn', 'shared');
    fg(r, c2, 'gone_shared_fn', 'shared');
    r.clientGone(c1);
    assert.ok(r.jobs.has(job.handle));
    assert.deepEqual([...job.clients.keys()], [c2]);
  });

  test('clientGone keeps a running foreground job; its result goes nowhere', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const job = fg(r, c, 'gone_running_fn');
    const w = worker(r, 'gone_running_fn');
    r.grab(w);
    r.clientGone(c);
    assert.ok(r.jobs.has(job.handle));
    r.forward(job, Cmd.WORK_COMPLETE, [Buffer.from(job.handle), Buffer.from('late')]);
    r.complete(job, Buffer.alloc(0));
    assert.deepEqual(c.sent, []);
    assert.equal(r.fn('gone_running_fn').running, 0);
  });

  test('WORK_EXCEPTION reaches only clients that asked for exceptions; others get WORK_FAIL', () => {
    const r = newRegistry();
    const plain = new FakePeer();
    const wants = new FakePeer();
    wants.exceptions = true;
    const job = fg(r, plain, 'exc_fn', 'e');
    fg(r, wants, 'exc_fn', 'e');
    r.forward(job, Cmd.WORK_EXCEPTION, [Buffer.from(job.handle), Buffer.from('boom')]);
    assert.deepEqual(plain.names(), ['WORK_FAIL']);
    assert.deepEqual(plain.sent[0]!.args.map(String), [job.handle]);
    assert.deepEqual(wants.names(), ['WORK_EXCEPTION']);
    assert.deepEqual(wants.sent[0]!.args.map(String), [job.handle, 'boom']);
  });
});

describe('timeouts (CAN_DO_TIMEOUT)', () => {
  test('a job held past the timeout is requeued; under one second counts as one second', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const r = newRegistry();
    const job = bg(r, 'timeout_fn');
    const w = new FakePeer();
    r.canDo(w, 'timeout_fn', 200);
    assert.equal(r.grab(w), job);
    t.mock.timers.tick(999);
    assert.equal(job.worker, w);
    t.mock.timers.tick(1);
    assert.equal(job.worker, null);
    assert.equal(job.queued, true);
    assert.equal(job.retries, 1);
    assert.equal(r.held(w, job.handle), undefined, 'the late worker no longer holds it');
  });

  test('a huge timeout does not overflow into an immediate requeue', async () => {
    // setTimeout turns delays over 2^31-1 ms into 1 ms; the registry must clamp.
    const r = newRegistry();
    const job = bg(r, 'timeout_huge_fn');
    const w = new FakePeer();
    r.canDo(w, 'timeout_huge_fn', 2 ** 32);
    assert.equal(r.grab(w), job);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(job.worker, w, 'still held');
    r.complete(job, Buffer.alloc(0));
  });
});

describe('cancel', () => {
  test('cancel removes a queued job from its queue and the counts, and fails its clients', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const job = fg(r, c, 'cancel_fn', 'c1');
    const other = bg(r, 'cancel_fn');
    assert.equal(r.fn('cancel_fn').total, 2);
    assert.equal(r.cancel(job.handle), true);
    assert.equal(r.fn('cancel_fn').total, 1);
    assert.equal(r.fn('cancel_fn').queued, 1);
    assert.equal(r.jobs.has(job.handle), false);
    assert.deepEqual(c.names(), ['WORK_FAIL']);
    assert.equal(c.attached.size, 0);
    const w = worker(r, 'cancel_fn');
    assert.equal(r.grab(w), other);
    assert.equal(r.grab(w), null);
    assert.notEqual(fg(r, c, 'cancel_fn', 'c1'), job, 'the unique id is free again');
  });

  test('cancel of a running job detaches it; the worker can still finish it', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const job = fg(r, c, 'cancel_run_fn');
    const w = worker(r, 'cancel_run_fn');
    r.grab(w);
    assert.equal(r.cancel(job.handle), true);
    assert.equal(job.cancelled, true);
    assert.equal(r.jobs.has(job.handle), false);
    assert.deepEqual(c.names(), ['WORK_FAIL']);
    assert.ok(w.held.has(job));
    r.forward(job, Cmd.WORK_COMPLETE, [Buffer.from(job.handle), Buffer.from('ignored')]);
    r.complete(job, Buffer.alloc(0));
    assert.deepEqual(c.names(), ['WORK_FAIL'], 'no result after the cancel');
    assert.equal(r.fn('cancel_run_fn').running, 0);
    assert.equal(w.held.size, 0);
  });

  test('a cancelled running job is not requeued when its worker dies', () => {
    const r = newRegistry();
    const job = bg(r, 'cancel_dead_fn');
    const w = worker(r, 'cancel_dead_fn');
    r.grab(w);
    r.cancel(job.handle);
    r.workerGone(w);
    assert.equal(r.fn('cancel_dead_fn').total, 0);
  });

  test('cancel of an unknown handle returns false', () => {
    assert.equal(newRegistry().cancel('H:test:404'), false);
  });
});

describe('maxqueue', () => {
  test('a full queue refuses with GT_QUEUE_FULL; running jobs count', () => {
    const r = newRegistry();
    r.fn('maxq_fn');
    r.setMaxQueue('maxq_fn', [2, 2, 2]);
    bg(r, 'maxq_fn', 'a');
    bg(r, 'maxq_fn', 'b');
    const full = (e: unknown): boolean => e instanceof GeartrainError && e.code === 'GT_QUEUE_FULL' && e.gearmanCode === 'QUEUE_ERROR';
    assert.throws(() => bg(r, 'maxq_fn', 'c'), full);
    const w = worker(r, 'maxq_fn');
    r.grab(w);
    assert.throws(() => bg(r, 'maxq_fn', 'c'), full, 'a running job still counts (gearmand job_total)');
    r.complete(r.grab(w)!, Buffer.alloc(0));
    assert.ok(bg(r, 'maxq_fn', 'c'));
    assert.equal(r.jobs.size, 2);
  });

  test('a submit that coalesces onto an existing job is accepted when the queue is full', () => {
    const r = newRegistry();
    r.fn('maxq_coalesce_fn');
    r.setMaxQueue('maxq_coalesce_fn', [1, 1, 1]);
    const job = bg(r, 'maxq_coalesce_fn', 'same');
    assert.equal(bg(r, 'maxq_coalesce_fn', 'same'), job);
  });

  test('limits are per priority', () => {
    const r = newRegistry();
    r.fn('maxq_prio_fn');
    r.setMaxQueue('maxq_prio_fn', [0, 1, 5]);
    bg(r, 'maxq_prio_fn', '', 'x', NORMAL);
    assert.throws(() => bg(r, 'maxq_prio_fn', '', 'x', NORMAL), /Job queue is full/);
    assert.ok(bg(r, 'maxq_prio_fn', '', 'x', HIGH), '0 means unlimited');
    assert.ok(bg(r, 'maxq_prio_fn', '', 'x', LOW));
  });

  test('a refused submit leaves nothing behind', () => {
    const r = newRegistry();
    r.fn('maxq_clean_fn');
    r.setMaxQueue('maxq_clean_fn', [1, 1, 1]);
    bg(r, 'maxq_clean_fn', 'a');
    const c = new FakePeer();
    assert.throws(() => fg(r, c, 'maxq_clean_fn', 'b'));
    assert.equal(c.attached.size, 0);
    assert.equal(r.findByUnique('b'), undefined);
  });
});

describe('drop function', () => {
  test('an unknown function is missing', () => {
    assert.equal(newRegistry().dropFunction('drop_nothing'), 'missing');
  });

  test('a function with a registered worker is busy', () => {
    const r = newRegistry();
    worker(r, 'drop_worker_fn');
    assert.equal(r.dropFunction('drop_worker_fn'), 'busy');
    assert.ok(r.functions.has('drop_worker_fn'));
  });

  test('a function with a running job is busy even when its worker unregistered', () => {
    const r = newRegistry();
    bg(r, 'drop_running_fn');
    const w = worker(r, 'drop_running_fn');
    r.grab(w);
    r.cantDo(w, 'drop_running_fn');
    assert.equal(r.dropFunction('drop_running_fn'), 'busy');
  });

  test('an idle function goes, its queued jobs cancelled and their clients failed', () => {
    const r = newRegistry();
    const c = new FakePeer();
    const a = fg(r, c, 'drop_idle_fn', 'd1');
    const b = bg(r, 'drop_idle_fn', 'd2');
    assert.equal(r.dropFunction('drop_idle_fn'), 'ok');
    assert.equal(r.functions.has('drop_idle_fn'), false);
    assert.equal(r.jobs.has(a.handle), false);
    assert.equal(r.jobs.has(b.handle), false);
    assert.deepEqual(c.names(), ['WORK_FAIL']);
    assert.notEqual(bg(r, 'drop_idle_fn', 'd2'), b, 'the unique id is free again');
  });

  test('the name matches case-insensitively (gearmand strcasecmp)', () => {
    const r = newRegistry();
    r.fn('Drop_Case_Fn');
    assert.equal(r.dropFunction('drop_case_fn'), 'ok');
    assert.equal(r.functions.size, 0);
  });

  test('dropping a function also cancels its scheduled (epoch) jobs', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 });
    const r = newRegistry();
    const job = bg(r, 'drop_epoch_fn', 'later', 'x', NORMAL, 1_700_000_000 + 3600);
    assert.equal(r.dropFunction('drop_epoch_fn'), 'ok');
    assert.equal(r.jobs.has(job.handle), false, 'no job left behind in a function that no longer exists');
    const again = bg(r, 'drop_epoch_fn', 'later', 'x', NORMAL, 0);
    assert.notEqual(again, job, 'the unique id does not coalesce onto the dropped job');
    assert.equal(r.fn('drop_epoch_fn').queued, 1);
  });
});

// ---- random schedules -----------------------------------------------------------------------

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

type Next = 'grab' | 'complete' | 'sleep' | 'wait';

/** A worker that follows the protocol, driven one step at a time. */
class SimWorker extends FakePeer {
  next: Next = 'grab';
  job: Job | null = null;
  override send(packet: Buffer): void {
    super.send(packet);
    // A NOOP matters only to a worker waiting after PRE_SLEEP.
    if (this.sent.at(-1)!.type === Cmd.NOOP && this.next === 'wait') this.next = 'grab';
  }
}

function simulate(seed: number): void {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const r = newRegistry();
  const FNS = [`sim${seed}_a`, `sim${seed}_b`, `sim${seed}_c`];
  const workers: SimWorker[] = [];
  const log: string[] = [];
  const fail = (msg: string): never => assert.fail(`seed ${seed}: ${msg}\nlast steps:\n${log.slice(-25).join('\n')}`);

  const addWorker = (fns: string[]): void => {
    const w = new SimWorker();
    for (const f of fns) r.canDo(w, f, 0);
    workers.push(w);
    log.push(`new w${w.id} can do ${fns.join(',')}`);
  };
  const randomFns = (): string[] => {
    const fns = FNS.filter(() => rand() < 0.5);
    return fns.length > 0 ? fns : [pick(FNS)];
  };
  const step = (w: SimWorker): void => {
    if (w.next === 'grab') {
      const job = r.grab(w);
      log.push(`w${w.id} grab -> ${job ? job.handle : 'NO_JOB'}`);
      if (job) {
        w.job = job;
        w.next = 'complete';
      } else w.next = 'sleep';
    } else if (w.next === 'complete') {
      log.push(`w${w.id} complete ${w.job!.handle}`);
      r.complete(w.job!, Buffer.alloc(0));
      w.job = null;
      w.next = 'grab';
    } else if (w.next === 'sleep') {
      w.next = 'wait';
      log.push(`w${w.id} PRE_SLEEP`);
      r.preSleep(w);
    }
  };
  const checkCounters = (): void => {
    for (const fn of r.functions.values()) {
      const woken = [...fn.workers].filter((w) => w.wakeState === WOKEN).length;
      const asleep = [...fn.workers].filter((w) => w.wakeState === SLEEPING);
      if (fn.awake !== woken) fail(`${fn.name}: awake counter ${fn.awake}, woken workers ${woken}`);
      if (fn.sleepers.size !== asleep.length || !asleep.every((w) => fn.sleepers.has(w))) fail(`${fn.name}: sleepers set disagrees with worker states`);
      // Liveness: queued work for a function with workers needs one of them on its way to a
      // grab. If all of them wait for a NOOP, only a future submit would rescue the job.
      const onTheirWay = [...fn.workers].some((w) => (w as SimWorker).next !== 'wait');
      if (fn.queued > 0 && fn.workers.size > 0 && !onTheirWay)
        fail(`${fn.name} has ${fn.queued} queued jobs while all ${fn.workers.size} of its workers sleep: a lost wake-up`);
    }
  };

  for (let i = 0; i < 4; i++) addWorker(randomFns());
  for (let i = 0; i < 400; i++) {
    const x = rand();
    if (x < 0.3) {
      const fn = pick(FNS);
      bg(r, fn, '', `job${i}`, pick([HIGH, NORMAL, LOW]));
      log.push(`submit ${fn}`);
    } else if (x < 0.8) {
      step(pick(workers));
    } else if (x < 0.87) {
      const w = pick(workers);
      const fn = pick(FNS);
      log.push(`w${w.id} CANT_DO ${fn}`);
      r.cantDo(w, fn);
    } else if (x < 0.93) {
      const w = pick(workers);
      const fn = pick(FNS);
      log.push(`w${w.id} CAN_DO ${fn}`);
      r.canDo(w, fn, 0);
    } else if (x < 0.96) {
      const w = pick(workers);
      log.push(`w${w.id} RESET_ABILITIES`);
      r.resetAbilities(w);
    } else {
      const w = workers.splice(Math.floor(rand() * workers.length), 1)[0]!;
      log.push(`w${w.id} disconnects`);
      r.workerGone(w);
      addWorker(randomFns());
    }
    checkCounters();
  }
  // Functions nobody can run any more get a fresh worker (it starts with a grab, so it
  // cannot hide a lost wake-up: there was no sleeper to wake). Then let the workers run.
  for (const name of FNS) if (r.fn(name).workers.size === 0) addWorker([name]);
  for (let guard = 0; ; guard++) {
    if (guard > 100_000) fail('workers never settled');
    const active = workers.filter((w) => w.next !== 'wait');
    if (active.length === 0) break;
    step(pick(active));
    checkCounters();
  }
  for (const name of FNS) {
    const fn = r.fn(name);
    if (fn.queued > 0) fail(`${name} has ${fn.queued} queued jobs while all ${fn.workers.size} of its workers sleep: a lost wake-up`);
  }
}
