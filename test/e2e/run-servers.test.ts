// `pipeline run … --server` over running job servers, as an operator runs it: the built CLI as a
// child process, workers as `pipeline worker` processes. A function no worker serves is refused
// (or waited for with --wait-for-workers, saying so); with two real gearmand servers, one
// SIGKILLed mid-run, every item still completes; with every server down the run exits 6.
// Run `npm run build` first: these tests exercise dist/, not src/.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CLI, freePort, missingTools, ROOT, type ServerUnderTest, startCli, startGearmand } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';
import { Children } from '../interop/harness.js';

const IMAGES = ['photo-landscape.jpg', 'photo-portrait-exif6.jpg', 'alpha.png'];
const children = new Children();

interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Exit code once it has exited; SIGKILLed (and rejected) after `timeoutMs`. */
  exited(timeoutMs: number): Promise<number | null>;
}

function cli(args: string[], cwd: string): Running {
  const child = children.track(spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: async (timeoutMs) => {
      try {
        return await children.exited(child, timeoutMs);
      } catch (e) {
        throw new Error(`${(e as Error).message}: pipeline ${args.join(' ')}; stderr: ${err}`);
      }
    },
  };
}

/** A folder of `n` images (the fixtures, copied round-robin). */
async function photos(root: string, n: number): Promise<string> {
  const dir = path.join(root, `photos-${n}`);
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const src = IMAGES[i % IMAGES.length]!;
    await copyFile(path.join(ROOT, 'fixtures/images', src), path.join(dir, `p${String(i).padStart(3, '0')}${path.extname(src)}`));
  }
  return dir;
}

/** `pipeline worker thumbnail` connected to `servers`, once it says it is ready. */
async function thumbnailWorker(servers: string[], cwd: string, concurrency = 2): Promise<Running> {
  const w = cli(['--log-level', 'info', 'worker', `thumbnail=${concurrency}`, '--server', servers.join(',')], cwd);
  await until(
    'the thumbnail worker to be ready',
    async () => (w.stderr().includes('"msg":"worker ready"') ? true : w.child.exitCode === null ? undefined : Promise.reject(new Error(w.stderr()))),
    20_000,
  );
  return w;
}

describe('pipeline run --server: workers, failover, outages', () => {
  let root: string;
  const servers: ServerUnderTest[] = [];

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'gt-run-servers-'));
  });
  afterEach(async () => {
    await children.killAll();
    for (const s of servers.splice(0)) await s.stop();
  });
  after(async () => {
    await children.killAll();
    await rm(root, { recursive: true, force: true });
  });

  it('no worker serves the function: exits 11 at once, naming the function and the server', async () => {
    const server = await startCli();
    servers.push(server);
    const input = await photos(root, 2);
    const run = cli(['run', 'thumbnails', input, '--out', path.join(root, 'out-none'), '--server', server.address], root);
    assert.equal(await run.exited(30_000), 11, run.stdout() + run.stderr());
    assert.match(run.stderr(), new RegExp(`No worker serves thumbnail on ${server.address}`));
    assert.match(run.stderr(), /--wait-for-workers/);
  });

  it('--wait-for-workers: the progress says what it waits for; the run goes on once a worker comes', async () => {
    const server = await startCli();
    servers.push(server);
    const input = await photos(root, 2);
    const out = path.join(root, 'out-wait');
    const run = cli(['run', 'thumbnails', input, '--out', out, '--server', server.address, '--wait-for-workers', '2m'], root);
    await until(
      'the run to say it waits for a thumbnail worker',
      async () => (/waiting for a worker for thumbnail on /.test(run.stderr()) ? true : undefined),
      20_000,
    );
    assert.equal(run.child.exitCode, null, 'the run waits');
    await thumbnailWorker([server.address], root);
    assert.equal(await run.exited(60_000), 0, run.stdout() + run.stderr());
    assert.equal((await readdir(out)).filter((f) => !f.startsWith('.')).length, 2 * 3);

    const bad = cli(['run', 'thumbnails', input, '--out', out, '--server', server.address, '--wait-for-workers', '30'], root);
    assert.equal(await bad.exited(20_000), 2, bad.stderr());
    assert.match(bad.stderr(), /Expected a duration such as 30s, 5m or 1h for --wait-for-workers but received "30"/);
  });

  it('two gearmand servers, one SIGKILLed mid-run: every item completes on the other', async (t) => {
    const skip = missingTools('gearmand');
    if (skip) return t.skip(skip);
    const a = await startGearmand();
    const b = await startGearmand();
    servers.push(a, b);
    const list = [a.address, b.address];
    await thumbnailWorker(list, root, 2);
    const n = 40;
    const input = await photos(root, n);
    const out = path.join(root, 'out-failover');
    const run = cli(['run', 'thumbnails', input, '--out', out, '--server', list.join(','), '--concurrency', '4'], root);
    const done = (): number =>
      run
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('done  thumbnail ')).length;
    await until(
      'a few items to be done',
      async () => (done() >= 4 ? true : run.child.exitCode === null ? undefined : Promise.reject(new Error(run.stderr()))),
      60_000,
    );
    assert.ok(done() < n, 'the server dies mid-run');
    a.child.kill('SIGKILL');
    assert.equal(await run.exited(180_000), 0, run.stdout() + run.stderr());
    assert.match(run.stdout(), new RegExp(`${n} items, 0 failed`));
    assert.equal((await readdir(out)).filter((f) => !f.startsWith('.')).length, n * 3);
  });

  it('every server down: exits 6 (GT_NO_SERVERS), naming the servers', async () => {
    const list = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const input = await photos(root, 2);
    const run = cli(['run', 'thumbnails', input, '--out', path.join(root, 'out-down'), '--server', list.join(',')], root);
    assert.equal(await run.exited(60_000), 6, run.stdout() + run.stderr());
    assert.match(run.stderr(), new RegExp(`No job server reachable \\(tried ${list.join(', ')}\\)`));
  });

  it('the only server SIGKILLed mid-run: exits 6 (GT_NO_SERVERS), not 1', async () => {
    const server = await startCli();
    servers.push(server);
    await thumbnailWorker([server.address], root, 1);
    const n = 30;
    const input = await photos(root, n);
    const run = cli(['run', 'thumbnails', input, '--out', path.join(root, 'out-gone'), '--server', server.address, '--concurrency', '2'], root);
    await until(
      'an item to be done',
      async () => (run.stderr().includes('done  thumbnail ') ? true : run.child.exitCode === null ? undefined : Promise.reject(new Error(run.stderr()))),
      60_000,
    );
    server.child.kill('SIGKILL');
    assert.equal(await run.exited(60_000), 6, run.stdout() + run.stderr());
    assert.match(run.stderr(), new RegExp(`No job server reachable \\(tried ${server.address}\\)`));
  });
});
