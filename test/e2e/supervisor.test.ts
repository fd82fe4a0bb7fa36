// `pipeline up` as an operator runs it: the built CLI (dist/cli) as a child process in a temp
// working directory per test, with a config file, a job server on a free port and cache-warm
// and email workers (they need no media) warming URLs of an origin in this process. Covers a
// SIGKILLed worker's job completing elsewhere, scale (checked with gearadmin --workers and
// pipeline ps), reload under load with no failed or lost job, giving up on a type that crashes
// at start, SIGTERM draining, and config errors naming the key.
// Run `npm run build` first: these tests exercise dist/, not src/.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { Client } from '../../src/client/index.js';
import { parseConfig } from '../../src/supervisor/config.js';
import { controlRequest } from '../../src/supervisor/control.js';
import type { PsResult, ReloadResult, ScaleResult } from '../../src/supervisor/supervisor.js';
import { CLI, missingTools, ROOT } from '../helpers/servers.js';
import { sleep, until } from '../helpers/wait.js';
import { Children } from '../interop/harness.js';

const NODE = process.execPath;
const children = new Children();

/** An HTTP origin for cache-warm jobs: `/fast` answers at once; `/slow` requests are held when asked. */
class Origin {
  private server!: http.Server;
  base = '';
  /** How many of the next /slow requests to hold instead of answering. */
  holdNext = 0;
  slowArrivals = 0;
  private held: http.ServerResponse[] = [];

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      if (req.url === '/slow') {
        this.slowArrivals++;
        if (this.holdNext > 0) {
          this.holdNext--;
          this.held.push(res);
          return;
        }
      }
      res.end('ok');
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  release(): void {
    for (const res of this.held.splice(0)) res.end('ok');
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `pipeline ARGS…` in `cwd` to completion. */
function pipeline(cwd: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  const child = children.track(spawn(NODE, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pipeline ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Up {
  dir: string;
  child: ChildProcess;
  /** What `pipeline up` wrote to stderr so far. */
  log(): string;
  /** Parsed JSON log lines. */
  lines(): Record<string, unknown>[];
  port: number;
  address: string;
  /** ps over the control socket, in-process (fast polling); assertions also use the CLI. */
  ps(): Promise<PsResult>;
}

const dirs: string[] = [];
const ups: ChildProcess[] = [];

/** Start `pipeline up` in a fresh folder with `config` written as `file`, and wait until every process runs. */
async function up(config: object, opts: { file?: string; passConfig?: boolean; wait?: boolean; logLevel?: string } = {}): Promise<Up> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-up-'));
  dirs.push(dir);
  const file = opts.file ?? 'geartrain.config.yaml';
  await writeFile(path.join(dir, file), file.endsWith('.json') ? JSON.stringify(config, null, 2) : toYaml(config));
  const args = [CLI, ...(opts.logLevel ? ['--log-level', opts.logLevel] : []), 'up', ...(opts.passConfig === false ? [] : ['-c', file])];
  const child = children.track(spawn(NODE, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] }));
  ups.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const socket = path.join(dir, '.geartrain/supervisor.sock');
  const ps = async (): Promise<PsResult> => (await controlRequest(socket, { cmd: 'ps' }, 5000)) as PsResult;
  const first = await until(`pipeline up to answer on ${socket}; stderr: ${err}`, async () => (child.exitCode === null ? ps() : undefined), 20_000);
  const wanted = Object.values((config as { workers?: Record<string, { processes?: number }> }).workers ?? {}).reduce((n, w) => n + (w.processes ?? 1), 0);
  if (opts.wait !== false) {
    await until(
      `${wanted} worker processes running; stderr: ${err}`,
      async () => ((await ps()).processes.filter((p) => p.state === 'running').length === wanted ? true : undefined),
      20_000,
    );
  }
  const address = first.servers[0]!;
  return {
    dir,
    child,
    log: () => err,
    lines: () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    port: Number(address.split(':')[1]),
    address,
    ps,
  };
}

/** Whether a process runs: a zombie (killed, not yet reaped by its new parent) does not. */
function alive(pid: number): boolean {
  try {
    // /proc/PID/stat: "pid (comm) S …"; comm may hold spaces, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return children.exited(child, timeoutMs);
}

function warmPayload(url: string): string {
  return JSON.stringify({ urls: [url], timeoutMs: 60_000, retries: 0 });
}

/**
 * Submit a cache-warm job whose request the origin holds; resolves once it is held, with the
 * job's result (wrapped: an async function returning the promise would wait for it).
 */
async function submitHeld(origin: Origin, client: Client): Promise<{ result: Promise<Buffer> }> {
  origin.holdNext = 1;
  const arrivals = origin.slowArrivals;
  const result = client.submit('cache-warm', warmPayload(`${origin.base}/slow`));
  await until('the job to reach the origin', async () => (origin.slowArrivals > arrivals ? true : undefined));
  return { result };
}

/** The worker rows of `gearadmin --workers` serving `fn`. */
async function gearadminWorkers(port: number, fn: string): Promise<string[]> {
  const r = await pipelineLike('gearadmin', ['-h', '127.0.0.1', '-p', String(port), '--workers']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.endsWith(` : ${fn}`));
}

async function pipelineLike(cmd: string, args: string[]): Promise<Run> {
  const r = await children.run(cmd, args);
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr };
}

describe('pipeline up: supervised worker processes', () => {
  const origin = new Origin();
  const base = { server: { host: '127.0.0.1', port: 0, store: 'memory:' } };

  before(async () => {
    await access(CLI).catch(() => {
      throw new Error(`${CLI} is missing: run npm run build first`);
    });
    await origin.start();
  });

  afterEach(async () => {
    for (const child of ups.splice(0)) await children.kill(child);
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    origin.holdNext = 0;
    origin.release();
  });

  after(async () => {
    await children.killAll();
    await origin.stop();
  });

  it('config errors name the key and exit 2; ps without a running up exits 6', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-up-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'bad.yaml'), 'workers:\n  thumbnail: { processes: -1 }\n');
    let r = await pipeline(dir, ['up', '-c', 'bad.yaml']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.yaml: Expected positive integer for workers\.thumbnail\.processes but received -1 of type number/);

    await writeFile(path.join(dir, 'bad.json'), JSON.stringify({ workers: { email: { procs: 2 } } }));
    r = await pipeline(dir, ['up', '-c', 'bad.json']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /Expected one of the fields processes, concurrency, env, exec, functions, timeoutMs for workers\.email\.procs but received 2 of type number/,
    );

    await writeFile(path.join(dir, 'typo.yaml'), 'workers:\n  thumbnial: { processes: 1 }\n');
    r = await pipeline(dir, ['up', '-c', 'typo.yaml']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /for workers\.thumbnial but received/);

    await writeFile(path.join(dir, 'restart.yaml'), 'restart: { initialDelayMs: 1000, maxDelayMs: 10 }\n');
    r = await pipeline(dir, ['up', '-c', 'restart.yaml']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /for restart\.maxDelayMs but received 10 of type number/);

    r = await pipeline(dir, ['up', '-c', 'missing.yaml']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Could not read config file missing\.yaml/);

    r = await pipeline(dir, ['ps']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /Could not connect to the supervisor at \.geartrain\/supervisor\.sock: ENOENT \(is pipeline up running in this folder\?\)/);
  });

