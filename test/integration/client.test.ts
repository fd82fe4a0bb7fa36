// Client and Worker against geartrain (in process) and the real gearmand: the same cases on
// both, so the library is proven on gearmand and geartrain is held to the same behaviour.
// Each test uses its own function names; waits are bounded but nothing asserts on timing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  Client,
  type ClientOptions,
  type JobEvent,
  type JobExceptionError,
  parseServer,
  Worker,
  type WorkerJob,
  type WorkerOptions,
  WorkFail,
} from '../../src/client/index.js';
import { GeartrainError } from '../../src/errors.js';
import { Cmd } from '../../src/protocol/commands.js';
import { errorOf, connect as rawConnect } from '../helpers/raw.js';
import { freePort, type ServerUnderTest, startGearmand, startInProcess, targets } from '../helpers/servers.js';
import { sleep, until, within } from '../helpers/wait.js';

// ---- helpers -------------------------------------------------------------------------------

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function rejectsWith(code: string, match?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof GeartrainError, `expected a GeartrainError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (match) assert.match(err.message, match);
    return true;
  };
}

/**
 * A TCP proxy in front of a server, so a test can cut a peer's connection the way a crash or
 * a network failure would, on gearmand as on geartrain.
 */
async function startProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(target.port, target.host);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    /** Destroy every connection through the proxy (it keeps listening). */
    drop(): void {
      for (const s of sockets) s.destroy();
    },
    /** Stop listening and destroy every connection: the peer cannot come back this way. */
    async cut(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

// ---- argument checks (no server) -------------------------------------------------------------

describe('client arguments', () => {
  it('parseServer defaults the port, accepts IPv6 and names a bad value', () => {
    assert.deepEqual(parseServer('example.org'), { host: 'example.org', port: 4730 });
    assert.deepEqual(parseServer('10.0.0.1:4731'), { host: '10.0.0.1', port: 4731 });
    assert.deepEqual(parseServer('[::1]:4740'), { host: '::1', port: 4740 });
    assert.deepEqual(parseServer({ host: 'h', port: 1 }), { host: 'h', port: 1 });
    assert.throws(
      () => parseServer('host:99999'),
      (e: unknown) =>
        e instanceof GeartrainError &&
        e.code === 'GT_INVALID_ARGUMENT' &&
        e.message === 'Expected host, host:port or [ipv6]:port for server but received host:99999 of type string',
    );
    assert.throws(() => parseServer('::1'), rejectsWith('GT_INVALID_ARGUMENT'));
  });

  it('submissions are checked before anything is sent', async () => {
    const client = new Client({ servers: ['127.0.0.1:1'] });
    await assert.rejects(client.submit('', 'x'), rejectsWith('GT_INVALID_ARGUMENT', /^Expected non-empty string for fn but received {2}of type string$/));
    await assert.rejects(client.submit('f', 'x', { unique: 'u'.repeat(65) }), rejectsWith('GT_INVALID_ARGUMENT', /for unique/));
    await assert.rejects(client.submit('f', 'x', { epoch: new Date() }), rejectsWith('GT_INVALID_ARGUMENT', /for epoch/));
    await assert.rejects(client.submitBackground('f', 'x', { epoch: 1, priority: 'high' }), rejectsWith('GT_INVALID_ARGUMENT', /for priority/));
    await assert.rejects(client.submit('f', 'x', { priority: 'urgent' as never }), rejectsWith('GT_INVALID_ARGUMENT', /for priority/));
    await assert.rejects(client.submit('f', 'x', { timeoutMs: 0 }), rejectsWith('GT_INVALID_ARGUMENT', /for timeoutMs/));
    assert.throws(() => client.addTask('f', 42 as never), rejectsWith('GT_INVALID_ARGUMENT', /for payload but received 42 of type number/));
    const closing = client.close();
    assert.equal(client.close(), closing, 'close() returns one stored promise');
    await closing;
    await assert.rejects(client.submit('f'), rejectsWith('GT_CLOSED'));
  });

  it('rejects GT_NO_SERVERS naming every server when none can be reached', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const client = new Client({ servers: [`127.0.0.1:${a}`, `127.0.0.1:${b}`] });
    try {
      await assert.rejects(client.submit('f', 'x'), rejectsWith('GT_NO_SERVERS', new RegExp(`127\\.0\\.0\\.1:${a}, 127\\.0\\.0\\.1:${b}`)));
      // Both are now backing off: refused at once, without connecting.
      await assert.rejects(client.submitBackground('f', 'x'), rejectsWith('GT_NO_SERVERS'));
    } finally {
      await client.close();
    }
  });

  it('worker options and job payloads are checked', () => {
    assert.throws(() => new Worker({ concurrency: 0 }), rejectsWith('GT_INVALID_ARGUMENT', /for concurrency/));
    const w = new Worker();
    assert.throws(() => w.addFunction('', () => {}), rejectsWith('GT_INVALID_ARGUMENT', /for name/));
    assert.throws(() => w.addFunction('f', () => {}, { timeout: -1 }), rejectsWith('GT_INVALID_ARGUMENT', /for timeout/));
  });
});

// ---- the same cases on every server ----------------------------------------------------------

for (const target of targets()) {
  describe(`client and worker on ${target.name}`, { skip: target.skip }, () => {
    let server: ServerUnderTest;
    let seq = 0;
    const cleanups: (() => Promise<unknown>)[] = [];

    before(async () => {
      server = target.name === 'geartrain' ? await startInProcess() : await startGearmand();
    });
    after(() => server.stop());
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    // Every case gets a hang guard; none comes near it.
    const test = (name: string, fn: () => Promise<void>): void => void it(name, { timeout: 20_000 }, fn);
    const fnName = (what: string): string => `${what}-${target.name}-${++seq}`;
    const client = (opts: ClientOptions = {}): Client => {
      const c = new Client({ servers: [server.address], ...opts });
      cleanups.push(() => c.close());
      return c;
    };
    const worker = (opts: WorkerOptions = {}): Worker => {
      const w = new Worker({ servers: [server.address], pollIntervalMs: 250, ...opts });
      cleanups.push(() => w.close({ timeoutMs: 0 }));
      return w;
    };

    test('foreground submit: round trip, and echo', async () => {
      const fn = fnName('upper→ß'); // UTF-8 in a function name survives the latin1 codec
      const w = worker();
      w.addFunction(fn, (job) => `${job.text().toUpperCase()}/${job.fn}`);
      await w.start();
      const c = client();
      assert.equal((await c.submit(fn, 'héllo')).toString(), `HÉLLO/${fn}`);
      assert.equal((await c.submit(fn)).toString(), `/${fn}`, 'no payload');
      assert.equal((await c.echo('ping\0pong')).toString(), 'ping\0pong');
    });

    test('background submit: the worker runs it', async () => {
      const fn = fnName('bg');
      const c = client();
      const ref = await c.submitBackground(fn, JSON.stringify({ n: 7 }), { unique: `bg-ü-${seq}` });
      assert.equal(ref.server, server.address);
      assert.match(ref.handle, /^H:/);
      const ran = deferred<{ n: number; handle: string; unique: string }>();
      const w = worker();
      w.addFunction(fn, (job) => ran.resolve({ ...job.json<{ n: number }>(), handle: job.handle, unique: job.unique }));
      await w.start();
      assert.deepEqual(await within('background job', ran.promise), { n: 7, handle: ref.handle, unique: `bg-ü-${seq}` });
    });

    test('priorities: high, then normal, then low; FIFO within each', async () => {
      const fn = fnName('prio');
      const c = client();
      const submitted = [
        ['low', 'l1'],
        ['normal', 'n1'],
        ['high', 'h1'],
        ['low', 'l2'],
        ['normal', 'n2'],
        ['high', 'h2'],
      ] as const;
      // Pipelined on one connection: the server sees them in this order.
      await Promise.all(submitted.map(([priority, data]) => c.submitBackground(fn, data, { priority })));
      const order: string[] = [];
      const done = deferred();
      const w = worker({ concurrency: 1 });
      w.addFunction(fn, (job) => {
        order.push(job.text());
        if (order.length === submitted.length) done.resolve();
      });
      await w.start();
      await within('six jobs', done.promise);
      assert.deepEqual(order, ['h1', 'h2', 'n1', 'n2', 'l1', 'l2']);
    });

    test('unique ids coalesce: one execution, every submitter gets the result and each WORK_DATA once', async () => {
      const fn = fnName('uniq');
      const unique = `u-${seq}`;
      const [c1, c2] = [client(), client()];
      const chunks: string[][] = [[], [], []];
      const results = [c1.submit(fn, 'first', { unique, onData: (d) => chunks[0]!.push(d.toString()) })];
      await until('first submission', async () => ((await c1.getStatusUnique(unique)).known ? true : undefined));
      results.push(
        c1.submit(fn, 'second', { unique, onData: (d) => chunks[1]!.push(d.toString()) }),
        c2.submit(fn, 'third', { unique, onData: (d) => chunks[2]!.push(d.toString()) }),
      );
      const status = await until('three submitters attached', async () => {
        const s = await c1.getStatusUnique(unique);
        return s.clients === 3 ? s : undefined;
      });
      assert.deepEqual(status, { known: true, running: false, numerator: 0, denominator: 0, clients: 3 });
      let runs = 0;
      const w = worker();
      w.addFunction(fn, (job) => {
        runs++;
        job.data('chunk');
        return `ran:${job.text()}`;
      });
      await w.start();
      const out = await within('coalesced results', Promise.all(results));
      assert.deepEqual(out.map(String), ['ran:first', 'ran:first', 'ran:first']);
      assert.equal(runs, 1);
      assert.deepEqual(chunks, [['chunk'], ['chunk'], ['chunk']]);
    });

    test('epoch job runs, and not before its time', async () => {
      const fn = fnName('epoch');
      const w = worker();
      const started = deferred<number>();
      w.addFunction(fn, () => started.resolve(Date.now()));
      await w.start();
      const c = client();
      const when = Math.ceil(Date.now() / 1000) + 2;
      const ref = await c.submitBackground(fn, 'later', { epoch: when });
      assert.deepEqual(await c.getStatus(ref), { known: true, running: false, numerator: 0, denominator: 0 });
      const at = await within('epoch job', started.promise, 8000);
      assert.ok(at >= when * 1000, `ran at ${new Date(at).toISOString()}, due ${new Date(when * 1000).toISOString()}`);
    });

    test('status, data and warning reach the client in order', async () => {
      const fn = fnName('progress');
      const w = worker();
      w.addFunction(fn, (job) => {
        job.status(1, 3);
        job.data('a');
        job.warning('careful');
        job.status(2, 3);
        job.data(new Uint8Array([0x62]));
        return 'done';
      });
      await w.start();
      const events: string[] = [];
      const result = await client().submit(fn, 'x', {
        onStatus: (n, d) => events.push(`status ${n}/${d}`),
        onData: (c) => events.push(`data ${c.toString()}`),
        onWarning: (c) => events.push(`warning ${c.toString()}`),
      });
      assert.equal(result.toString(), 'done');
      assert.deepEqual(events, ['status 1/3', 'data a', 'warning careful', 'status 2/3', 'data b']);
    });

    test('getStatus and getStatusUnique while a job runs', async () => {
      const fn = fnName('status');
      const unique = `st-${seq}`;
      const started = deferred();
      const release = deferred();
      const w = worker();
      w.addFunction(fn, async (job) => {
        job.status(1, 4);
        started.resolve();
        await release.promise;
      });
      await w.start();
      const c = client();
      const ref = await c.submitBackground(fn, 'x', { unique });
      await within('job start', started.promise);
      const running = await until('WORK_STATUS to reach the server', async () => {
        const s = await c.getStatus(ref);
        return s.numerator === 1 ? s : undefined;
      });
      assert.deepEqual(running, { known: true, running: true, numerator: 1, denominator: 4 });
      assert.deepEqual(await c.getStatusUnique(unique), { known: true, running: true, numerator: 1, denominator: 4, clients: 0 });
      release.resolve();
      await until('job to finish', async () => ((await c.getStatus(ref)).known ? undefined : true));
      assert.deepEqual(await c.getStatus(ref), { known: false, running: false, numerator: 0, denominator: 0 });
    });

    test('WORK_FAIL and WORK_EXCEPTION', async () => {
      const [failFn, boomFn, jsonFn] = [fnName('fail'), fnName('boom'), fnName('json')];
      const w = worker();
      const outcomes: string[] = [];
      w.on('job', (e: JobEvent) => outcomes.push(`${e.fn === failFn ? 'fail' : e.fn === boomFn ? 'boom' : 'json'}:${e.outcome}`));
      w.addFunction(jsonFn, (job) => JSON.stringify(job.json()));
      w.addFunction(failFn, () => {
        throw new WorkFail('no luck');
      });
      w.addFunction(boomFn, async () => {
        throw new Error('disk full');
      });
      await w.start();
      const c = client();
      await assert.rejects(c.submit(failFn), rejectsWith('GT_JOB_FAILED', new RegExp(`^Job ${failFn} \\(H:.+\\) failed$`)));
      await assert.rejects(c.submit(boomFn), (err: unknown) => {
        rejectsWith('GT_JOB_EXCEPTION', /raised: disk full$/)(err);
        assert.equal((err as JobExceptionError).exception, 'disk full');
        return true;
      });
      // Without OPTION_REQ exceptions both servers turn WORK_EXCEPTION into WORK_FAIL.
      await assert.rejects(client({ exceptions: false }).submit(boomFn), rejectsWith('GT_JOB_FAILED'));
      await assert.rejects(
        c.submit(jsonFn, 'not json'),
        rejectsWith(
          'GT_JOB_EXCEPTION',
          new RegExp(`raised: GT_INVALID_ARGUMENT: Expected a JSON payload for function ${jsonFn} but received not json of type string$`),
        ),
      );
      assert.deepEqual(outcomes, ['fail:fail', 'boom:exception', 'boom:exception', 'json:exception']);
    });

    test('addTask/runTasks: 50 tasks fan out, each with its own result', async () => {
      const fn = fnName('tasks');
      const w = worker({ concurrency: 8 });
      let active = 0;
      let maxActive = 0;
      w.addFunction(fn, async (job) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(1);
        active--;
        if (job.text() === 'fail') throw new WorkFail();
        return job.text().toUpperCase();
      });
      await w.start();
      const c = client();
      const completed: number[] = [];
      let failed = 0;
      const tasks = Array.from({ length: 50 }, (_, i) =>
        c.addTask(fn, i === 17 ? 'fail' : `t${i}`, {
          background: i === 33,
          onComplete: () => completed.push(i),
          onFail: () => failed++,
        }),
      );
      const results = await within('runTasks', c.runTasks());
      assert.equal(results.length, 50);
      results.forEach((r, i) => {
        assert.equal(r.id, tasks[i]!.id);
        assert.equal(r.fn, fn);
        assert.ok(r.ref && r.ref.server === server.address && r.ref.handle === tasks[i]!.ref?.handle, `task ${i} has its job handle`);
        if (i === 17) {
          assert.equal(r.ok, false);
          assert.ok(r.error instanceof GeartrainError && r.error.code === 'GT_JOB_FAILED');
        } else if (i === 33) {
          assert.equal(r.ok, true);
          assert.equal(r.data, undefined, 'a background task has no data');
        } else {
          assert.equal(r.ok, true, `task ${i}: ${r.error?.message}`);
          assert.equal(r.data?.toString(), `T${i}`);
        }
      });
      assert.equal(failed, 1);
      assert.equal(completed.length, 48);
      assert.equal(new Set(results.map((r) => r.ref!.handle)).size, 50, 'one job per task');

      // A second batch with at most 3 in flight.
      maxActive = 0;
      for (let i = 0; i < 12; i++) c.addTask(fn, `u${i}`);
      const limited = await within('runTasks with concurrency 3', c.runTasks({ concurrency: 3 }));
      assert.deepEqual(
        limited.map((r) => r.data?.toString()),
        Array.from({ length: 12 }, (_, i) => `U${i}`),
      );
      assert.ok(maxActive <= 3, `${maxActive} ran at once`);
    });

    test('a 1 MiB binary payload round-trips byte for byte', async () => {
      const fn = fnName('big');
      const w = worker();
      w.addFunction(fn, (job) => {
        job.data(job.payload.subarray(0, 100_000));
        return Buffer.concat([job.payload, Buffer.from([0, 255])]);
      });
      await w.start();
      const payload = randomBytes(1 << 20);
      payload[10] = 0; // NUL bytes inside the data must survive
      let firstChunk: Buffer | undefined;
      const result = await client().submit(fn, payload, { onData: (c) => (firstChunk = c) });
      assert.equal(result.length, payload.length + 2);
      assert.ok(result.subarray(0, payload.length).equals(payload));
      assert.deepEqual([...result.subarray(payload.length)], [0, 255]);
      assert.ok(firstChunk?.equals(payload.subarray(0, 100_000)));
    });

    test('failover: the first server is a closed port, submissions still go through', async () => {
      const fn = fnName('failover');
      const w = worker();
      w.addFunction(fn, (job) => `ok:${job.text()}`);
      await w.start();
      const closed = `127.0.0.1:${await freePort()}`;
      const c = client({ servers: [closed, server.address] });
      const downs: string[] = [];
      c.on('disconnect', (e: { server: string }) => downs.push(e.server));
      assert.equal((await c.submit(fn, 'a')).toString(), 'ok:a');
      assert.equal((await c.submitBackground(fn, 'b')).server, server.address);
      assert.equal((await c.submit(fn, 'c', { unique: 'anything' })).toString(), 'ok:c');
      assert.deepEqual(downs, [closed]);
    });

    test('a server that answers garbage is dropped and the submission fails over', async () => {
      const fn = fnName('garbage');
      const w = worker();
      w.addFunction(fn, (job) => `real:${job.text()}`);
      await w.start();
      const garbage = net.createServer((s) => {
        s.on('error', () => {});
        s.on('data', () => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
      });
      await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => garbage.close(resolve)));
      const bad = `127.0.0.1:${(garbage.address() as net.AddressInfo).port}`;
      const c = client({ servers: [bad, server.address] });
      const downs: { server: string; error: GeartrainError }[] = [];
      c.on('disconnect', (e: { server: string; error: GeartrainError }) => downs.push(e));
      assert.equal((await c.submit(fn, '1')).toString(), 'real:1');
      assert.equal((await c.submit(fn, '2')).toString(), 'real:2');
      assert.deepEqual(
        downs.map((d) => [d.server, d.error.code]),
        [[bad, 'GT_BAD_MAGIC']],
        'the garbage server is tried once, then skipped while it backs off',
      );
    });

    test('a foreground job whose connection dies after JOB_CREATED rejects GT_CONNECTION_LOST', async () => {
      const fn = fnName('lost');
      const started = deferred();
      const release = deferred();
      const w = worker();
      w.addFunction(fn, async () => {
        started.resolve();
        await release.promise;
        return 'late';
      });
      await w.start();
      const proxy = await startProxy(server);
      cleanups.push(() => proxy.cut());
      const c = client({ servers: [proxy.address] });
      const result = c.submit(fn, 'x', { unique: `lost-${seq}` });
      await within('job start', started.promise);
      // A reply on the same connection: JOB_CREATED (sent before it) has reached the client.
      assert.equal((await c.getStatusUnique(`lost-${seq}`)).running, true);
      await proxy.cut();
      await assert.rejects(result, rejectsWith('GT_CONNECTION_LOST', new RegExp(proxy.address)));
      release.resolve();
    });

    test('a timed-out foreground submit rejects GT_TIMEOUT; an aborted one with the reason', async () => {
      const fn = fnName('slow');
      const release = deferred();
      const w = worker({ concurrency: 2 });
      w.addFunction(fn, async () => {
        await release.promise;
        return 'eventually';
      });
      await w.start();
      const c = client();
      await assert.rejects(c.submit(fn, 'x', { timeoutMs: 50 }), rejectsWith('GT_TIMEOUT', new RegExp(`^Job ${fn} timed out after 50 ms$`)));
      const ac = new AbortController();
      const aborted = c.submit(fn, 'y', { signal: ac.signal });
      ac.abort(new Error('user gave up'));
      await assert.rejects(aborted, /user gave up/);
      release.resolve();
      // The connection is still good for the next job.
      const next = fnName('after');
      w.addFunction(next, () => 'fine');
      assert.equal((await c.submit(next)).toString(), 'fine');
    });

    // ---- worker ---------------------------------------------------------------------------

    test('worker concurrency 3 runs three jobs at once, never more', async () => {
      const fn = fnName('conc');
      let active = 0;
      let maxActive = 0;
      const three = deferred();
      const w = worker({ concurrency: 3 });
      w.addFunction(fn, async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        if (active === 3) three.resolve();
        // Wait for the overlap to happen (bounded, so a broken limit fails instead of hanging).
        await within('three jobs at once', three.promise, 5000).catch(() => {});
        active--;
        return 'ok';
      });
      await w.start();
      const c = client();
      const results = await within('seven jobs', Promise.all(Array.from({ length: 7 }, (_, i) => c.submit(fn, String(i)))));
      assert.equal(results.length, 7);
      assert.equal(maxActive, 3);
      assert.equal(w.running, 0);
    });

    test('graceful close finishes the running job and grabs no more', async () => {
      const fn = fnName('graceful');
      const seen: string[] = [];
      const firstStarted = deferred();
      const release = deferred();
      const w = worker({ concurrency: 1 });
      w.addFunction(fn, async (job) => {
        seen.push(job.text());
        firstStarted.resolve();
        await release.promise;
        return `w1:${job.text()}`;
      });
      await w.start();
      const c = client();
      const first = c.submit(fn, 'first');
      await within('first job', firstStarted.promise);
      const second = c.submit(fn, 'second', { unique: `second-${seq}` });
      await until('second job to be queued', async () => ((await c.getStatusUnique(`second-${seq}`)).known ? true : undefined));
      const closing = w.close();
      assert.equal(w.close(), closing, 'close() returns one stored promise');
      assert.equal(w.running, 1);
      release.resolve();
      await within('worker close', closing);
      assert.equal((await first).toString(), 'w1:first');
      assert.deepEqual(seen, ['first']);
      const w2 = worker();
      w2.addFunction(fn, (job) => `w2:${job.text()}`);
      await w2.start();
      assert.equal((await within('second job', second)).toString(), 'w2:second');
    });

    test('a worker whose connection dies mid-job: the job is requeued and another worker completes it', async () => {
      const fn = fnName('killed');
      const proxy = await startProxy(server);
      cleanups.push(() => proxy.cut());
      const started = deferred<WorkerJob>();
      const w1 = worker({ servers: [proxy.address] });
      w1.addFunction(fn, async (job) => {
        started.resolve(job);
        await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
        return 'from the dead';
      });
      await w1.start();
      const c = client();
      const result = c.submit(fn, 'payload');
      const job1 = await within('first worker to start', started.promise);
      const w2 = worker();
      w2.addFunction(fn, (job) => `w2:${job.text()}`);
      await w2.start();
      await proxy.cut();
      assert.equal((await within('requeued job', result)).toString(), 'w2:payload');
      assert.equal(job1.signal.aborted, true);
      assert.equal((job1.signal.reason as GeartrainError).code, 'GT_CONNECTION_LOST');
      assert.equal(w1.running, 0);
    });

    test('a worker reconnects and registers its functions again', async () => {
      const fn = fnName('reconnect');
      const proxy = await startProxy(server);
      cleanups.push(() => proxy.cut());
      const w = worker({ servers: [proxy.address], clientId: 'reconnecting worker', reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
      let ups = 0;
      w.on('connect', () => ups++);
      w.addFunction(fn, (job) => `again:${job.text()}`);
      await w.start();
      const c = client();
      assert.equal((await c.submit(fn, '1')).toString(), 'again:1');
      proxy.drop();
      await until('reconnect', () => (ups === 2 ? true : undefined));
      assert.equal((await within('job after reconnect', c.submit(fn, '2'))).toString(), 'again:2');
    });

    test('a worker serves every server it is given', async () => {
      const other = await startInProcess();
      cleanups.push(() => other.stop());
      const fn = fnName('multi');
      const w = worker({ servers: [server.address, other.address], concurrency: 2 });
      const servedBy: string[] = [];
      w.addFunction(fn, (job) => {
        servedBy.push(job.server);
        return job.server;
      });
      await w.start();
      const c = client({ servers: [server.address, other.address] });
      // Round-robin without a unique id: one each.
      const out = await Promise.all([c.submit(fn, 'a'), c.submit(fn, 'b')]);
      assert.deepEqual(out.map(String).sort(), [server.address, other.address].sort());
      // With a unique id: always the same server, and getStatusUnique finds it there.
      const refs = await Promise.all([1, 2, 3].map(() => c.submitBackground(`${fn}-none`, 'x', { unique: 'sticky' })));
      assert.equal(new Set(refs.map((r) => r.server)).size, 1);
      assert.equal(new Set(refs.map((r) => r.handle)).size, 1, 'coalesced');
      assert.equal((await c.getStatusUnique('sticky')).known, true);
    });

    test('CAN_DO_TIMEOUT: the worker fails a hung job itself; the server requeues a job from a stuck worker', async () => {
      // Our worker: it aborts the handler at 300 ms and answers WORK_FAIL; nothing reruns it.
      const fn = fnName('timeout');
      let runs = 0;
      let reason: unknown;
      const w = worker();
      w.addFunction(
        fn,
        async (job) => {
          runs++;
          await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
          reason = job.signal.reason;
          return 'too late';
        },
        { timeout: 300 },
      );
      await w.start();
      const c = client();
      await assert.rejects(c.submit(fn, 'x'), rejectsWith('GT_JOB_FAILED'));
      assert.equal((reason as GeartrainError).code, 'GT_TIMEOUT');
      await sleep(1600); // past the server's own timer (300 + 1000 ms grace)
      assert.equal(runs, 1, 'the server did not requeue a job the worker failed');

      // A stuck worker (a raw socket that never answers): on both servers the timer requeues
      // the job and a healthy worker completes it; the stuck worker's late result is refused.
      const fn2 = fnName('stuck');
      const result = c.submit(fn2, 'y', { unique: `stuck-${seq}` });
      await until('job queued', async () => ((await c.getStatusUnique(`stuck-${seq}`)).known ? true : undefined));
      const stuck = await rawConnect(server.port);
      cleanups.push(async () => stuck.destroy());
      stuck.sendPacket(Cmd.CAN_DO_TIMEOUT, fn2, '1000');
      stuck.sendPacket(Cmd.GRAB_JOB_UNIQ);
      const assign = await stuck.readPacket();
      assert.equal(assign.type, Cmd.JOB_ASSIGN_UNIQ);
      const w2 = worker();
      w2.addFunction(fn2, () => 'rescued');
      await w2.start();
      assert.equal((await within('requeued job', result)).toString(), 'rescued');
      stuck.sendPacket(Cmd.WORK_COMPLETE, assign.args[0]!, 'stale');
      const refused = await stuck.readPacket();
      assert.equal(refused.type, Cmd.ERROR);
      assert.equal(errorOf(refused).code, 'JOB_NOT_FOUND');
    });
  });
}
