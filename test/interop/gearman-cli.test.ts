// The `gearman` command line tool (libgearman 1.1) as client and as worker, against geartrain
// and gearmand 1.1.20: workloads from stdin and arguments, -n/-N line modes, -P prefixes,
// -b background jobs, -I/-L priorities, -u unique ids, -c job counts, -t timeouts.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ServerUnderTest, startTarget, targets } from '../helpers/servers.js';
import { adminQuery, Children, interopSkip, listRows, statusOf, waitForTotal, waitForWorkers } from './harness.js';

const skipTools = interopSkip(['gearman', 'gearadmin']);

for (const target of targets()) {
  describe(`gearman tool: ${target.name}`, { skip: skipTools || target.skip }, () => {
    const children = new Children();
    let srv: ServerUnderTest;
    let dir: string;

    const hostPort = (): string[] => ['-h', '127.0.0.1', '-p', String(srv.port)];

    /** Run the gearman tool against the server under test. */
    async function gearman(args: string[], input = ''): Promise<{ out: string; err: string; code: number | null }> {
      const r = await children.run('gearman', [...hostPort(), ...args], { input });
      return { out: r.stdout.toString('latin1'), err: r.stderr, code: r.code };
    }

    before(async () => {
      srv = await startTarget(target.name);
      dir = await mkdtemp(path.join(os.tmpdir(), 'geartrain-interop-'));
      children.start('gearman', [...hostPort(), '-w', '-f', 'gcUp', '--', 'tr', 'a-z', 'A-Z']);
      children.start('gearman', [...hostPort(), '-w', '-n', '-f', 'gcLines', '--', 'cat']);
      children.start('gearman', [...hostPort(), '-w', '-f', 'gcP1', '-f', 'gcP2', '--', 'tr', 'a-z', 'A-Z']);
      children.start('gearman', [...hostPort(), '-w', '-f', 'gcFail', '--', 'sh', '-c', 'echo partial; exit 3']);
      for (const fn of ['gcUp', 'gcLines', 'gcP1', 'gcP2', 'gcFail']) await waitForWorkers(srv.port, fn);
    });

    after(async () => {
      await children.killAll();
      await srv?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('client with the workload on stdin, worker running a command', async () => {
      assert.deepEqual(await gearman(['-f', 'gcUp'], 'hello\n'), { out: 'HELLO\n', err: '', code: 0 });
    });

    it('client with the workload in arguments, and -s for none', async () => {
      // The tool joins its arguments without a separator.
      assert.deepEqual(await gearman(['-f', 'gcUp', 'hello', 'world']), { out: 'HELLOWORLD', err: '', code: 0 });
      assert.deepEqual(await gearman(['-s', '-f', 'gcUp']), { out: '', err: '', code: 0 });
    });

    it('-n runs one job per line, -N strips the newline', async () => {
      assert.equal((await gearman(['-n', '-f', 'gcUp'], 'a\nb\nc\n')).out, 'A\nB\nC\n');
      assert.equal((await gearman(['-N', '-f', 'gcUp'], 'a\nb\nc\n')).out, 'ABC');
    });

    it('-P prefixes each result with its function name', async () => {
      assert.equal((await gearman(['-P', '-f', 'gcUp'], 'x\n')).out, 'gcUp: X\n');
      // One job per function; which one the worker finishes first is not part of the contract.
      const out = (await gearman(['-P', '-f', 'gcP1', '-f', 'gcP2'], 'x\n')).out;
      assert.deepEqual(out.split('\n').sort(), ['', 'gcP1: X', 'gcP2: X']);
    });

    it('worker -n sends a WORK_DATA packet per output line', async () => {
      // libgearman's worker resends what it buffered so far with each line; the client prints
      // every chunk. The same bytes come through both servers.
      assert.deepEqual(await gearman(['-f', 'gcLines'], 'l1\nl2\nl3\n'), { out: 'l1\nl1\nl2\nl1\nl2\nl3\n', err: '', code: 0 });
    });

    it('a worker command that fails: the client gets its output and WORK_FAIL', async () => {
      const r = await gearman(['-f', 'gcFail'], 'x\n');
      assert.equal(r.out, 'partial\n');
      assert.match(r.err, /Job failed/);
      assert.equal(r.code, 1);
    });

    it('-I and -L run foreground jobs at high and low priority', async () => {
      assert.equal((await gearman(['-I', '-f', 'gcUp'], 'hi\n')).out, 'HI\n');
      assert.equal((await gearman(['-L', '-f', 'gcUp'], 'lo\n')).out, 'LO\n');
    });

    it('-b queues background jobs; -I/-L set their priority; worker -c stops after N jobs', async () => {
      for (const [flags, data] of [
        [['-L'], 'low'],
        [[], 'normal'],
        [['-I'], 'high'],
      ] as const) {
        assert.deepEqual(await gearman(['-b', ...flags, '-f', 'gcPri'], `${data}\n`), { out: '', err: '', code: 0 });
      }
      assert.match(await adminQuery(srv.port, 'prioritystatus', true), /(^|\n)gcPri\t1\t1\t1\t0\n/);
      const log = path.join(dir, 'gcPri.log');
      const worker = children.start('gearman', [...hostPort(), '-w', '-c', '3', '-f', 'gcPri', '--', 'sh', '-c', 'cat >> "$0"', log]);
      assert.equal(await children.exited(worker.child, 10_000), 0, worker.stderr());
      assert.equal(await readFile(log, 'utf8'), 'high\nnormal\nlow\n');
      assert.deepEqual((await statusOf(srv.port)).get('gcPri'), [0, 0, 0]);
    });

    it('-u gives a unique id: a second background submit attaches to the queued job', async () => {
      await gearman(['-b', '-u', 'gc-unique-1', '-f', 'gcUniq'], 'a\n');
      await gearman(['-b', '-u', 'gc-unique-1', '-f', 'gcUniq'], 'b\n');
      await gearman(['-b', '-u', 'gc-unique-2', '-f', 'gcUniq'], 'c\n');
      assert.deepEqual((await statusOf(srv.port)).get('gcUniq'), [2, 0, 0]);
      const uniques = listRows(await adminQuery(srv.port, 'show unique jobs', true));
      assert.ok(uniques.includes('gc-unique-1') && uniques.includes('gc-unique-2'), uniques.join(','));
    });

    it('-t gives up waiting; the abandoned foreground job', async () => {
      const started = Date.now();
      const r = await gearman(['-t', '300', '-s', '-f', 'gcNobody']);
      assert.ok(Date.now() - started < 5000);
      assert.match(r.err, /GEARMAN_TIMEOUT/);
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: a foreground job whose last client left is dropped
        // at once. gearmand 1.1.20 marks it ignored but keeps counting it as queued until a
        // worker grabs and discards it.
        await waitForTotal(srv.port, 'gcNobody', 0);
      } else {
        await waitForTotal(srv.port, 'gcNobody', 1);
        assert.match(await adminQuery(srv.port, 'show jobs', true), /\t0\t1\t0\n/);
      }
    });
  });
}
