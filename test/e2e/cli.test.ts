// The built `pipeline` command (dist/cli) run as child processes, as a user runs it. The client
// side (submit, exec, status, workers, jobs) is held to the same results on `pipeline server`
// and on gearmand 1.1.20; server lifecycle and flag errors need only geartrain.
// Run `npm run build` first: these tests exercise dist/, not src/.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../../src/client/index.js';
import { CLI, type ServerUnderTest, startTarget, targets } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';
import { adminQuery, Children, type LongChild, statusOf, waitForTotal, waitForWorkers } from '../interop/harness.js';

const NODE = process.execPath;

/** stderr split into lines, without the empty string after the last newline. */
function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}

/** pino lines parse as JSON; anything else is what the CLI printed for a person. */
function isJsonLine(line: string): boolean {
  try {
    return typeof (JSON.parse(line) as { msg?: unknown }).msg === 'string';
  } catch {
    return false;
  }
}

/**
 * A table printed by status/workers/jobs, cut at the columns where its header's names start
 * (names hold no spaces; values may, e.g. UPDATED). Each cell must start exactly in its column.
 */
function parseTable(text: string): { header: string[]; rows: string[][] } {
  const [head, ...body] = lines(text);
  assert.ok(head, 'a header line');
  const starts = [...head.matchAll(/\S+/g)].map((m) => m.index);
  const rows = body.map((row) =>
    starts.map((start, i) => {
      const raw = row.slice(start, starts[i + 1]);
      const aligned = (start === 0 || row.length <= start || row[start - 1] === ' ') && raw === raw.trimStart();
      assert.ok(aligned, `column ${i} aligned with the header:\n${head}\n${row}`);
      return raw.trimEnd();
    }),
  );
  return { header: head.split(/\s+/), rows };
}

/** A row of `pipeline jobs --json`: geartrain's job log, or for gearmand what `show jobs` holds. */
interface JobRow {
  id: string;
  handle?: string | null;
  fn: string;
  unique?: string;
  state: string;
  attempts: number;
  maxAttempts: number;
  updatedAt: number;
  result: string | null;
  payload?: string | null;
  server: string;
}

/** A file a worker command appends to, read as lines (missing: none yet). */
async function fileLines(file: string): Promise<string[]> {
  return lines(await readFile(file, 'utf8').catch(() => ''));
}

