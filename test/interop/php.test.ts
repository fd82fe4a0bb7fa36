// PHP's GearmanClient and GearmanWorker (pecl gearman over libgearman 1.1) against geartrain and
// gearmand 1.1.20: the do*() family, tasks with callbacks, jobStatus, worker data/status/fail,
// a 1 MiB binary payload, and the order a worker takes queued jobs in.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerUnderTest, startTarget, targets } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';
import { adminQuery, Children, interopSkip, listRows, PHP_DIR, statusOf, waitForTotal, waitForWorkers } from './harness.js';

const skipTools = interopSkip(['php'], { phpGearman: true });

const CLIENT = path.join(PHP_DIR, 'client.php');
const WORKER = path.join(PHP_DIR, 'worker.php');
const GEARMAN_SUCCESS = 0;
const GEARMAN_WORK_FAIL = 24;
const HANDLE = /^H:[^:\s]+:\d+$/;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

for (const target of targets()) {
  describe(`PHP GearmanClient and GearmanWorker: ${target.name}`, { skip: skipTools || target.skip }, () => {
    const children = new Children();
    let srv: ServerUnderTest;
    let dir: string;
    let log: string;

    /** Run client.php; resolves with its JSON answer. */
    async function php<T = Record<string, unknown>>(...args: string[]): Promise<T> {
      const r = await children.run('php', [CLIENT, String(srv.port), ...args], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, `client.php ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout.toString()) as T;
    }

    /** Start worker.php with BEHAVIOUR=FUNCTION pairs and options. */
    function worker(...args: string[]): ReturnType<Children['start']> {
      return children.start('php', [WORKER, String(srv.port), ...args]);
    }

    /** Lines of a worker log ("FUNCTION WORKLOAD"), once it has `n` of them. */
    async function logLines(file: string, n: number): Promise<string[]> {
      return until(`${n} lines in ${path.basename(file)}`, async () => {
        const lines = existsSync(file) ? (await readFile(file, 'utf8')).split('\n').filter(Boolean) : [];
        return lines.length >= n ? lines : undefined;
      });
    }

    before(async () => {
      srv = await startTarget(target.name);
      dir = await mkdtemp(path.join(os.tmpdir(), 'geartrain-php-'));
      log = path.join(dir, 'worker.log');
      worker('reverse=phpRev', 'echo=phpEcho', 'chunks=phpChunks', 'fail=phpFail', '--log', log, '--id', 'php-worker');
      for (const fn of ['phpRev', 'phpEcho', 'phpChunks', 'phpFail']) await waitForWorkers(srv.port, fn);
    });

    after(async () => {
      await children.killAll();
      await srv?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('doNormal, doHigh and doLow return the worker result', async () => {
      for (const mode of ['normal', 'high', 'low']) {
        const r = await php('do', 'phpRev', mode, `hello-${mode}`);
        assert.equal(r.returnCode, GEARMAN_SUCCESS, `${mode}: ${String(r.error)}`);
        assert.equal(r.result, [...`hello-${mode}`].reverse().join(''));
      }
    });

    it('doBackground, doHighBackground and doLowBackground return a handle; the worker runs them', async () => {
      for (const mode of ['background', 'highbg', 'lowbg']) {
        const r = await php('do', 'phpRev', mode, `bg-${mode}`);
        assert.equal(r.returnCode, GEARMAN_SUCCESS);
        assert.match(String(r.result), HANDLE);
      }
      await until('the three background jobs to run', async () => {
        const text = existsSync(log) ? await readFile(log, 'utf8') : '';
        return ['bg-background', 'bg-highbg', 'bg-lowbg'].every((p) => text.includes(`phpRev ${p}\n`)) || undefined;
      });
      await waitForTotal(srv.port, 'phpRev', 0);
    });

    it('a unique id coalesces background jobs; jobStatusByUniqueKey finds the job', async () => {
      const first = await php('do', 'phpNoWorker', 'background', 'x', 'php-unique-1');
      const second = await php('do', 'phpNoWorker', 'background', 'y', 'php-unique-1');
      assert.match(String(first.result), HANDLE);
      assert.equal(second.result, first.result);
      assert.deepEqual((await statusOf(srv.port)).get('phpNoWorker'), [1, 0, 0]);
      assert.deepEqual((await php('ustatus', 'php-unique-1')).status, [true, false, 0, 0]);
      assert.deepEqual((await php('ustatus', 'php-unique-none')).status, [false, false, 0, 0]);
      // A unique id on a foreground job reaches the worker's job too.
      const r = await php('do', 'phpRev', 'normal', 'abc', 'php-unique-2');
      assert.deepEqual([r.returnCode, r.result], [GEARMAN_SUCCESS, 'cba']);
    });

    it('ping (ECHO_REQ)', async () => {
      assert.deepEqual(await php('ping', 'hello'), { ok: true, returnCode: GEARMAN_SUCCESS });
    });

    it("GearmanWorker setId shows in the server's workers listing, functions in addFunction order", async () => {
      const rows = listRows(await adminQuery(srv.port, 'workers', true));
      assert.ok(
        rows.some((row) => / 127\.0\.0\.1 php-worker : phpRev phpEcho phpChunks phpFail$/.test(row)),
        rows.join('\n'),
      );
    });

    it('GearmanWorker sendData and sendStatus, seen through doNormal', async () => {
      // doNormal gathers WORK_DATA chunks into its result (libgearman 1.1 behaviour).
      const r = await php('do', 'phpChunks', 'normal', 'x');
      assert.deepEqual([r.returnCode, r.result], [GEARMAN_SUCCESS, 'chunk-1chunk-2done:x']);
    });

    it('GearmanWorker sendFail: doNormal returns GEARMAN_WORK_FAIL', async () => {
      const r = await php('do', 'phpFail', 'normal', 'x');
      assert.equal(r.returnCode, GEARMAN_WORK_FAIL);
      assert.equal(r.result, '');
    });

    it('addTask, addTaskHigh, addTaskBackground and runTasks with every callback', async () => {
      type Event = [string, string, ...unknown[]];
      const r = await php<{ ok: boolean; returnCode: number; events: Event[] }>(
        'tasks',
        JSON.stringify([
          { fn: 'phpChunks', payload: 'a', kind: 'normal', unique: 't-chunks' },
          { fn: 'phpFail', payload: 'b', kind: 'normal', unique: 't-fail' },
          { fn: 'phpRev', payload: 'abc', kind: 'background', unique: 't-bg' },
          { fn: 'phpRev', payload: 'xyz', kind: 'high', unique: 't-high' },
        ]),
      );
      assert.equal(r.ok, true);
      assert.equal(r.returnCode, GEARMAN_SUCCESS);
      // Tasks interleave as the worker takes them; each task's own events are in order.
      const of = (unique: string): unknown[][] => r.events.filter((e) => e[1] === unique).map(([kind, , ...rest]) => [kind, ...rest]);
      assert.deepEqual(of('t-chunks'), [['created'], ['data', 'chunk-1'], ['status', 1, 2], ['data', 'chunk-2'], ['status', 2, 2], ['complete', 'done:a']]);
      assert.deepEqual(of('t-fail'), [['created'], ['data', 'partial'], ['status', 1, 3], ['fail']]);
      assert.deepEqual(of('t-bg'), [['created']]);
      assert.deepEqual(of('t-high'), [['created'], ['complete', 'zyx']]);
      await until('the background task to run', async () => (await readFile(log, 'utf8')).includes('phpRev abc\n') || undefined);
    });

    it('jobStatus of a background job while the worker reports progress', async () => {
      worker('progress=phpProg');
      await waitForWorkers(srv.port, 'phpProg');
      const marker = path.join(dir, 'progress.done');
      const created = await php('do', 'phpProg', 'background', marker);
      const handle = String(created.result);
      assert.match(handle, HANDLE);
      // The worker sends 1/4, then waits for the marker file.
      const running = await until('status 1/4', async () => {
        const s = await php<{ status: unknown[] }>('status', handle);
        return s.status[2] === 1 ? s.status : undefined;
      });
      assert.deepEqual(running, [true, true, 1, 4]);
      await writeFile(marker, '');
      const done = await until('the job to finish', async () => {
        const s = await php<{ status: unknown[] }>('status', handle);
        return s.status[0] === false ? s.status : undefined;
      });
      assert.deepEqual(done, [false, false, 0, 0]);
      assert.deepEqual((await php('status', 'H:nohost:424242')).status, [false, false, 0, 0]);
    });

    it('a 1 MiB binary payload with NUL bytes round-trips byte-exact', async () => {
      const payload = randomBytes(1024 * 1024);
      for (let i = 0; i < payload.length; i += 997) payload[i] = 0; // NULs throughout
      for (let i = 0; i < 256; i++) payload[i] = i; // and every byte value
      const input = path.join(dir, 'big.in');
      const output = path.join(dir, 'big.out');
      await writeFile(input, payload);
      const r = await php('file', 'phpEcho', input, output);
      assert.deepEqual(r, { returnCode: GEARMAN_SUCCESS, bytes: payload.length });
      assert.equal(sha256(await readFile(output)), sha256(payload));
    });

    it('queued jobs of one function run high, then normal, then low', async () => {
      for (const [mode, data] of [
        ['lowbg', 'low'],
        ['background', 'normal'],
        ['highbg', 'high'],
      ])
        await php('do', 'phpOrder', mode!, data!);
      assert.deepEqual((await statusOf(srv.port)).get('phpOrder'), [3, 0, 0]);
      const order = path.join(dir, 'order.log');
      const w = worker('echo=phpOrder', '--count', '3', '--log', order);
      assert.equal(await children.exited(w.child), 0, w.stderr());
      assert.deepEqual(await logLines(order, 3), ['phpOrder high', 'phpOrder normal', 'phpOrder low']);
    });

    it('a worker takes its functions in the order it added them', async () => {
      // libgearman sends CAN_DO in reverse addFunction() order; gearmand tries the most
      // recently registered function first, so the first one added wins.
      for (const [fn, data] of [
        ['phpSecond', 's1'],
        ['phpFirst', 'f1'],
        ['phpSecond', 's2'],
        ['phpFirst', 'f2'],
      ]) {
        await php('do', fn!, 'background', data!);
      }
      const order = path.join(dir, 'functions.log');
      const w = worker('echo=phpFirst', 'echo=phpSecond', '--count', '4', '--log', order);
      assert.equal(await children.exited(w.child), 0, w.stderr());
      assert.deepEqual(await logLines(order, 4), ['phpFirst f1', 'phpFirst f2', 'phpSecond s1', 'phpSecond s2']);
    });

    it('a worker with a high job in one function and a normal job in another', async () => {
      await php('do', 'phpPrefA', 'background', 'a-normal');
      await php('do', 'phpPrefB', 'highbg', 'b-high');
      const order = path.join(dir, 'priority-across.log');
      const w = worker('echo=phpPrefA', 'echo=phpPrefB', '--count', '2', '--log', order);
      assert.equal(await children.exited(w.child), 0, w.stderr());
      const lines = await logLines(order, 2);
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: a worker gets the highest-priority job among all its
        // functions. gearmand 1.1.20 picks the function first (the first one added that has
        // work) and only then looks at priority, so a high job waits behind normal ones.
        assert.deepEqual(lines, ['phpPrefB b-high', 'phpPrefA a-normal']);
      } else {
        assert.deepEqual(lines, ['phpPrefA a-normal', 'phpPrefB b-high']);
      }
    });
  });
}
