// Which server a Client sends a job to. A job with a unique id goes to the server its id
// hashes to (rendezvous hashing over the servers' addresses), so submissions of the same id
// from any client meet on one server and coalesce there; jobs without one are spread in turn.
// A server that is down, or that cannot take jobs now (ERROR QUEUE_ERROR), passes the job on
// to the next server in the same hash order; so does one that dies holding a foreground job.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminCommand } from '../../src/client/admin.js';
import { Client, type ClientOptions, Worker } from '../../src/client/index.js';
import { GeartrainError } from '../../src/errors.js';
import { type ServerUnderTest, startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const reconnect = { initialDelayMs: 20, maxDelayMs: 100 };
const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);

describe('client routing', () => {
  const servers: ServerUnderTest[] = [];
  const clients: Client[] = [];
  let seq = 0;
  const fnName = (what: string): string => `route-${what}-${++seq}`;
  const client = (list: ServerUnderTest[], opts: ClientOptions = {}): Client => {
    const c = new Client({ servers: list.map((s) => s.address), reconnect, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    for (let i = 0; i < 4; i++) servers.push(await startInProcess());
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of servers) await s.stop();
  });

  it('a unique id goes to one server, whichever client and server order; submissions of it coalesce there', async () => {
    const [a, b, c] = servers as [ServerUnderTest, ServerUnderTest, ServerUnderTest];
    const fn = fnName('sticky');
    const one = client([a, b, c]);
    const other = client([c, a, b]);
    const where = new Map<string, string>();
    for (const key of keys) {
      const [r1, r2, r3] = await Promise.all([
        one.submitBackground(fn, 'x', { unique: key }),
        other.submitBackground(fn, 'y', { unique: key }),
        one.submitBackground(fn, 'z', { unique: key }),
      ]);
      assert.equal(r2.server, r1.server, `${key}: both clients chose one server`);
      assert.equal(r2.handle, r1.handle, `${key}: the submissions coalesced`);
      assert.equal(r3.handle, r1.handle);
      where.set(key, r1.server);
    }
    const counts = [a, b, c].map((s) => [...where.values()].filter((w) => w === s.address).length);
    assert.ok(
      counts.every((n) => n > 0),
      `every server holds some ids: ${counts.join(', ')}`,
    );
    const status = await adminCommand('127.0.0.1', a.port, 'status');
    assert.match(status, new RegExp(`^${fn}\\t${counts[0]}\\t0\\t0$`, 'm'), 'one job per id on its server');
  });

  it('jobs without a unique id are spread over the servers in turn', async () => {
    const [a, b, c] = servers as [ServerUnderTest, ServerUnderTest, ServerUnderTest];
    const fn = fnName('spread');
    const cl = client([a, b, c]);
    const refs = await Promise.all(Array.from({ length: 30 }, (_, i) => cl.submitBackground(fn, `p${i}`)));
    for (const s of [a, b, c]) assert.equal(refs.filter((r) => r.server === s.address).length, 10, s.address);
  });

  it('a unique of "-" (coalesce on the payload) is routed by the payload', async () => {
    const [a, b, c] = servers as [ServerUnderTest, ServerUnderTest, ServerUnderTest];
    const fn = fnName('dash');
    const cl = client([a, b, c]);
    const refs = await Promise.all(keys.map((k) => cl.submitBackground(fn, k, { unique: '-' })));
    assert.ok(new Set(refs.map((r) => r.server)).size > 1, 'not every "-" job on one server');
    const again = await client([b, c, a]).submitBackground(fn, keys[7]!, { unique: '-' });
    assert.deepEqual(again, refs[7], 'the same payload joins the same job');
  });

  it('adding a server moves only the ids the new server takes', async () => {
    const [a, b, c, d] = servers as [ServerUnderTest, ServerUnderTest, ServerUnderTest, ServerUnderTest];
    const fn = fnName('grow');
    const three = client([a, b, c]);
    const four = client([a, b, c, d]);
    let moved = 0;
    for (const key of keys) {
      const before3 = await three.submitBackground(fn, 'x', { unique: key });
      const after4 = await four.submitBackground(fn, 'x', { unique: key });
      if (after4.server === before3.server) continue;
      assert.equal(after4.server, d.address, `${key} moved from ${before3.server} to ${after4.server}, not to the new server`);
      moved++;
    }
    assert.ok(moved > 0 && moved < keys.length / 2, `${moved} of ${keys.length} ids moved to the fourth server`);
  });

  it('when the server of an id is down, the id goes to the next in its order, and back once it is up', async () => {
    const [a, b, c] = servers as [ServerUnderTest, ServerUnderTest, ServerUnderTest];
    const fn = fnName('failover');
    const probe = client([a, b, c]);
    // An id that hashes to a, and the server it falls back to: the same for every client.
    let key: string | undefined;
    for (const k of keys) {
      if ((await probe.submitBackground(fn, 'x', { unique: k })).server !== a.address) continue;
      key = k;
      break;
    }
    assert.ok(key !== undefined, 'an id that hashes to the first server');
    const port = a.port;
    await a.stop();
    const one = client([a, b, c]);
    const other = client([c, b, a]);
    const r1 = await one.submitBackground(fn, 'x', { unique: key });
    const r2 = await other.submitBackground(fn, 'x', { unique: key });
    assert.notEqual(r1.server, a.address);
    assert.equal(r2.server, r1.server, 'both clients fall back to the same server');
    assert.equal(r2.handle, r1.handle, 'and the submissions coalesce there');
    assert.equal((await one.submitBackground(fn, 'x', { unique: key })).handle, r1.handle, 'again while the first server is down');

    // The first server comes back on its address: once the client has reconnected, the id
    // goes home again.
    const back = await startInProcess({ port });
    servers[0] = back;
    await until(
      'the id to go to its server again',
      async () => ((await one.submitBackground(fn, 'x', { unique: key })).server === back.address ? true : undefined),
      10_000,
    );
  });

  it('a server that cannot take jobs now (QUEUE_ERROR) passes the job on; if none can, its refusal is the error', async () => {
    const [a, b] = servers as [ServerUnderTest, ServerUnderTest];
    const fn = fnName('full');
    const cl = client([a, b]);
    // Fill a's queue of fn (at most one job), then send it an id that hashes to it.
    for (const s of [a, b]) {
      await adminCommand('127.0.0.1', s.port, `create function ${fn}`);
      await adminCommand('127.0.0.1', s.port, `maxqueue ${fn} 1`);
    }
    const ids = await Promise.all(keys.map(async (k) => [k, (await client([a, b]).submitBackground(`${fn}-where`, 'x', { unique: k })).server] as const));
    const [toA, toB] = [ids.filter(([, s]) => s === a.address).map(([k]) => k), ids.filter(([, s]) => s === b.address).map(([k]) => k)];
    assert.ok(toA.length >= 2 && toB.length >= 1, 'ids for both servers');
    assert.equal((await cl.submitBackground(fn, 'x', { unique: toA[0] })).server, a.address);
    const passed = await cl.submitBackground(fn, 'x', { unique: toA[1] });
    assert.equal(passed.server, b.address, 'a full queue sent the job to the next server');
    const refused = await cl.submitBackground(fn, 'x', { unique: toB[0] }).then(
      () => assert.fail('a third job was taken by two queues of one'),
      (e: unknown) => e,
    );
    assert.ok(refused instanceof GeartrainError, String(refused));
    assert.equal(refused.code, 'GT_SERVER_ERROR');
    assert.match(refused.message, /^Job server answered QUEUE_ERROR: Job queue is full$/);
  });

  it('a server that dies holding foreground jobs: they go to the next server in their order and complete; failovers: 0 fails them', async () => {
    const [a, b] = [await startInProcess(), await startInProcess()];
    const fn = fnName('moved');
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const ran: string[] = [];
    const worker = new Worker({ servers: [a.address, b.address], concurrency: 40, reconnect });
    worker.addFunction(fn, async (job) => {
      ran.push(job.unique);
      await released;
      return `done:${job.unique}`;
    });
    await worker.start();
    const cl = client([a, b]);
    const ids = keys.slice(0, 20);
    const where = await Promise.all(keys.map(async (k) => (await cl.submitBackground(`${fn}-where`, 'x', { unique: k })).server));
    assert.ok(
      ids.some((_, i) => where[i] === a.address),
      'some of the ids go to the server that dies',
    );
    const toA = keys.find((_, i) => i >= ids.length && where[i] === a.address)!;
    const results = ids.map((k) => cl.submit(fn, k, { unique: k }).then(String, (e: Error) => e));
    const strict = cl.submit(fn, 'strict', { unique: toA, failovers: 0 }).then(String, (e: Error) => e);
    try {
      await until('every job to be running', () => ran.length === ids.length + 1);
      await a.stop();
      release();
      const out = await Promise.all(results);
      assert.deepEqual(
        out,
        ids.map((k) => `done:${k}`),
        'every job completed, those of the dead server on the other',
      );
      assert.ok(ran.length > ids.length + 1, "the dead server's jobs ran again on the survivor");
      const s = await strict;
      assert.ok(s instanceof GeartrainError && s.code === 'GT_CONNECTION_LOST', `failovers: 0 on the dead server: ${String(s)}`);
    } finally {
      release();
      await worker.close();
      await b.stop();
    }
  });
});
