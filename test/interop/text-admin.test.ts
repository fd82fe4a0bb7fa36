// The text admin protocol typed into `nc`, byte for byte, on geartrain and on gearmand 1.1.20.
// Each expected reply below was first checked against gearmand; only what must differ (pid,
// version, connection numbers, handle host, hash order of rows) is normalised.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type ServerUnderTest, startTarget, targets } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';
import { Children, interopSkip, NcSession, normHandles, normWorkers, Req, Res, sortedListing } from './harness.js';

const skipTools = interopSkip(['nc']);

const unknownCommand = (cmd: string): string => `ERR UNKNOWN_COMMAND Unknown+server+command${cmd}\r\n`;
const invalidArgs = (cmd: string): string => `ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+${cmd}\r\n`;
const QUEUE_FULL = Buffer.concat([Buffer.from('\0RES', 'latin1'), Buffer.from([0, 0, 0, 19, 0, 0, 0, 29]), Buffer.from('QUEUE_ERROR\0Job queue is full')]);

for (const target of targets()) {
  describe(`text admin protocol over nc: ${target.name}`, { skip: skipTools || target.skip }, () => {
    const children = new Children();
    let srv: ServerUnderTest;
    let admin: NcSession;
    let client: NcSession;
    const handles: string[] = [];

    /** Submit a background job on the client session; resolves with the JOB_CREATED handle. */
    async function submit(type: number, fn: string, unique: string, data: string): Promise<string> {
      client.send(type, fn, unique, data);
      const p = await client.packet();
      assert.equal(p.type, Res.JOB_CREATED, `expected JOB_CREATED, got ${p.raw.toString('latin1')}`);
      return p.args[0]!;
    }

    before(async () => {
      srv = await startTarget(target.name);
      admin = new NcSession(children, srv.port);
      // A worker for txB1 and txB2 with a client id, and a client with three queued txA jobs
      // (one per priority) that no worker can run.
      const worker = new NcSession(children, srv.port);
      worker.send(Req.SET_CLIENT_ID, 'nc-worker');
      worker.send(Req.CAN_DO, 'txB1');
      worker.send(Req.CAN_DO, 'txB2');
      client = new NcSession(children, srv.port);
      handles.push(await submit(Req.SUBMIT_JOB_BG, 'txA', 'ua1', 'one'));
      handles.push(await submit(Req.SUBMIT_JOB_HIGH_BG, 'txA', 'ua2', 'two'));
      handles.push(await submit(Req.SUBMIT_JOB_LOW_BG, 'txA', 'ua3', 'three'));
      await until('the nc worker to register', async () => ((await admin.list('status')).includes('txB2\t') ? true : undefined));
    });

    after(async () => {
      await children.killAll();
      await srv?.stop();
    });

    it('version: "OK <version>\\n"', async () => {
      assert.match(await admin.line('version'), /^OK [^\s]+\n$/);
    });

    it('getpid: "OK <pid>\\n" of the server process', async () => {
      assert.equal(await admin.line('getpid'), `OK ${srv.pid}\n`);
    });

    it("verbose: OK and one of gearmand's verbose level names", async () => {
      assert.match(await admin.line('verbose'), /^OK (FATAL|ALERT|CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG)\n$/);
    });

    it('status: name, total, running, workers per function', async () => {
      const reply = await admin.list('status');
      assert.equal(sortedListing(reply), 'txA\t3\t0\t0\ntxB1\t0\t0\t1\ntxB2\t0\t0\t1\n.\n');
      // Commands are case-insensitive and CRLF works as well as LF.
      assert.equal(sortedListing(await admin.list('STATUS', '\r\n')), sortedListing(reply));
      assert.equal(await admin.quiet(), '', 'no bytes after the listing');
    });

    it('prioritystatus: queued high, normal, low, then workers', async () => {
      assert.equal(sortedListing(await admin.list('prioritystatus')), 'txA\t1\t1\t1\t0\ntxB1\t0\t0\t0\t1\ntxB2\t0\t0\t0\t1\n.\n');
    });

    it('workers: one row per connection, functions most recently registered first', async () => {
      const reply = await admin.list('workers');
      assert.match(reply, /^(\d+ 127\.0\.0\.1 [^ ]+ :( [^ \n]+)*\n){3}\.\n$/);
      assert.equal(normWorkers(reply), 'FD 127.0.0.1 - :\nFD 127.0.0.1 - :\nFD 127.0.0.1 nc-worker : txB2 txB1\n.\n');
    });

    it('show jobs: handle, retries, ignore_job, queued', async () => {
      assert.equal(handles.length, 3);
      assert.deepEqual(normHandles(handles.join(' ')), 'H:HOST:1 H:HOST:2 H:HOST:3');
      assert.equal(normHandles(sortedListing(await admin.list('show jobs'))), 'H:HOST:1\t0\t0\t1\nH:HOST:2\t0\t0\t1\nH:HOST:3\t0\t0\t1\n.\n');
    });

    it('show unique jobs: one unique id per line', async () => {
      assert.equal(sortedListing(await admin.list('show unique jobs')), 'ua1\nua2\nua3\n.\n');
      assert.equal(sortedListing(await admin.list('SHOW UNIQUE JOBS', '\r\n')), 'ua1\nua2\nua3\n.\n');
    });

    it('show with a missing or unknown argument', async () => {
      assert.equal(await admin.line('show'), unknownCommand('show'));
      assert.equal(await admin.line('show foo'), 'ERR UNKNOWN_SHOW_ARGUMENTS\r\n');
      assert.equal(await admin.line('show unique'), 'ERR UNKNOWN_SHOW_ARGUMENTS\r\n');
      assert.equal(await admin.line('show jobs please'), 'ERR UNKNOWN_SHOW_ARGUMENTS\r\n');
    });

    it('an unknown command', async () => {
      assert.equal(await admin.line('frobnicate now'), unknownCommand('frobnicate'));
      assert.equal(await admin.line('Frobnicate', '\r\n'), unknownCommand('Frobnicate'));
      assert.equal(await admin.line(''), unknownCommand(''));
      // Runs of spaces separate words.
      assert.equal(await admin.line('cancel   job   H:nohost:1'), 'ERR UNKNOWN_JOB\r\n');
    });

    it('cancel job: unknown handle and malformed requests', async () => {
      assert.equal(await admin.line('cancel job H:nohost:999999'), 'ERR UNKNOWN_JOB\r\n');
      assert.equal(await admin.line('cancel'), unknownCommand('cancel'));
      assert.equal(await admin.line('cancel job'), unknownCommand('cancel'));
      assert.equal(await admin.line('cancel foo bar'), 'ERR UNKNOWN_ERROR\r\n');
      assert.equal(await admin.line('cancel job a b'), 'ERR UNKNOWN_ERROR\r\n');
    });

    it('cancel job: a queued job', async () => {
      assert.equal(await admin.line(`cancel job ${handles[1]}`), 'OK\r\n');
      const status = sortedListing(await admin.list('status'));
      const jobs = normHandles(sortedListing(await admin.list('show jobs')));
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: `cancel job` really removes a queued job, so it leaves
        // the counts and the listings. gearmand 1.1.20 answers OK and keeps it queued.
        assert.equal(status, 'txA\t2\t0\t0\ntxB1\t0\t0\t1\ntxB2\t0\t0\t1\n.\n');
        assert.equal(jobs, 'H:HOST:1\t0\t0\t1\nH:HOST:3\t0\t0\t1\n.\n');
        assert.equal(sortedListing(await admin.list('prioritystatus')), 'txA\t0\t1\t1\t0\ntxB1\t0\t0\t0\t1\ntxB2\t0\t0\t0\t1\n.\n');
        assert.equal(await admin.line(`cancel job ${handles[1]}`), 'ERR UNKNOWN_JOB\r\n');
      } else {
        // gearmand only marks the job ignored (ignore_job 1, queued 0) and still counts it.
        assert.equal(status, 'txA\t3\t0\t0\ntxB1\t0\t0\t1\ntxB2\t0\t0\t1\n.\n');
        assert.equal(jobs, 'H:HOST:1\t0\t0\t1\nH:HOST:2\t0\t1\t0\nH:HOST:3\t0\t0\t1\n.\n');
      }
    });

    it('maxqueue: a submit over the limit gets ERROR QUEUE_ERROR', async () => {
      assert.equal(await admin.line('maxqueue'), invalidArgs('maxqueue'));
      // A limit only applies to a function the server already knows.
      assert.equal(await admin.line('maxqueue txNoSuchFunction 1'), 'OK\r\n');
      await submit(Req.SUBMIT_JOB_BG, 'txM', 'm1', 'x');
      assert.equal(await admin.line('maxqueue txM 2'), 'OK\r\n');
      await submit(Req.SUBMIT_JOB_BG, 'txM', 'm2', 'x');
      client.send(Req.SUBMIT_JOB_BG, 'txM', 'm3', 'x');
      assert.deepEqual((await client.packet()).raw, QUEUE_FULL);
      // A unique id already queued still attaches: no new job, so no limit.
      client.send(Req.SUBMIT_JOB_BG, 'txM', 'm2', 'x');
      assert.equal((await client.packet()).type, Res.JOB_CREATED);

      // Three values: high, normal, low limits, each against the function's total.
      assert.equal(await admin.line('maxqueue txM 5 2 5'), 'OK\r\n');
      await submit(Req.SUBMIT_JOB_HIGH_BG, 'txM', 'm4', 'x');
      client.send(Req.SUBMIT_JOB_BG, 'txM', 'm5', 'x');
      assert.deepEqual((await client.packet()).raw, QUEUE_FULL);
      client.send(Req.SUBMIT_JOB_LOW_BG, 'txM', 'm6', 'x');
      assert.equal((await client.packet()).type, Res.JOB_CREATED);

      // No value (or a negative one) is unlimited again.
      assert.equal(await admin.line('maxqueue txM'), 'OK\r\n');
      await submit(Req.SUBMIT_JOB_BG, 'txM', 'm7', 'x');
      assert.equal(await admin.line('maxqueue txM -1'), 'OK\r\n');
      await submit(Req.SUBMIT_JOB_BG, 'txM', 'm8', 'x');
      // The text protocol also works on a connection that spoke binary.
      assert.match(await client.list('status'), /^(.*\n)*txM\t6\t0\t0\n(.*\n)*\.\n$/);
    });

    it('create function and drop function: argument errors', async () => {
      assert.equal(await admin.line('create'), invalidArgs('create'));
      assert.equal(await admin.line('create function'), invalidArgs('create'));
      assert.equal(await admin.line('create functions txX'), invalidArgs('create'));
      assert.equal(await admin.line('drop'), invalidArgs('drop'));
      assert.equal(await admin.line('drop function'), invalidArgs('drop'));
      assert.equal(await admin.line('drop fn txX'), invalidArgs('drop'));
      assert.equal(await admin.line('drop function txNoSuchFunction'), 'ERR function not found\r\n');
      assert.equal(await admin.line('drop function txB1'), 'ERR there are still connected workers or executing clients\r\n');
      assert.equal(await admin.line('DROP FUNCTION TXB2'), 'ERR there are still connected workers or executing clients\r\n');
    });

    it('create function then drop function', async () => {
      // With CRLF, as gearadmin sends it, both servers create exactly the name given.
      assert.equal(await admin.line('create function txCreated', '\r\n'), 'OK\r\n');
      assert.match(await admin.list('status'), /(^|\n)txCreated\t0\t0\t0\n/);
      assert.equal(await admin.line('drop function txCreated', '\r\n'), 'OK\r\n');
      assert.doesNotMatch(await admin.list('status'), /txCreated/);

      assert.equal(await admin.line('create function txLfName'), 'OK\r\n');
      const status = await admin.list('status');
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: `create function NAME` creates exactly NAME. gearmand
        // 1.1.20 takes the name's length minus two, counting the line terminator, so with a
        // bare LF it creates the name without its last character.
        assert.match(status, /(^|\n)txLfName\t0\t0\t0\n/);
        assert.equal(await admin.line('drop function txLfName'), 'OK\r\n');
      } else {
        assert.match(status, /(^|\n)txLfNam\t0\t0\t0\n/);
        assert.doesNotMatch(status, /txLfName/);
        assert.equal(await admin.line('drop function txLfNam'), 'OK\r\n');
      }
    });

    it('drop function: a function with queued jobs and no workers', async () => {
      assert.equal(await admin.line('drop function txA'), 'OK\r\n');
      assert.doesNotMatch(await admin.list('status'), /txA/);
      const jobs = normHandles(await admin.list('show jobs'));
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: dropping a function discards its queued jobs. gearmand
        // 1.1.20 frees the function but leaves its jobs in the job table, orphaned.
        assert.doesNotMatch(jobs, /H:HOST:[123]\t/);
        assert.doesNotMatch(await admin.list('show unique jobs'), /ua[123]/);
      } else {
        assert.match(jobs, /H:HOST:1\t0\t0\t1\n/);
      }
    });

    it('binary requests on an nc connection: echo, status of an unknown job, unexpected packets', async () => {
      const raw = new NcSession(children, srv.port);
      const res = (type: number, body: string): Buffer => {
        const header = Buffer.from([0, 0x52, 0x45, 0x53, 0, 0, 0, type, 0, 0, 0, 0]);
        header.writeUInt32BE(Buffer.byteLength(body, 'latin1'), 8);
        return Buffer.concat([header, Buffer.from(body, 'latin1')]);
      };
      raw.send(16, 'hi\0there'); // ECHO_REQ
      assert.deepEqual((await raw.packet()).raw, res(17, 'hi\0there'));
      raw.send(15, 'H:nohost:1'); // GET_STATUS
      assert.deepEqual((await raw.packet()).raw, res(20, 'H:nohost:1\x000\x000\x000\x000'));
      raw.send(41, 'no-such-unique'); // GET_STATUS_UNIQUE
      assert.deepEqual((await raw.packet()).raw, res(42, 'no-such-unique\x000\x000\x000\x000\x000'));
      raw.send(26, 'bogus'); // OPTION_REQ
      assert.deepEqual((await raw.packet()).raw, res(19, 'UNKNOWN_OPTION\0Server does not recognize given option'));
      raw.send(13, 'H:nohost:1', 'result'); // WORK_COMPLETE for a job this worker does not hold
      assert.deepEqual((await raw.packet()).raw, res(19, 'JOB_NOT_FOUND\0Job given in work result not found'));
      raw.send(8, 'H:x:1'); // JOB_CREATED is a response
      assert.deepEqual((await raw.packet()).raw, res(19, 'INVALID_COMMAND\0Command not expected'));
      raw.send(9); // GRAB_JOB with no abilities
      assert.deepEqual((await raw.packet()).raw, res(10, ''));
      await children.kill(raw.child);
    });

    it('a submit with an empty function name', async () => {
      const raw = new NcSession(children, srv.port);
      raw.send(Req.SUBMIT_JOB_BG, '', 'empty-fn', 'x');
      const p = await raw.packet();
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: an empty function name is refused at the boundary.
        // gearmand 1.1.20 queues the job under the function "", which no worker can ask for.
        assert.deepEqual(p.args, ['INVALID_FUNCTION_NAME', 'Function name is empty']);
        assert.equal(p.type, Res.ERROR);
      } else {
        assert.equal(p.type, Res.JOB_CREATED);
      }
      await children.kill(raw.child);
    });

    it('workers: a client id with a space', async () => {
      const w = new NcSession(children, srv.port);
      w.send(Req.SET_CLIENT_ID, 'spaced id');
      w.send(Req.CAN_DO, 'txSpaced');
      const row = await until('the worker row', async () => (await admin.list('workers')).split('\n').find((r) => r.endsWith(': txSpaced')));
      if (target.name === 'geartrain') {
        // geartrain deliberately differs: whitespace in a client id becomes "_", so each
        // `workers` row still splits into fd, host, id, ":" and functions. gearmand prints it raw.
        assert.match(row, /^\d+ 127\.0\.0\.1 spaced_id : txSpaced$/);
      } else {
        assert.match(row, /^\d+ 127\.0\.0\.1 spaced id : txSpaced$/);
      }
      await children.kill(w.child);
    });

    it('shutdown', async () => {
      // A second server of the same kind for `shutdown graceful`: one shutdown per server.
      const other = await startTarget(target.name);
      try {
        const otherAdmin = new NcSession(children, other.port);
        assert.equal(await admin.line('shutdown now'), target.name === 'geartrain' ? invalidArgs('shutdown') : unknownCommand('shutdown'));
        const graceful = await otherAdmin.line('shutdown graceful');
        const plain = await admin.line('shutdown');
        if (target.name === 'geartrain') {
          // geartrain deliberately differs: `shutdown [graceful]` answers OK and stops the
          // server, as gearmand documents and gearadmin --shutdown expects; the Debian
          // gearmand 1.1.20 does not know the command.
          assert.equal(graceful, 'OK\r\n');
          assert.equal(plain, 'OK\r\n');
          for (const s of [srv, other]) assert.equal(await children.exited((s as ServerUnderTest & { child: ChildProcess }).child, 10_000), 0);
        } else {
          assert.equal(graceful, unknownCommand('shutdown'));
          assert.equal(plain, unknownCommand('shutdown'));
          assert.match(await admin.line('version'), /^OK /, 'gearmand still answers');
        }
      } finally {
        await other.stop();
      }
    });
  });
}
