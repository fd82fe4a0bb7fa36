// Every gearadmin option against geartrain and gearmand 1.1.20, after the same workload:
// three queued jobs of gaA (no worker) and one `gearman -w` worker for gaB.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ServerUnderTest, startTarget, targets } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';
import { Children, interopSkip, listRows, normHandles, normWorkers, sortedListing, statusOf, waitForTotal, waitForWorkers } from './harness.js';

const skipTools = interopSkip(['gearman', 'gearadmin']);

for (const target of targets()) {
  describe(`gearadmin: ${target.name}`, { skip: skipTools || target.skip }, () => {
    const children = new Children();
    let srv: ServerUnderTest;

    /** Run gearadmin against the server under test. */
    async function gearadmin(...args: string[]): Promise<{ out: string; err: string; code: number | null }> {
      const r = await children.run('gearadmin', ['-h', '127.0.0.1', '-p', String(srv.port), ...args]);
      return { out: r.stdout.toString('latin1'), err: r.stderr, code: r.code };
    }

    before(async () => {
      srv = await startTarget(target.name);
      const port = String(srv.port);
      for (const unique of ['ga1', 'ga2', 'ga3']) {
        const r = await children.run('gearman', ['-h', '127.0.0.1', '-p', port, '-b', '-f', 'gaA', '-u', unique, `payload-${unique}`]);
        assert.equal(r.code, 0, r.stderr);
      }
      children.start('gearman', ['-h', '127.0.0.1', '-p', port, '-w', '-f', 'gaB', '--', 'cat']);
      await waitForWorkers(srv.port, 'gaB');
      await waitForTotal(srv.port, 'gaA', 3);
    });

    after(async () => {
      await children.killAll();
      await srv?.stop();
    });

    it('--status', async () => {
      const r = await gearadmin('--status');
      assert.equal(r.code, 0);
      assert.equal(sortedListing(r.out), 'gaA\t3\t0\t0\ngaB\t0\t0\t1\n.\n');
      assert.equal(r.err, '');
    });

    it('--priority-status', async () => {
      const r = await gearadmin('--priority-status');
      assert.equal(sortedListing(r.out), 'gaA\t0\t3\t0\t0\ngaB\t0\t0\t0\t1\n.\n');
    });

    it('--workers', async () => {
      // Connections of earlier gearadmin runs may take a moment to be reaped; the listing
      // settles at gearadmin's own connection plus the worker.
      const out = await until('two connections in the workers listing', async () => {
        const r = await gearadmin('--workers');
        return listRows(r.out).length === 2 ? r.out : undefined;
      });
      assert.match(out, /^(\d+ 127\.0\.0\.1 - :( gaB)?\n){2}\.\n$/);
      assert.equal(normWorkers(out), 'FD 127.0.0.1 - :\nFD 127.0.0.1 - : gaB\n.\n');
    });

    it('--getpid', async () => {
      assert.equal((await gearadmin('--getpid')).out, `${srv.pid}\n`);
    });

    it('--server-version', async () => {
      const r = await gearadmin('--server-version');
      assert.match(r.out, /^[^\s]+\n$/);
      if (target.name === 'gearmand') assert.match(r.out, /^1\.1\./);
    });

    it('--server-verbose', async () => {
      assert.match((await gearadmin('--server-verbose')).out, /^(FATAL|ALERT|CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG)\n$/);
    });

    it('--show-jobs', async () => {
      const r = await gearadmin('--show-jobs');
      assert.equal(normHandles(sortedListing(r.out)), 'H:HOST:1\t0\t0\t1\nH:HOST:2\t0\t0\t1\nH:HOST:3\t0\t0\t1\n.\n');
    });

    it('--show-unique-jobs', async () => {
      assert.equal(sortedListing((await gearadmin('--show-unique-jobs')).out), 'ga1\nga2\nga3\n.\n');
    });

    it('several options in one run', async () => {
      const r = await gearadmin('--status', '--getpid');
      // gearadmin sends its queued commands in its own order: getpid first here.
      const pidLine = `${srv.pid}\n`;
      assert.ok(r.out.startsWith(pidLine), r.out);
      assert.equal(sortedListing(r.out.slice(pidLine.length)), 'gaA\t3\t0\t0\ngaB\t0\t0\t1\n.\n');
    });

    // gearadmin prints an ERR reply's text to stderr as received, CRLF included, and exits 0.
    it('--cancel-job', async () => {
      const jobs = listRows((await gearadmin('--show-jobs')).out).map((row) => row.split('\t')[0]!);
      const second = jobs.find((h) => h.endsWith(':2'))!;
      const r = await gearadmin('--cancel-job', second);
      assert.deepEqual(r, { out: 'OK\n', err: '', code: 0 });
      const counts = (await statusOf(srv.port)).get('gaA');
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: the cancelled job leaves the queue and the counts;
        // gearmand 1.1.20 answers OK and keeps counting it.
        assert.deepEqual(counts, [2, 0, 0]);
        assert.equal(sortedListing((await gearadmin('--show-unique-jobs')).out), 'ga1\nga3\n.\n');
      } else {
        assert.deepEqual(counts, [3, 0, 0]);
      }
      assert.deepEqual(await gearadmin('--cancel-job', 'H:nohost:424242'), { out: '', err: 'Error: UNKNOWN_JOB\r\n', code: 0 });
    });

    it('--create-function and --drop-function', async () => {
      assert.deepEqual(await gearadmin('--create-function', 'gaNew'), { out: 'OK\n', err: '', code: 0 });
      // gearadmin ends the line with CRLF, so gearmand too creates exactly the name given.
      assert.deepEqual((await statusOf(srv.port)).get('gaNew'), [0, 0, 0]);
      assert.deepEqual(await gearadmin('--drop-function', 'gaNew'), { out: 'OK\n', err: '', code: 0 });
      assert.equal((await statusOf(srv.port)).has('gaNew'), false);
      assert.deepEqual(await gearadmin('--drop-function', 'gaNoSuchFunction'), { out: '', err: 'Error: function not found\r\n', code: 0 });
      assert.deepEqual(await gearadmin('--drop-function', 'gaB'), {
        out: '',
        err: 'Error: there are still connected workers or executing clients\r\n',
        code: 0,
      });
    });
  });
}
