// The job store going away under a running server, on the real PostgreSQL, MariaDB and Redis
// of the machine. The database is never stopped (it is shared): the server reaches it through
// a TCP forwarder in this process that the test cuts (every connection reset, new ones
// refused) and restores. Also: a change the store refuses is parked instead of blocking the
// journal, and `pipeline submit --json` answers in JSON when it fails.
//
// What is asserted: while the store is cut (for longer than the lease), submissions are
// answered at once with ERROR QUEUE_ERROR naming the store (never left waiting), jobs already
// queued keep running, other requests (ECHO, admin `status`) are answered; once it is back the
// server takes submissions again by itself, renews its leases, and every job it acknowledged,
// before or after, ends `done` in the store.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { adminCommand } from '../../src/client/admin.js';
import { Client, Worker } from '../../src/client/index.js';
import { GeartrainError } from '../../src/errors.js';
import { Journal } from '../../src/server/journal.js';
import { createStore } from '../../src/store/index.js';
import type { JobRecord, JobStore } from '../../src/store/types.js';
import { parseStoreUrl } from '../../src/store/url.js';
import { startProxy } from '../helpers/proxy.js';
import { CLI, freePort, startCli } from '../helpers/servers.js';
import { type DbBackend, dbBackends, serviceGate } from '../helpers/stores.js';
import { sleep, until, within } from '../helpers/wait.js';

const backends = dbBackends();
const gates = new Map(await Promise.all(backends.map(async (b) => [b, await serviceGate(b)] as const)));

/** The same store without the forwarder in between: for reading what the server wrote. */
function direct(b: DbBackend, url: string): string {
  const u = new URL(url);
  u.hostname = b.host;
  u.port = String(b.port);
  return u.href;
}

/** How the server names the store in its messages. */
const storeName = (b: DbBackend, url: string): string => parseStoreUrl(url, [b.title === 'redis' ? 'prefix' : 'table', 'timeout']).name;