  it('a worker SIGKILLed while it runs a job is restarted, and the job completes', async () => {
    const u = await up({ ...base, workers: { 'cache-warm': { processes: 1, concurrency: 1 } } });
    const before = (await u.ps()).processes[0]!;
    assert.equal(before.name, 'worker:cache-warm#1');
    const client = new Client({ servers: [u.address] });
    try {
      const arrivals = origin.slowArrivals;
      const { result } = await submitHeld(origin, client);
      process.kill(before.pid!, 'SIGKILL');
      // The server requeues the job when the worker's connection drops; the restarted process runs it.
      const out = JSON.parse((await result).toString()) as { results: { status: number }[] };
      assert.equal(out.results[0]!.status, 200);
      assert.equal(origin.slowArrivals, arrivals + 2, 'the job ran twice: once in the killed process, once in its replacement');
    } finally {
      await client.close();
    }
    // The "job done" line is written just before the result is sent: ps may read it a moment later.
    await until('ps to count the job', async () => ((await u.ps()).processes[0]?.jobsDone === 1 ? true : undefined));
    const r = await pipeline(u.dir, ['ps', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [after] = (JSON.parse(r.stdout) as PsResult).processes;
    assert.equal(after!.name, 'worker:cache-warm#1');
    assert.notEqual(after!.pid, before.pid);
    assert.equal(after!.restarts, 1);
    assert.equal(after!.state, 'running');
    assert.equal(after!.jobsDone, 1);
    const lines = u.lines();
    assert.ok(
      lines.some((l) => l.msg === 'worker process exited unexpectedly' && l.process === 'worker:cache-warm#1' && l.signal === 'SIGKILL'),
      `the crash is logged:\n${u.log()}`,
    );
    // Each process's own lines carry its name.
    assert.ok(
      lines.some((l) => l.name === 'worker:cache-warm#1' && l.msg === 'job done' && l.pid === after!.pid),
      u.log(),
    );
    assert.ok(
      lines.some((l) => l.name === 'server' && l.msg === 'listening'),
      u.log(),
    );
  });

  it('at --log-level warn, readiness and job counts still reach the supervisor: scale is ready within seconds, a crash after start restarts', async () => {
    const u = await up(
      {
        ...base,
        workers: { 'cache-warm': { processes: 1 } },
        restart: { initialDelayMs: 50, maxDelayMs: 200, maxCrashes: 5, windowMs: 60_000, startupMs: 300 },
      },
      { logLevel: 'warn' },
    );
    assert.ok(!u.lines().some((l) => l.msg === 'worker ready'), 'no info lines are written at warn');
    const client = new Client({ servers: [u.address] });
    try {
      await client.submit('cache-warm', warmPayload(`${origin.base}/fast`));
    } finally {
      await client.close();
    }
    await until('ps to count the job', async () => ((await u.ps()).processes[0]?.jobsDone === 1 ? true : undefined));

    const t0 = Date.now();
    const r = await pipeline(u.dir, ['scale', 'cache-warm=2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    // Not ready means scale waits out reload.readyTimeoutMs (30 s): a few seconds is a ready worker.
    assert.ok(Date.now() - t0 < 15_000, `scale took ${Date.now() - t0} ms`);
    assert.deepEqual(
      (JSON.parse(r.stdout) as ScaleResult).ps.processes.map((p) => [p.name, p.state]),
      [
        ['worker:cache-warm#1', 'running'],
        ['worker:cache-warm#2', 'running'],
      ],
    );

    // Up longer than restart.startupMs: a SIGKILL is a crash of a running process, not at start.
    await sleep(400);
    const victim = (await u.ps()).processes[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    const ps = await until('worker:cache-warm#1 to be restarted and running', async () => {
      const s = await u.ps();
      const p = s.processes[0]!;
      return p.pid !== victim.pid && p.state === 'running' ? s : undefined;
    });
    assert.equal(ps.processes[0]!.restarts, 1);
    assert.equal(ps.types[0]!.crashesAtStart, 0, 'a crash after start does not count toward giving up');
    assert.equal(ps.types[0]!.running, 2);

    // reload waits for each replacement to be ready (then registered) before stopping the old one.
    const t1 = Date.now();
    const rl = await pipeline(u.dir, ['reload', '--json']);
    assert.equal(rl.code, 0, rl.stderr);
    assert.ok(Date.now() - t1 < 30_000, `reload took ${Date.now() - t1} ms`);
    assert.deepEqual(
      (JSON.parse(rl.stdout) as ReloadResult).replaced.map((x) => x.name),
      ['worker:cache-warm#1', 'worker:cache-warm#2'],
    );
  });

  it('scale and reload exit 1, naming the process, when a new process does not become ready', async () => {
    const config = {
      ...base,
      workers: { 'cache-warm': { processes: 1 } },
      settings: { email: { outbox: 'outbox' } },
      restart: { initialDelayMs: 50, maxDelayMs: 200, maxCrashes: 50, windowMs: 60_000 },
    };
    const u = await up(config);
    // node refuses to start with an unknown flag in NODE_OPTIONS: the email processes never become ready.
    await writeFile(
      path.join(u.dir, 'geartrain.config.yaml'),
      toYaml({ ...config, workers: { ...config.workers, email: { processes: 1, env: { NODE_OPTIONS: '--no-such-flag' } } } }),
    );
    let r = await pipeline(u.dir, ['reload']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // Named as the new process, or as the replacement reload started in its slot once it had crashed.
    assert.match(r.stderr, /worker:email#1(: its replacement)? exited \(code 9\)/);
    r = await pipeline(u.dir, ['scale', 'email=2']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /worker:email#2 exited \(code 9\) before it was ready/);
    r = await pipeline(u.dir, ['scale', 'cache-warm=2']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('pipeline scale changes the number of processes: gearadmin --workers and pipeline ps agree', async (t) => {
    const skip = missingTools('gearadmin');
    if (skip) return t.skip(skip);
    const u = await up({ ...base, workers: { 'cache-warm': { processes: 1 }, email: { processes: 1 } }, settings: { email: { outbox: 'outbox' } } });
    assert.equal((await gearadminWorkers(u.port, 'cache-warm')).length, 1);
    assert.equal((await gearadminWorkers(u.port, 'email')).length, 1);

    let r = await pipeline(u.dir, ['scale', 'cache-warm=3', 'email=0', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as ScaleResult).scaled, [
      { type: 'cache-warm', from: 1, to: 3 },
      { type: 'email', from: 1, to: 0 },
    ]);
    // scale waits for the new processes to be ready and the removed one to exit; the server
    // sees a registration as soon as the worker's packets arrive, which may be a moment later.
    await until('gearadmin to list 3 cache-warm workers and no email worker', async () =>
      (await gearadminWorkers(u.port, 'cache-warm')).length === 3 && (await gearadminWorkers(u.port, 'email')).length === 0 ? true : undefined,
    );
    r = await pipeline(u.dir, ['ps']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^TYPE\s+NAME\s+PID\s+STATE\s+UPTIME\s+RESTARTS\s+JOBS\s+FAILED$/);
    assert.deepEqual(
      rows.slice(1).map((l) => l.split(/\s+/).slice(0, 2).concat(l.split(/\s+/)[3]!)),
      [
        ['cache-warm', 'worker:cache-warm#1', 'running'],
        ['cache-warm', 'worker:cache-warm#2', 'running'],
        ['cache-warm', 'worker:cache-warm#3', 'running'],
      ],
    );

    r = await pipeline(u.dir, ['scale', 'cache-warm=1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TYPE\s+FROM\s+TO\ncache-warm\s+3\s+1\n$/);
    await until('gearadmin to list 1 cache-warm worker', async () => ((await gearadminWorkers(u.port, 'cache-warm')).length === 1 ? true : undefined));
    const ps = await u.ps();
    assert.deepEqual(
      ps.processes.map((p) => p.name),
      ['worker:cache-warm#1'],
      'the highest-numbered processes stop first',
    );

    r = await pipeline(u.dir, ['scale', 'thumbnial=2']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /for worker type but received thumbnial of type string/);
    r = await pipeline(u.dir, ['scale', 'email']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Expected TYPE=N \(e\.g\. thumbnail=4\) for scale argument but received email/);
  });

  it('pipeline reload under a steady load replaces every process, re-reads the config, and fails or loses no job', async () => {
    const config = { ...base, workers: { 'cache-warm': { processes: 2, concurrency: 2 } } };
    const u = await up(config);
    const oldPids = (await u.ps()).processes.map((p) => p.pid);
    // The file now asks for 3 processes of concurrency 1: reload applies both.
    await writeFile(path.join(u.dir, 'geartrain.config.yaml'), toYaml({ ...base, workers: { 'cache-warm': { processes: 3, concurrency: 1 } } }));

    const client = new Client({ servers: [u.address] });
    let submitted = 0;
    let completed = 0;
    const failures: string[] = [];
    let loading = true;
    const loop = async (): Promise<void> => {
      while (loading) {
        submitted++;
        try {
          const out = JSON.parse((await client.submit('cache-warm', warmPayload(`${origin.base}/fast`))).toString()) as { results: { status: number }[] };
          if (out.results[0]?.status === 200) completed++;
          else failures.push(JSON.stringify(out));
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    try {
      await until('jobs to flow before the reload', async () => (completed >= 20 ? true : undefined));
      const beforeReload = completed;
      const r = await pipeline(u.dir, ['reload', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const res = JSON.parse(r.stdout) as ReloadResult;
      const duringReload = completed - beforeReload;
      // A few more jobs after the reload, on the new processes only.
      const afterReload = completed;
      await until('jobs to flow after the reload', async () => (completed >= afterReload + 20 ? true : undefined));
      loading = false;
      await Promise.all(loops);

      assert.deepEqual(failures, [], 'no job failed');
      assert.equal(completed, submitted, 'every job submitted completed');
      assert.ok(duringReload > 0, 'jobs ran while the reload went on');
      assert.deepEqual(res.failed, []);
      assert.deepEqual(
        res.replaced.map((x) => [x.name, oldPids.includes(x.oldPid)]),
        [
          ['worker:cache-warm#1', true],
          ['worker:cache-warm#2', true],
        ],
        'the two old processes were replaced one at a time (the third slot started new)',
      );
      const ps = res.ps;
      assert.deepEqual(
        ps.types.map((t) => [t.type, t.processes, t.concurrency]),
        [['cache-warm', 3, 1]],
      );
      assert.equal(ps.processes.length, 3, JSON.stringify(ps.processes));
      for (const p of ps.processes) {
        assert.equal(p.state, 'running');
        assert.ok(!oldPids.includes(p.pid), `${p.name} is a new process`);
      }
      // Order in the log: each replacement was ready before its old process was told to stop.
      const lines = u.lines();
      for (const x of res.replaced) {
        const ready = lines.findIndex((l) => l.msg === 'worker ready' && l.pid === x.newPid);
        const stopping = lines.findIndex((l) => l.msg === 'stopping worker process' && l.workerPid === x.oldPid);
        assert.ok(ready >= 0 && stopping > ready, `${x.name}: new pid ${x.newPid} ready before old pid ${x.oldPid} stopped`);
      }
    } finally {
      loading = false;
      await Promise.allSettled(loops);
      await client.close();
    }
  });

  it('a type that crashes at start is given up on and reported; reload after the fix starts it again', async () => {
    const broken = {
      ...base,
      workers: {
        'cache-warm': { processes: 1 },
        // A typo in its environment: node refuses to start at all.
        email: { processes: 2, env: { NODE_OPTIONS: '--no-such-flag' } },
      },
      settings: { email: { outbox: 'outbox' } },
      restart: { initialDelayMs: 50, maxDelayMs: 200, maxCrashes: 3, windowMs: 60_000 },
    };
    const u = await up(broken, { wait: false });
    const ps = await until('email to be given up', async () => {
      const s = await u.ps();
      return s.types.find((t) => t.type === 'email')?.state === 'gave-up' ? s : undefined;
    });
    assert.deepEqual(
      ps.processes.filter((p) => p.type === 'email').map((p) => [p.name, p.state, p.pid]),
      [
        ['worker:email#1', 'gave-up', null],
        ['worker:email#2', 'gave-up', null],
      ],
    );
    assert.ok(ps.types.find((t) => t.type === 'email')!.crashesAtStart > 3);
    await until('cache-warm to keep running', async () =>
      (await u.ps()).processes.find((p) => p.type === 'cache-warm')?.state === 'running' ? true : undefined,
    );

    let r = await pipeline(u.dir, ['ps']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^email\s+worker:email#1\s+-\s+gave-up\s/m);
    assert.match(r.stderr, /gave up on email: its processes kept crashing at start/);
    const lines = u.lines();
    assert.ok(
      lines.some((l) => l.name === 'supervisor' && l.level === 50 && /^giving up on worker type email/.test(String(l.msg))),
      u.log(),
    );
    // Why it crashed, under the process's name: node's own message is relayed as a JSON line.
    assert.ok(
      lines.some((l) => String(l.name).startsWith('worker:email#') && /--no-such-flag/.test(String(l.msg))),
      u.log(),
    );
    const crashes = lines.filter((l) => l.msg === 'worker process exited unexpectedly' && l.type === 'email').length;
    await sleep(300);
    assert.equal(u.lines().filter((l) => l.msg === 'worker process exited unexpectedly' && l.type === 'email').length, crashes, 'no restarts after giving up');

    // A config that does not load is refused, naming the key; nothing changes.
    await writeFile(path.join(u.dir, 'geartrain.config.yaml'), toYaml({ ...broken, workers: { ...broken.workers, email: { processes: 0 } } }));
    r = await pipeline(u.dir, ['reload']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /geartrain\.config\.yaml: Expected positive integer for workers\.email\.processes but received 0 of type number/);
    assert.equal((await u.ps()).types.find((t) => t.type === 'email')?.state, 'gave-up');

    // Fixed config + reload: the type runs again.
    await writeFile(path.join(u.dir, 'geartrain.config.yaml'), toYaml({ ...broken, workers: { ...broken.workers, email: { processes: 2 } } }));
    r = await pipeline(u.dir, ['reload']);
    assert.equal(r.code, 0, r.stderr);
    const fixed = await u.ps();
    assert.deepEqual(
      fixed.types.find((t) => t.type === 'email'),
      { type: 'email', processes: 2, running: 2, concurrency: 1, state: 'ok', crashesAtStart: 0 },
    );
  });

  it('exec types: any command as a supervised worker; reload finds it by its client id', async () => {
    const u = await up({ ...base, workers: { 'word-count': { processes: 1, exec: ['wc', '-w'], functions: ['wc-w', 'word-count'] } } });
    const client = new Client({ servers: [u.address] });
    try {
      assert.equal((await client.submit('wc-w', 'a b c')).toString().trim(), '3');
      const r = await pipeline(u.dir, ['reload', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const res = JSON.parse(r.stdout) as ReloadResult;
      assert.deepEqual([res.replaced.length, res.failed], [1, []]);
      assert.equal((await client.submit('word-count', 'one two')).toString().trim(), '2');
      await until('ps to count the job', async () => ((await u.ps()).processes[0]?.jobsDone === 1 ? true : undefined));
      assert.deepEqual((await u.ps()).types[0]?.exec, ['wc', '-w']);
    } finally {
      await client.close();
    }
  });

  it('a SIGKILLed worker takes its children with it: the process group is killed, on a crash and on a stop', async () => {
    // Each job runs `sleep` (exec replaces the shell, so the pid written is sleep's) in the
    // worker's folder; the job outlives the worker unless the supervisor kills its group.
    const u = await up({
      ...base,
      workers: { sleeper: { processes: 1, exec: ['sh', '-c', 'echo $$ > "sleep-$(date +%s%N).pid"; exec sleep 120'], functions: ['group-kill-sleep'] } },
      stop: { graceMs: 500 },
    });
    const sleeps = async (): Promise<number[]> => {
      const files = (await readdir(u.dir)).filter((f) => /^sleep-\d+\.pid$/.test(f)).sort();
      return Promise.all(files.map(async (f) => Number((await readFile(path.join(u.dir, f), 'utf8')).trim())));
    };
    const client = new Client({ servers: [u.address] });
    try {
      await client.submitBackground('group-kill-sleep', '');
      const [first] = await until('the job to start sleep', async () => ((await sleeps()).length === 1 ? sleeps() : undefined));
      assert.ok(alive(first!), `sleep ${first} runs`);
      const worker = (await u.ps()).processes[0]!;
      process.kill(worker.pid!, 'SIGKILL');
      await until(`sleep ${first} to be killed with its worker ${worker.pid}`, async () => (alive(first!) ? undefined : true));

      // The server hands the job to the restarted worker, which starts sleep again; scaling it
      // away stops the worker (SIGTERM, then SIGKILL to the group after stop.graceMs).
      const second = await until('the restarted worker to run the job', async () => {
        const pids = await sleeps();
        return pids.length === 2 ? pids[1] : undefined;
      });
      assert.ok(alive(second!), `sleep ${second} runs`);
      const r = await pipeline(u.dir, ['scale', 'sleeper=0']);
      assert.equal(r.code, 0, r.stderr);
      await until(`sleep ${second} to be killed when its worker stopped`, async () => (alive(second!) ? undefined : true));
    } finally {
      await client.close();
    }
  });

  it('two pipeline up started together in one folder: exactly one runs, the other names the folder (10 trials, half over a stale socket)', async () => {
    const config = toYaml({ ...base, workers: {} });
    for (let trial = 0; trial < 10; trial++) {
      const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'gt-up-lock-')));
      dirs.push(dir);
      await writeFile(path.join(dir, 'geartrain.config.yaml'), config);
      const socket = path.join(dir, '.geartrain/supervisor.sock');
      if (trial % 2 === 1) {
        // A pipeline up killed outright leaves its socket file behind.
        const dead = children.track(spawn(NODE, [CLI, 'up'], { cwd: dir, stdio: 'ignore' }));
        await until('the first pipeline up to answer', async () => ((await controlRequest(socket, { cmd: 'ps' }, 2000)) ? true : undefined), 20_000);
        dead.kill('SIGKILL');
        await exited(dead, 10_000).catch(() => null);
        await access(socket);
      }
      const both = [0, 1].map(() => {
        const child = children.track(spawn(NODE, [CLI, 'up'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] }));
        ups.push(child);
        let err = '';
        child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        return { child, err: () => err };
      });
      const loser = await until(`trial ${trial}: one of two pipeline up to exit`, async () => both.find((u) => u.child.exitCode !== null), 20_000);
      const winner = both.find((u) => u !== loser)!;
      assert.equal(loser.child.exitCode, 12, `trial ${trial}: ${loser.err()}`);
      assert.match(
        loser.err(),
        new RegExp(`pipeline up is already running in ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(pid ${winner.child.pid}, control socket `),
        `trial ${trial}`,
      );
      const ps = (await until(`trial ${trial}: the other to answer`, async () => controlRequest(socket, { cmd: 'ps' }, 2000), 20_000)) as PsResult;
      assert.equal(ps.pid, winner.child.pid, `trial ${trial}: the running one answers`);
      assert.equal(winner.child.exitCode, null, `trial ${trial}: ${winner.err()}`);
      winner.child.kill('SIGTERM');
      assert.equal(await exited(winner.child, 20_000), 0, winner.err());
    }
  });

  it('the HTTP API under pipeline up lists the processes and scales them', async () => {
    const u = await up({ server: { ...base.server, http: { port: 0 } }, workers: { 'cache-warm': { processes: 1 } } });
    const line = await until('the http listening line', async () => u.lines().find((l) => l.msg === 'http listening'));
    const api = `http://${String(line.http)}/api/v1`;
    const procs = (await (await fetch(`${api}/processes`)).json()) as { processes: { type: string; state: string }[] };
    assert.deepEqual(
      procs.processes.map((p) => [p.type, p.state]),
      [['cache-warm', 'running']],
    );
    const res = await fetch(`${api}/scale`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ counts: { 'cache-warm': 2 } }),
    });
    assert.equal(res.status, 200, await res.text());
    await until(
      'two cache-warm processes running',
      async () => ((await u.ps()).processes.filter((p) => p.state === 'running').length === 2 ? true : undefined),
      20_000,
    );
    const after = (await (await fetch(`${api}/processes`)).json()) as { processes: unknown[] };
    assert.equal(after.processes.length, 2);
  });

  it('SIGTERM drains: the running job finishes, workers stop, then the server; exit 0 (config found without -c)', async () => {
    // JSON this time, found as ./geartrain.config.json; the job log on the default SQLite file.
    const u = await up(
      { server: { port: 0 }, workers: { 'cache-warm': { processes: 2 } }, stop: { graceMs: 30_000 } },
      { file: 'geartrain.config.json', passConfig: false },
    );
    assert.equal((await u.ps()).config, 'geartrain.config.json');
    const client = new Client({ servers: [u.address] });
    try {
      const { result } = await submitHeld(origin, client);
      u.child.kill('SIGTERM');
      await until('both workers to begin stopping', async () =>
        u.lines().filter((l) => String(l.name).startsWith('worker:') && l.msg === 'stopping: finishing running jobs').length === 2 ? true : undefined,
      );
      assert.equal(u.child.exitCode, null, 'pipeline up waits for the running job');
      origin.release();
      const out = JSON.parse((await result).toString()) as { results: { status: number }[] };
      assert.equal(out.results[0]!.status, 200);
    } finally {
      await client.close();
    }
    assert.equal(await exited(u.child, 20_000), 0, u.log());
    const msgs = u.lines().map((l) => `${String(l.name)}: ${String(l.msg)}`);
    const at = (m: string): number => {
      const i = msgs.indexOf(m);
      assert.ok(i >= 0, `${m} in the log:\n${msgs.join('\n')}`);
      return i;
    };
    const jobDone = msgs.findIndex((m) => /^worker:cache-warm#\d: job done$/.test(m));
    assert.ok(jobDone >= 0 && jobDone < at('supervisor: worker processes stopped'), msgs.join('\n'));
    assert.ok(at('supervisor: worker processes stopped') < at('server: closed'));
    assert.ok(at('server: closed') < at('supervisor: stopped'));
    await assert.rejects(access(path.join(u.dir, '.geartrain/supervisor.sock')), 'the control socket is removed');
    await access(path.join(u.dir, '.geartrain/jobs.db'));
  });
});

describe('pipeline up: config files', () => {
  it('the examples in fixtures/config load', async () => {
    const dir = path.join(ROOT, 'fixtures/config');
    const full = parseConfig(await readFile(path.join(dir, 'geartrain.config.yaml'), 'utf8'), 'geartrain.config.yaml');
    assert.equal(full.server?.port, 4730);
    assert.deepEqual(full.workers.thumbnail, { processes: 2, concurrency: 2, env: {} });
    assert.equal(full.settings.thumbnail?.maxFileSize, 100 * 1024 * 1024);
    assert.deepEqual(full.restart, { initialDelayMs: 500, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 60_000, startupMs: 5000 });
    const workersOnly = parseConfig(await readFile(path.join(dir, 'workers-only.json'), 'utf8'), 'workers-only.json');
    assert.equal(workersOnly.server, null);
    assert.deepEqual(workersOnly.servers, ['10.0.0.1:4730', '10.0.0.2:4730']);
    const exec = parseConfig(await readFile(path.join(dir, 'exec-workers.yaml'), 'utf8'), 'exec-workers.yaml');
    assert.deepEqual(exec.workers['word-count'], { processes: 2, concurrency: 1, env: {}, exec: ['wc', '-w'], functions: ['word-count'] });
    assert.deepEqual(exec.workers.resize?.functions, ['resize', 'resize-low']);
  });

  it('the job server limits are config keys under server', () => {
    const c = parseConfig(
      'server:\n  maxBuffered: 64m\n  packetTimeoutMs: 5000\n  maxFunctionsPerWorker: 50\n  adminAllow: [127.0.0.1, 10.0.8.0/24]\n',
      'c.yaml',
    );
    assert.equal(c.server?.maxBuffered, 64 * 1024 * 1024);
    assert.equal(c.server?.packetTimeoutMs, 5000);
    assert.equal(c.server?.maxFunctionsPerWorker, 50);
    assert.deepEqual(c.server?.adminAllow, ['127.0.0.1', '10.0.8.0/24']);
  });

  it('checks every key and names it', () => {
    const bad = (text: string, message: RegExp): void =>
      assert.throws(
        () => parseConfig(text, 'c.yaml'),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'GT_INVALID_ARGUMENT');
          assert.match(err.message, message);
          return true;
        },
      );
    bad('workers:\n  thumbnail: { processes: -1 }', /^c\.yaml: Expected positive integer for workers\.thumbnail\.processes but received -1 of type number$/);
    bad('workers:\n  email: { concurrency: "2" }', /Expected positive integer for workers\.email\.concurrency but received 2 of type string$/);
    bad('server: { port: 70000 }', /Expected integer between 0 and 65535 for server\.port but received 70000 of type number$/);
    bad('server: { packetTimeoutMs: 0 }', /Expected positive integer for server\.packetTimeoutMs but received 0 of type number$/);
    bad('server: { adminAllow: [] }', /Expected non-empty array of strings for server\.adminAllow but received \[\] of type array$/);
    bad('server: { port: 1 }\nservers: ["a:1"]', /Expected either server \(run the job server here\) or servers \(use running ones\), not both for servers/);
    bad('servers: ["a:99999"]', /Expected host:port for servers\[0\] but received a:99999 of type string$/);
    bad('servers: []', /Expected non-empty array of strings for servers but received \[\] of type array$/);
    bad('settings: { allowPaths: [media, 3] }', /Expected non-empty string for settings\.allowPaths\[1\] but received 3 of type number$/);
    bad('settings: { thumbnail: { maxFileSize: lots } }', /for settings\.thumbnail\.maxFileSize but received lots of type string$/);
    bad('workers:\n  email: { functions: [a] }', /Expected no functions \(only exec types take it\) for workers\.email\.functions/);
    bad('workers:\n  email: { env: { A: [1] } }', /Expected string, number or boolean for workers\.email\.env\.A but received \[1\] of type array$/);
    bad('wokers: {}', /Expected one of the fields server, servers, workers, settings, restart, stop, reload for wokers but received \{\} of type object$/);
    bad('workers: [thumbnail]', /Expected object of worker types for workers but received \["thumbnail"\] of type array$/);
    bad(
      '- 1',
      new RegExp(
        String.raw`^c\.yaml: Expected an object with the keys server, servers, workers, settings, restart, stop, reload for the config file ` +
          String.raw`but received \[1\] of type array$`,
      ),
    );
    assert.throws(() => parseConfig('workers: {', 'c.yaml'), /^GeartrainError: c\.yaml: not valid YAML: Flow map .* at line 1, column 11$/);
    assert.throws(() => parseConfig('{"workers":', 'c.json'), /c\.json: not valid JSON: /);
    // An empty file is the defaults.
    assert.deepEqual(Object.keys(parseConfig('', 'c.yaml').workers), [
      'thumbnail',
      'transcode',
      'email',
      'cache-warm',
      'probe',
      'waveform',
      'webhook',
      'pipeline',
    ]);
    // thumbnail runs one job more than the cores by default, every other type one job.
    const defaults = parseConfig('', 'c.yaml').workers;
    assert.equal(defaults.thumbnail?.concurrency, os.availableParallelism() + 1);
    assert.equal(defaults.transcode?.concurrency, 1);
  });
});