for (const target of targets()) {
  describe(`pipeline CLI as a client: ${target.name}`, { skip: target.skip }, () => {
    const children = new Children();
    let srv: ServerUnderTest;
    let dir: string;

    /** `pipeline SUBCOMMAND -s <server under test> ARGS…` to completion. */
    async function pipeline(sub: string, args: string[], input: string | Buffer = ''): Promise<{ code: number | null; out: Buffer; err: string }> {
      const r = await children.run(NODE, [CLI, sub, '-s', srv.address, ...args], { input });
      return { code: r.code, out: r.stdout, err: r.stderr };
    }

    /** `pipeline exec -s <server> ARGS…` left running. */
    function exec(args: string[]): LongChild {
      return children.start(NODE, [CLI, 'exec', '-s', srv.address, ...args]);
    }

    /** Background submit; returns the printed handle. */
    async function queue(fn: string, data: string, flags: string[] = []): Promise<string> {
      const r = await pipeline('submit', ['-b', ...flags, fn, data]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out.toString(), /^H:\S+\n$/);
      return r.out.toString().trimEnd();
    }

    async function json<T>(sub: string): Promise<T> {
      const r = await pipeline(sub, ['--json']);
      assert.equal(r.code, 0, r.err);
      return JSON.parse(r.out.toString()) as T;
    }

    /** The `pipeline jobs --json` rows of one job: by handle on gearmand, by unique id in geartrain's log. */
    async function jobRows(handle: string, unique: string): Promise<JobRow[]> {
      return (await json<JobRow[]>('jobs')).filter((r) => r.id === handle || r.handle === handle || r.unique === unique);
    }

    async function stop(w: LongChild): Promise<ChildProcess> {
      await children.kill(w.child);
      return w.child;
    }

    before(async () => {
      srv = await startTarget(target.name);
      dir = await mkdtemp(path.join(os.tmpdir(), 'geartrain-e2e-'));
    });

    after(async () => {
      await children.killAll();
      await srv?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('exec -f FN -- wc -l; submit with the payload on stdin and as DATA', async () => {
      const w = exec(['-f', 'e2eWc', '--', 'wc', '-l']);
      await waitForWorkers(srv.port, 'e2eWc');
      assert.deepEqual(await pipeline('submit', ['e2eWc'], 'a\nb\nc\n'), { code: 0, out: Buffer.from('3\n'), err: '' });
      assert.deepEqual(await pipeline('submit', ['e2eWc', 'one\ntwo\n']), { code: 0, out: Buffer.from('2\n'), err: '' });
      // An idle exec stops cleanly on SIGTERM.
      assert.equal((await stop(w)).exitCode, 0, w.stderr());
    });

    it('bytes pass through exec and submit unchanged, both ways', async () => {
      const w = exec(['-f', 'e2eCat', '--', 'cat']);
      await waitForWorkers(srv.port, 'e2eCat');
      const bytes = Buffer.from([0, 1, 2, 0x0a, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0]);
      assert.deepEqual(await pipeline('submit', ['e2eCat'], bytes), { code: 0, out: bytes, err: '' });
      assert.deepEqual(await pipeline('submit', ['e2eCat', 'ünï\tcödé']), { code: 0, out: Buffer.from('ünï\tcödé'), err: '' });
      assert.deepEqual(await pipeline('submit', ['e2eCat', '']), { code: 0, out: Buffer.alloc(0), err: '' });
      await stop(w);
    });

    it('exec -f a -f b serves both functions; GEARMAN_FUNCTION says which', async () => {
      const w = exec(['-f', 'e2eA', '-f', 'e2eB', '--', 'sh', '-c', 'printf "%s:" "$GEARMAN_FUNCTION"; cat']);
      await waitForWorkers(srv.port, 'e2eA');
      await waitForWorkers(srv.port, 'e2eB');
      assert.equal((await pipeline('submit', ['e2eA', 'x'])).out.toString(), 'e2eA:x');
      assert.equal((await pipeline('submit', ['e2eB', 'y'])).out.toString(), 'e2eB:y');
      await stop(w);
    });

    it('GEARMAN_FUNCTION, GEARMAN_HANDLE and GEARMAN_UNIQUE reach the command', async () => {
      const file = path.join(dir, 'env.log');
      const w = exec(['-f', 'e2eEnv', '--', 'sh', '-c', 'printf "%s|%s|%s\\n" "$GEARMAN_FUNCTION" "$GEARMAN_HANDLE" "$GEARMAN_UNIQUE" >> "$0"', file]);
      await waitForWorkers(srv.port, 'e2eEnv');
      const handle = await queue('e2eEnv', 'x', ['--unique', 'e2e-env-1']);
      const [line] = await until('the job to run', async () => ((await fileLines(file)).length > 0 ? fileLines(file) : undefined));
      assert.equal(line, `e2eEnv|${handle}|e2e-env-1`);
      await stop(w);
    });

    it('a command exiting non-zero: submit exits 1 with one line naming the job and GT_JOB_FAILED', async () => {
      const w = exec(['-f', 'e2eFail', '--', 'sh', '-c', 'cat >/dev/null; echo partial; echo oops >&2; exit 3']);
      await waitForWorkers(srv.port, 'e2eFail');
      const r = await pipeline('submit', ['e2eFail', 'x']);
      assert.equal(r.code, 1);
      assert.equal(r.out.length, 0);
      assert.equal(lines(r.err).length, 1, r.err);
      assert.match(r.err, /^pipeline: Job e2eFail \(H:[^)\s]+\) failed \(GT_JOB_FAILED\)\n$/);
      // The worker says why, in its log.
      assert.match(w.stderr(), /exited with 3: oops/);
      await stop(w);
    });

    it('exec -c 2 runs two jobs at once; -n 2 exits 0 after two', async () => {
      // Each job records its start, then waits (at most 5 s) until two have started. Run one at
      // a time, the file would read start, end, start, end.
      const file = path.join(dir, 'overlap.log');
      const script = 'echo start >> "$0"; i=0; while [ "$(grep -c start "$0")" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo end >> "$0"';
      await queue('e2eConc', 'a');
      await queue('e2eConc', 'b');
      const w = exec(['-c', '2', '-n', '2', '-f', 'e2eConc', '--', 'sh', '-c', script, file]);
      assert.equal(await children.exited(w.child, 15_000), 0, w.stderr());
      assert.deepEqual(await fileLines(file), ['start', 'start', 'end', 'end']);
      await waitForTotal(srv.port, 'e2eConc', 0);
    });

    it('exec -n 2 runs two of three queued jobs and leaves the third untouched', async () => {
      const file = path.join(dir, 'count.log');
      await queue('e2eCount', '1');
      await queue('e2eCount', '2');
      const third = await queue('e2eCount', '3', ['--unique', 'e2e-count-3']);
      const w = exec(['-n', '2', '-f', 'e2eCount', '--', 'sh', '-c', 'cat >> "$0"; echo >> "$0"', file]);
      assert.equal(await children.exited(w.child), 0, w.stderr());
      assert.deepEqual(await fileLines(file), ['1', '2']);
      // Still queued and never attempted. Grabbed past the count and released by the
      // disconnect, it would have used an attempt: geartrain backs it off (and after
      // --max-attempts calls it dead), gearmand --job-retries drops it.
      await waitForTotal(srv.port, 'e2eCount', 1);
      assert.deepEqual((await statusOf(srv.port)).get('e2eCount'), [1, 0, 0]);
      assert.deepEqual(
        (await jobRows(third, 'e2e-count-3')).map(({ state, attempts }) => ({ state, attempts })),
        [{ state: 'queued', attempts: 0 }],
      );
    });

    it('submit -b prints the handle; jobs --json lists the queued job', async () => {
      const handle = await queue('e2eBg', 'payload', ['--unique', 'e2e-bg-1']);
      const rows = await jobRows(handle, 'e2e-bg-1');
      assert.equal(rows.length, 1, JSON.stringify(rows));
      const { updatedAt, ...row } = rows[0]!;
      assert.equal(typeof updatedAt, 'number');
      if (target.name === 'geartrain') {
        const { fn, unique, state, attempts, maxAttempts, result, payload, server } = row;
        assert.deepEqual(
          { fn, unique, state, attempts, maxAttempts, result, payload, server },
          { fn: 'e2eBg', unique: 'e2e-bg-1', state: 'queued', attempts: 0, maxAttempts: 3, result: null, payload: 'payload', server: srv.address },
        );
      } else {
        // gearmand keeps no log: the CLI lists what `show jobs` holds, which names no function.
        assert.deepEqual(row, { id: handle, handle, fn: '?', state: 'queued', attempts: 0, maxAttempts: 0, result: null, server: srv.address });
      }
    });

    it('jobs --json: the job is listed with the handle submit -b printed', async () => {
      const handle = await queue('e2eBgId', 'x', ['--unique', 'e2e-bg-id']);
      assert.deepEqual(
        (await jobRows(handle, 'e2e-bg-id')).map((r) => r.handle),
        [handle],
      );
    });

    it('--priority high|low: queued jobs run high, normal, low, first in first out within each', async () => {
      const file = path.join(dir, 'priority.log');
      await queue('e2ePri', 'low1', ['--priority', 'low']);
      await queue('e2ePri', 'normal1');
      await queue('e2ePri', 'high1', ['--priority', 'high']);
      await queue('e2ePri', 'low2', ['--priority', 'low']);
      await queue('e2ePri', 'high2', ['--priority', 'high']);
      const status = await json<{ function: string; high: number; normal: number; low: number }[]>('status');
      assert.deepEqual(
        status.filter((s) => s.function === 'e2ePri').map(({ high, normal, low }) => ({ high, normal, low })),
        [{ high: 2, normal: 1, low: 2 }],
      );
      const w = exec(['-c', '1', '-n', '5', '-f', 'e2ePri', '--', 'sh', '-c', 'cat >> "$0"; echo >> "$0"', file]);
      assert.equal(await children.exited(w.child), 0, w.stderr());
      assert.deepEqual(await fileLines(file), ['high1', 'high2', 'normal1', 'low1', 'low2']);
    });

    it('--unique: two concurrent submits with one id share one execution', async () => {
      const file = path.join(dir, 'unique.log');
      const first = pipeline('submit', ['--unique', 'e2e-uniq-1', 'e2eUniq', 'a']);
      const second = pipeline('submit', ['--unique', 'e2e-uniq-1', 'e2eUniq', 'b']);
      // Both clients wait on the one queued job before any worker exists.
      const client = new Client({ servers: [srv.address] });
      try {
        await until('two clients waiting on e2e-uniq-1', async () => ((await client.getStatusUnique('e2e-uniq-1')).clients === 2 ? true : undefined));
      } finally {
        await client.close();
      }
      assert.deepEqual((await statusOf(srv.port)).get('e2eUniq'), [1, 0, 0]);
      const w = exec(['-f', 'e2eUniq', '--', 'sh', '-c', 'cat; cat >> "$0"; echo run >> "$0"', file]);
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a.code, 0, a.err);
      assert.equal(b.code, 0, b.err);
      // Whichever submit reached the server first gave the payload; both got its result.
      assert.ok(['a', 'b'].includes(a.out.toString()), a.out.toString());
      assert.equal(b.out.toString(), a.out.toString());
      assert.deepEqual(await fileLines(file), ['run']);
      await stop(w);
    });

    it('--at: a scheduled job does not run before its time', async () => {
      const file = path.join(dir, 'at.log');
      const w = exec(['-f', 'e2eAt', '--', 'sh', '-c', 'date +%s.%N >> "$0"', file]);
      await waitForWorkers(srv.port, 'e2eAt');
      const epoch = Math.ceil(Date.now() / 1000) + 2;
      const r = await pipeline('submit', ['--at', String(epoch), '--json', 'e2eAt', 'x']);
      assert.equal(r.code, 0, r.err);
      // --at implies --background: the handle, not a result.
      assert.match(JSON.parse(r.out.toString()).handle as string, /^H:/);
      // gearmand wakes no worker when the time comes; exec polls every 5 s.
      const [ran] = await until('the scheduled job to run', async () => ((await fileLines(file)).length > 0 ? fileLines(file) : undefined), 15_000);
      assert.ok(Number(ran) >= epoch, `ran at ${ran}, scheduled for ${epoch}`);
      await stop(w);
    });

    it('--json: {ok, data} for a result, {handle, server} for a background job', async () => {
      const w = exec(['-f', 'e2eJson', '--', 'cat']);
      await waitForWorkers(srv.port, 'e2eJson');
      const fg = await pipeline('submit', ['--json', 'e2eJson', 'héllo\n']);
      assert.equal(fg.code, 0, fg.err);
      assert.equal(fg.out.toString(), `${JSON.stringify({ ok: true, data: 'héllo\n' })}\n`);
      const bg = await pipeline('submit', ['-b', '--json', 'e2eJsonBg', 'x']);
      assert.equal(bg.code, 0, bg.err);
      const ref = JSON.parse(bg.out.toString()) as { handle: string; server: string };
      assert.deepEqual(Object.keys(ref), ['handle', 'server']);
      assert.match(ref.handle, /^H:\S+$/);
      assert.equal(ref.server, srv.address);
      await stop(w);
    });

    it('--timeout 500 with no worker: GT_TIMEOUT, exit 8', async () => {
      const r = await pipeline('submit', ['--timeout', '500', 'e2eNobody', 'x']);
      assert.deepEqual(
        { code: r.code, out: r.out.toString(), err: r.err },
        {
          code: 8,
          out: '',
          err: 'pipeline: Job e2eNobody timed out after 500 ms (GT_TIMEOUT)\n',
        },
      );
    });

    it('status, workers and jobs: tables and --json after a known workload', async () => {
      const w = exec(['--client-id', 'e2e-tables', '-f', 'e2eTabA', '-f', 'e2eTabB', '--', 'cat']);
      await waitForWorkers(srv.port, 'e2eTabA');
      await waitForWorkers(srv.port, 'e2eTabB');
      const high = await queue('e2eTabQ', 'h', ['--priority', 'high', '--unique', 'e2e-tab-h']);
      const low = await queue('e2eTabQ', 'l', ['--priority', 'low', '--unique', 'e2e-tab-l']);

      const status = await pipeline('status', []);
      assert.equal(status.code, 0, status.err);
      const st = parseTable(status.out.toString());
      assert.deepEqual(st.header, ['SERVER', 'FUNCTION', 'QUEUED', 'HIGH', 'NORMAL', 'LOW', 'RUNNING', 'WORKERS']);
      const row = (fn: string): string[][] => st.rows.filter((r) => r[1] === fn);
      assert.deepEqual(row('e2eTabQ'), [[srv.address, 'e2eTabQ', '2', '1', '0', '1', '0', '0']]);
      assert.deepEqual(row('e2eTabA'), [[srv.address, 'e2eTabA', '0', '0', '0', '0', '0', '1']]);
      assert.deepEqual(row('e2eTabB'), [[srv.address, 'e2eTabB', '0', '0', '0', '0', '0', '1']]);
      const stJson = await json<Record<string, unknown>[]>('status');
      assert.deepEqual(
        stJson.filter((s) => s.function === 'e2eTabQ'),
        [{ function: 'e2eTabQ', total: 2, running: 0, workers: 0, server: srv.address, queued: 2, high: 1, normal: 0, low: 1 }],
      );

      const workers = await pipeline('workers', []);
      assert.equal(workers.code, 0, workers.err);
      const wt = parseTable(workers.out.toString());
      assert.deepEqual(wt.header, ['SERVER', 'FD', 'HOST', 'CLIENT-ID', 'FUNCTIONS']);
      const mine = wt.rows.filter((r) => r[3] === 'e2e-tables');
      assert.equal(mine.length, 1, workers.out.toString());
      const [server, fd, host, , fns] = mine[0]!;
      assert.deepEqual([server, host], [srv.address, '127.0.0.1']);
      assert.match(fd!, /^\d+$/);
      // gearmand lists a worker's functions most recent first; the set is what matters.
      assert.deepEqual(fns!.split(',').sort(), ['e2eTabA', 'e2eTabB']);
      // Connections with no functions (clients, this very query) are not workers.
      assert.ok(
        wt.rows.every((r) => r[4] !== undefined && r[4] !== ''),
        workers.out.toString(),
      );
      const wJson = await json<{ fd: number; host: string; clientId: string; functions: string[]; server: string }[]>('workers');
      const mineJson = wJson.filter((x) => x.clientId === 'e2e-tables');
      assert.equal(mineJson.length, 1);
      assert.deepEqual(
        { ...mineJson[0]!, functions: mineJson[0]!.functions.sort() },
        {
          fd: Number(fd),
          host: '127.0.0.1',
          clientId: 'e2e-tables',
          functions: ['e2eTabA', 'e2eTabB'],
          server: srv.address,
        },
      );

      // geartrain lists its job log, under ids of its own; gearmand what `show jobs` holds.
      const queued = [...(await jobRows(high, 'e2e-tab-h')), ...(await jobRows(low, 'e2e-tab-l'))];
      assert.equal(queued.length, 2, JSON.stringify(queued));
      const jobs = await pipeline('jobs', []);
      assert.equal(jobs.code, 0, jobs.err);
      const jt = parseTable(jobs.out.toString());
      assert.deepEqual(jt.header, ['ID', 'FUNCTION', 'STATE', 'ATTEMPTS', 'UPDATED', 'RESULT/ERROR']);
      for (const j of queued) {
        const rows = jt.rows.filter((r) => r[0] === j.id);
        assert.equal(rows.length, 1, jobs.out.toString());
        const [id, fn, state, attempts, updated, result] = rows[0]!;
        assert.deepEqual(
          { id, fn, state, attempts, result },
          { id: j.id, fn: target.name === 'geartrain' ? 'e2eTabQ' : '?', state: 'queued', attempts: target.name === 'geartrain' ? '0/3' : '0/0', result: '' },
        );
        assert.match(updated!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      }
      await stop(w);
    });
  });
}

describe('pipeline CLI: bad input', () => {
  const children = new Children();
  after(() => children.killAll());

  async function pipeline(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string[] }> {
    const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const r = await children.run('env', [...assignments, NODE, CLI, ...args]);
    return { code: r.code, out: r.stdout.toString(), err: lines(r.stderr) };
  }

  const HINT = '(run with --help for usage)';

  it('submit --priority urgent: exit 2, one line naming --priority', async () => {
    assert.deepEqual(await pipeline(['submit', '--priority', 'urgent', 'f', 'x']), {
      code: 2,
      out: '',
      err: [`error: option '--priority <p>' argument 'urgent' is invalid. Expected high, normal or low for --priority but received "urgent".`, HINT],
    });
  });

  it('server --port 99999: exit 2, naming the port', async () => {
    assert.deepEqual(await pipeline(['server', '--port', '99999']), {
      code: 2,
      out: '',
      err: [`error: option '-p, --port <port>' argument '99999' is invalid. Expected an integer port between 0 and 65535 but received "99999".`, HINT],
    });
  });

  it('submit to a port nobody listens on: exit 6, GT_NO_SERVERS', async () => {
    const r = await pipeline(['submit', '-s', '127.0.0.1:1', 'f', 'x']);
    assert.equal(r.code, 6);
    assert.equal(r.out, '');
    // Besides the client's JSON warnings, exactly one line for the person at the terminal.
    assert.deepEqual(
      r.err.filter((l) => !isJsonLine(l)),
      ['pipeline: No job server reachable (tried 127.0.0.1:1) (GT_NO_SERVERS)'],
    );
  });

  it('--log-level loud: exit 2, naming --log-level, before or after the command', async () => {
    const expected = {
      code: 2,
      out: '',
      err: [
        `error: option '--log-level <level>' argument 'loud' is invalid. Expected one of fatal, error, warn, info, debug, trace, silent for --log-level but ` +
          `received "loud".`,
        HINT,
      ],
    };
    assert.deepEqual(await pipeline(['--log-level', 'loud', 'submit', 'f', 'x']), expected);
    assert.deepEqual(await pipeline(['status', '--log-level', 'loud']), expected);
  });

  it('GEARTRAIN_LOG_LEVEL=loud: exit 2, naming the variable', async () => {
    assert.deepEqual(await pipeline(['submit', '-s', '127.0.0.1:1', 'f', 'x'], { GEARTRAIN_LOG_LEVEL: 'loud' }), {
      code: 2,
      out: '',
      err: ['pipeline: Expected one of fatal, error, warn, info, debug, trace, silent for GEARTRAIN_LOG_LEVEL but received "loud". (GT_INVALID_ARGUMENT)'],
    });
  });

  it('exec without -f: exit 2', async () => {
    assert.deepEqual(await pipeline(['exec', '--', 'cat']), {
      code: 2,
      out: '',
      err: [`error: required option '-f, --function <name>' not specified`, HINT],
    });
  });
});

describe('pipeline server: lifecycle and logs', () => {
  const children = new Children();
  after(() => children.killAll());

  /** Start `pipeline server --port 0` (stderr is a pipe, not a TTY); resolve with its port. */
  async function server(): Promise<{ w: LongChild; port: number }> {
    const w = children.start(NODE, [CLI, 'server', '--port', '0', '--store', 'memory:']);
    const port = await until('pipeline server to listen', async () => {
      const listening = lines(w.stderr())
        .map((l) => JSON.parse(l) as { msg: string; port?: number })
        .find((l) => l.msg === 'listening');
      return listening?.port;
    });
    return { w, port };
  }

  /** Every stderr line is a pino JSON object with a msg; returns them. */
  function logs(w: LongChild): { level: number; name: string; msg: string; [k: string]: unknown }[] {
    return lines(w.stderr()).map((l) => {
      const entry = JSON.parse(l) as { level: number; name: string; msg: string };
      assert.equal(typeof entry.msg, 'string', l);
      assert.equal(typeof entry.level, 'number', l);
      return entry;
    });
  }

  it('SIGTERM: exits 0; logs are JSON lines', async () => {
    const { w, port } = await server();
    assert.ok(port > 0);
    w.child.kill('SIGTERM');
    assert.equal(await children.exited(w.child), 0, w.stderr());
    const entries = logs(w);
    assert.equal(entries[0]!.msg, 'listening');
    assert.ok(
      entries.every((e) => e.name === 'server' && e.pid === w.child.pid),
      w.stderr(),
    );
    assert.deepEqual(
      entries.filter((e) => e.signal !== undefined).map((e) => e.signal),
      ['SIGTERM'],
    );
    assert.equal(w.stdout(), '');
  });

  it('SIGTERM while a job runs: the job finishes, its client gets the result, then exit 0', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'geartrain-e2e-'));
    try {
      const { w, port } = await server();
      const started = path.join(dir, 'started');
      const go = path.join(dir, 'go');
      // The job says it started, then waits (at most 5 s) for the test to let it finish.
      const script = 'cat > /dev/null; touch "$0"; i=0; while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo finished';
      const worker = children.start(NODE, [CLI, 'exec', '-s', `127.0.0.1:${port}`, '-f', 'e2eDrain', '--', 'sh', '-c', script, started, go]);
      await waitForWorkers(port, 'e2eDrain');
      const submit = children.run(NODE, [CLI, 'submit', '-s', `127.0.0.1:${port}`, 'e2eDrain', 'x']);
      await until('the job to start', () => access(started).then(() => true));
      w.child.kill('SIGTERM');
      await until('the server to log the signal', async () => (logs(w).some((e) => e.signal === 'SIGTERM') ? true : undefined));
      assert.equal(w.child.exitCode, null, 'still running while its job runs');
      await writeFile(go, '');
      const r = await submit;
      assert.deepEqual({ code: r.code, out: r.stdout.toString(), err: r.stderr }, { code: 0, out: 'finished\n', err: '' });
      assert.equal(await children.exited(w.child), 0, w.stderr());
      await children.kill(worker.child);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('admin shutdown over the port: OK, then exit 0', async () => {
    const { w, port } = await server();
    assert.equal(await adminQuery(port, 'shutdown', false), 'OK\r\n');
    assert.equal(await children.exited(w.child), 0, w.stderr());
    assert.equal(logs(w)[0]!.msg, 'listening');
  });
});

describe('the installed command', () => {
  it('the built CLI is executable, as the package bins `pipeline` and `geartrain` point at it', async () => {
    const { execFile } = await import('node:child_process');
    const { stat } = await import('node:fs/promises');
    assert.notEqual((await stat(CLI)).mode & 0o111, 0, `${CLI} has no execute bit`);
    // Run as a program (shebang), not through `node`: what `npx pipeline` does.
    const version = await new Promise<string>((resolve, reject) => execFile(CLI, ['--version'], (err, out) => (err ? reject(err) : resolve(out))));
    assert.match(version.trim(), /^\d+\.\d+\.\d+$/);
  });
});