/** `pipeline ARGS…` to its end: exit code and stdout. */
function pipeline(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** Rows of the jobs of `fn` by unique id (every submission here sets unique = payload). */
async function rowsByUnique(store: JobStore, fn: string): Promise<Map<string, JobRecord>> {
  return new Map((await store.list({ fn, limit: 1_000_000 })).map((r) => [r.unique, r]));
}

describe('pipeline submit --json', () => {
  it('prints {ok: false, code, message} on stdout when the submission fails, and exits with the code', async () => {
    const port = await freePort();
    const r = await pipeline(['submit', '--json', '-s', `127.0.0.1:${port}`, 'nobody', 'x']);
    assert.equal(r.code, 6, r.err);
    const answer = JSON.parse(r.out) as Record<string, unknown>;
    assert.deepEqual(Object.keys(answer), ['ok', 'code', 'message']);
    assert.equal(answer.ok, false);
    assert.equal(answer.code, 'GT_NO_SERVERS');
    assert.match(answer.message as string, new RegExp(`No job server reachable \\(tried 127\\.0\\.0\\.1:${port}\\)`));
    assert.match(r.err, /\(GT_NO_SERVERS\)\n$/, 'the line for a person stays on stderr');
  });
});

for (const b of backends) {
  const gate = gates.get(b)!;
  describe(`store outage: ${b.title}`, { skip: gate.skip }, () => {
    const closers: (() => Promise<unknown>)[] = [];
    before(() => gate.check());
    after(async () => {
      for (const c of closers.reverse()) await c().catch(() => {});
      await b.drop().catch(() => {});
    });

    it('refuses submissions at once while the store is cut, keeps serving, and recovers by itself', { timeout: 90_000 }, async (t) => {
      const proxy = await startProxy(b);
      closers.push(() => proxy.close());
      const url = b.fresh(proxy.port);
      const name = storeName(b, url);
      const srv = await startCli(['--store', url, '--server-id', `outage-${b.title}`, '--lease-ms', '2000', '--retry-delay', '50']);
      closers.push(() => srv.stop());
      let log = '';
      srv.child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      srv.child.on('exit', (code, signal) => (log += `\nserver exited: ${code ?? signal}\n`));
      t.after(() => {
        if (process.env.GEARTRAIN_TEST_SHOW_LOGS) console.log(log);
      });
      const reader = await createStore(direct(b, url));
      closers.push(() => reader.close());
      await reader.open();

      const fn = { pre: `pre_${b.title}`, load: `load_${b.title}`, probe: `probe_${b.title}`, after: `after_${b.title}` };
      const client = new Client({ servers: [srv.address] });
      closers.push(() => client.close());
      const done = new Map<string, number>();
      const worker = new Worker({ servers: [srv.address], concurrency: 4 });
      closers.push(() => worker.close({ timeoutMs: 1000 }));
      const record = (job: { text(): string }): void => void done.set(job.text(), (done.get(job.text()) ?? 0) + 1);
      worker.addFunction(fn.load, record);
      await worker.start();

      // Queued before the outage; no worker for them until the store is back.
      const pre = Array.from({ length: 30 }, (_, i) => `pre-${i}`);
      await Promise.all(pre.map((p) => client.submitBackground(fn.pre, p, { unique: p })));

      // Load: submissions all the way through the outage, 20 in flight at most.
      const acked = new Set<string>();
      const refused: GeartrainError[] = [];
      let loading = true;
      const inflight = new Set<Promise<unknown>>();
      const load = (async () => {
        for (let i = 0; loading; i++) {
          const payload = `load-${i}`;
          const p = client.submitBackground(fn.load, payload, { unique: payload }).then(
            () => acked.add(payload),
            (err: GeartrainError) => refused.push(err),
          );
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          if (inflight.size >= 20) await Promise.race(inflight);
          else await sleep(2);
        }
        await Promise.all(inflight);
      })();
      closers.push(async () => {
        loading = false;
        await load;
      });
      await until('200 load jobs acknowledged before the outage', () => acked.size >= 200);

      proxy.cut();
      const cutAt = Date.now();
      const ackedBeforeCut = acked.size;
      // Every submission from now on is refused, with the store's name, and none waits.
      let slowest = 0;
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const err = await within(
          'a submission while the store is cut',
          client.submitBackground(fn.probe, `probe-${i}`, { unique: `probe-${i}` }).then(
            () => null,
            (e: unknown) => e,
          ),
        );
        slowest = Math.max(slowest, Date.now() - started);
        assert.ok(err instanceof GeartrainError, `submission ${i} during the outage was acknowledged`);
        assert.equal(err.code, 'GT_SERVER_ERROR', err.message);
        assert.match(err.message, /^Job server answered QUEUE_ERROR: /);
        assert.ok(err.message.includes(name), `the error names the store ${name}: ${err.message}`);
      }
      // The same through the CLI, with --json.
      const cli = await within('pipeline submit during the outage', pipeline(['submit', '--json', '-b', '-s', srv.address, fn.probe, 'cli']));
      assert.equal(cli.code, 7, cli.err);
      const answer = JSON.parse(cli.out) as { ok: boolean; code: string; message: string };
      assert.equal(answer.ok, false);
      assert.equal(answer.code, 'GT_SERVER_ERROR');
      assert.match(answer.message, /QUEUE_ERROR/);
      assert.ok(answer.message.includes(name), answer.message);

      // The server itself carries on: other connections are answered, queued work runs.
      const other = new Client({ servers: [srv.address] });
      closers.push(() => other.close());
      assert.equal((await within('ECHO during the outage', other.echo('still here'))).toString(), 'still here');
      const status = await within('admin status during the outage', adminCommand('127.0.0.1', srv.port, 'status'));
      assert.match(status, new RegExp(`^${fn.pre}\\t30\\t0\\t0$`, 'm'));
      await until('the jobs acknowledged before the cut to run during the outage', () => [...acked].slice(0, ackedBeforeCut).every((p) => done.has(p)));

      // Long enough for the leases of everything the server holds to run out in the store.
      await sleep(Math.max(0, cutAt + 2500 - Date.now()));
      loading = false;
      await within('the load loop to end (no submission left waiting)', load);
      assert.ok(refused.length > 0, 'the load met the outage');
      for (const err of refused) assert.match(err.message, /QUEUE_ERROR/);

      proxy.restore();
      const restoredAt = Date.now();
      await until(
        'a submission to be acknowledged once the store is back',
        () =>
          client.submitBackground(fn.probe, 'back', { unique: 'back' }).then(
            () => true,
            () => false,
          ),
        30_000,
      );
      const recoveryMs = Date.now() - restoredAt;
      // Its leases ran out during the outage; the server holds its jobs again (no other server
      // shares this store, but one could).
      await until('the leases of the queued jobs to be renewed', async () => {
        const rows = await rowsByUnique(reader, fn.pre);
        return pre.every((p) => rows.get(p)?.owner === `outage-${b.title}` && rows.get(p)!.leaseUntil > Date.now());
      });

      const later = Array.from({ length: 50 }, (_, i) => `after-${i}`);
      await Promise.all(later.map((p) => client.submitBackground(fn.after, p, { unique: p })));
      worker.addFunction(fn.pre, record);
      worker.addFunction(fn.after, record);
      const all = [...pre, ...acked, ...later];
      await until('every acknowledged job to run', () => all.every((p) => done.has(p)));

      // And the store has caught up: each of them is done there (the updates written behind
      // during the outage included).
      await until(
        'every acknowledged job to be done in the store',
        async () => {
          for (const [f, payloads] of [
            [fn.pre, pre],
            [fn.load, [...acked]],
            [fn.after, later],
          ] as const) {
            const rows = await rowsByUnique(reader, f);
            if (!payloads.every((p) => rows.get(p)?.state === 'done')) return false;
          }
          return true;
        },
        30_000,
      );
      assert.match(log, /job store write failed; submissions refused until it is back/);
      assert.match(log, /job store is back; taking submissions again/);
      const dups = [...done.values()].filter((n) => n > 1).length;
      assert.equal(dups, 0, 'no job ran twice');
      console.log(
        `# ${b.title}: ${ackedBeforeCut} acked before the cut, ${acked.size - ackedBeforeCut} while it happened, ${refused.length} refused; ` +
          `slowest refusal ${slowest} ms; first acknowledgement ${recoveryMs} ms after the store came back`,
      );
    });

    it('a store that stops answering (connections left open) fails submissions after its timeout, not never; recovers when it answers', {
      timeout: 90_000,
    }, async () => {
      const proxy = await startProxy(b);
      closers.push(() => proxy.close());
      const base = b.fresh(proxy.port);
      // ?timeout=: the longest one query or command waits (default 10 s; shorter here).
      const url = `${base}${base.includes('?') ? '&' : '?'}timeout=1500`;
      const srv = await startCli(['--store', url, '--server-id', `frozen-${b.title}`]);
      closers.push(() => srv.stop());
      const client = new Client({ servers: [srv.address] });
      closers.push(() => client.close());
      const fn = `frozen_${b.title}`;
      await client.submitBackground(fn, 'before', { unique: 'before' });

      proxy.freeze();
      const started = Date.now();
      const err = await within(
        'a submission while the store does not answer',
        client.submitBackground(fn, 'frozen', { unique: 'frozen' }).then(
          () => null,
          (e: unknown) => e,
        ),
        30_000,
      );
      const waited = Date.now() - started;
      assert.ok(err instanceof GeartrainError, 'a submission was acknowledged while the store did not answer');
      assert.match(err.message, /^Job server answered QUEUE_ERROR: /);
      assert.ok(err.message.includes(storeName(b, url)), `the error names the store: ${err.message}`);
      // The timeout (1.5 s) and a little: never the minutes TCP would take to give up.
      assert.ok(waited < 5000, `refused after ${waited} ms`);
      // Once the store is known to be down, the next submission is refused at once.
      const again = Date.now();
      await assert.rejects(client.submitBackground(fn, 'frozen-2', { unique: 'frozen-2' }), /QUEUE_ERROR/);
      assert.ok(Date.now() - again < 1000, `second refusal took ${Date.now() - again} ms`);

      proxy.restore();
      await until(
        'a submission to be acknowledged once the store answers again',
        () =>
          client.submitBackground(fn, 'back', { unique: 'back' }).then(
            () => true,
            () => false,
          ),
        30_000,
      );
      console.log(`# ${b.title}: a frozen store refused the first submission after ${waited} ms`);
    });

    it('a change the store refuses is parked; the changes around and after it are written', async () => {
      const store = await createStore(b.fresh());
      closers.push(() => store.close());
      await store.open();
      const lines: { level: number; msg: string; job?: string }[] = [];
      const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
      // Rows are their own source here; each insert's settlement resolves its promise.
      const settlements = new Map<string, { resolve(): void; reject(err: Error): void }>();
      const journal = new Journal<JobRecord>(
        store,
        { id: (r) => r.id, row: (r) => ({ ...r }), settled: (r, err) => (err ? settlements.get(r.id)!.reject(err) : settlements.get(r.id)!.resolve()) },
        logger,
      );
      const insert = (r: JobRecord): Promise<void> =>
        new Promise((resolve, reject) => {
          settlements.set(r.id, { resolve, reject });
          journal.insert(r);
        });
      const now = Date.now();
      const job = (id: string, over: Partial<JobRecord> = {}): JobRecord => ({
        id,
        fn: 'parked',
        unique: id,
        priority: 1,
        data: Buffer.from(id),
        state: 'queued',
        attempts: 0,
        maxAttempts: 3,
        runAt: now,
        worker: null,
        createdAt: now,
        updatedAt: now,
        result: null,
        owner: 'me',
        leaseUntil: now + 60_000,
        ...over,
      });

      // Three good inserts and one the store refuses, in one batch: only that one is refused.
      const bad = job('in-bad', { priority: 7 as 0 });
      const results = await Promise.allSettled(['in-1', 'in-2', 'in-3'].map((id) => insert(job(id))).concat(insert(bad)));
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
      );
      const refusedInsert = (results[3] as PromiseRejectedResult).reason as GeartrainError;
      assert.ok(refusedInsert instanceof GeartrainError && refusedInsert.code === 'GT_INVALID_ARGUMENT', String(refusedInsert));
      assert.equal(await store.get('in-bad'), null);

      // An update it refuses between two good ones, in one batch.
      journal.update('in-1', { state: 'running', updatedAt: now + 1 });
      journal.update('in-2', { state: 'bogus' as 'done', updatedAt: now + 1 });
      journal.update('in-3', { state: 'done', data: null, updatedAt: now + 1 });
      await journal.sync();
      assert.equal((await store.get('in-1'))!.state, 'running');
      assert.equal((await store.get('in-3'))!.state, 'done');
      assert.equal((await store.get('in-2'))!.state, 'queued', 'the refused change is not applied');
      assert.equal(journal.parked.length, 1);
      assert.deepEqual(journal.parked[0]!.change, { op: 'update', id: 'in-2', set: { state: 'bogus', updatedAt: now + 1 } });
      assert.ok(journal.available, 'a refused change does not make the store count as down');
      assert.ok(
        lines.some((l) => l.level === 50 && l.job === 'in-2' && /refused a state change; parked/.test(l.msg)),
        'the parked change is logged as an error',
      );

      // Nothing waits behind it: the next submission and updates go through.
      await within('an insert after the parked change', insert(job('in-4')));
      journal.update('in-2', { state: 'done', data: null, updatedAt: now + 2 });
      await journal.close();
      assert.equal((await store.get('in-2'))!.state, 'done');
      assert.equal((await store.get('in-4'))!.state, 'queued');
    });
  });
}
