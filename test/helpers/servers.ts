// Servers under test: geartrain in-process, geartrain as the built CLI (as a user runs it),
// and the real gearmand from Debian's gearman-job-server, so one suite can prove itself on
// gearmand and then hold geartrain to the same behaviour.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GearmanServer, type ServerOptions } from '../../src/server/server.js';
import { until } from './wait.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli/index.js');

export interface ServerUnderTest {
  kind: 'geartrain' | 'gearmand';
  host: string;
  port: number;
  /** "host:port" */
  address: string;
  pid?: number;
  stop(): Promise<void>;
}

/** Start geartrain inside this process on a free port. */
export async function startInProcess(opts: ServerOptions = {}): Promise<ServerUnderTest & { server: GearmanServer }> {
  const server = new GearmanServer({ port: 0, ...opts });
  const { port } = await server.listen();
  return { kind: 'geartrain', host: '127.0.0.1', port, address: `127.0.0.1:${port}`, server, pid: process.pid, stop: () => server.close() };
}

/** An in-process server started before, and stopped after, the tests of the enclosing describe(). */
export function inProcessPerSuite(opts: ServerOptions = {}): { readonly port: number; readonly server: GearmanServer } {
  let srv: Awaited<ReturnType<typeof startInProcess>> | undefined;
  before(async () => {
    srv = await startInProcess(opts);
  });
  after(async () => {
    await srv?.stop();
  });
  const started = (): Awaited<ReturnType<typeof startInProcess>> => srv ?? assert.fail('the server starts in before()');
  return {
    get port() {
      return started().port;
    },
    get server() {
      return started().server;
    },
  };
}

/** Start `pipeline server` from dist/ as a child process (run `npm run build` first). */
export async function startCli(args: string[] = []): Promise<ServerUnderTest & { child: ChildProcess }> {
  // Each server gets its own job log: in memory unless the test names a store, never the
  // default .geartrain/jobs.db of the working directory (jobs would leak between tests).
  const store = args.includes('--store') ? [] : ['--store', 'memory:'];
  const child = spawn(process.execPath, [CLI, '--log-level', 'info', 'server', '--port', '0', ...store, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`pipeline server did not start: ${buf}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"msg":"listening"/.test(buf) ? /"port":(\d+)/.exec(buf) : null;
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pipeline server exited with ${code}: ${buf}`));
    });
  });
  child.stderr!.resume();
  return {
    kind: 'geartrain',
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    child,
    stop: () => stopChild(child),
  };
}

export const GEARMAND = '/usr/sbin/gearmand';

/** Whether a program is installed; in CI a missing tool fails the suite instead of skipping. */
export function haveTool(cmd: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * Skip reason for a suite that needs `tools`, or false when all are present. With CI=true a
 * missing tool throws: CI must have installed it (.ci/run).
 */
export function missingTools(...tools: string[]): string | false {
  const missing = tools.filter((t) => !haveTool(t));
  if (missing.length === 0) return false;
  const msg = `needs ${missing.join(', ')} (Debian: apt-get install gearman-tools php-cli php-gearman gearman-job-server netcat-openbsd)`;
  if (process.env.CI === 'true') throw new Error(`CI is missing required tools: ${msg}`);
  return msg;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
    s.on('error', reject);
  });
}

/** Start the real gearmand (1.1.x) on a free port, in memory, with `threads` I/O threads. */
export async function startGearmand(threads = 2, extra: string[] = []): Promise<ServerUnderTest & { child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(GEARMAND, ['-L', '127.0.0.1', '-p', String(port), '-t', String(threads), '--log-file=none', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitForPort(port, 10_000).catch((e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`gearmand did not start: ${e.message} ${err}`);
  });
  return {
    kind: 'gearmand',
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    child,
    stop: () => stopChild(child),
  };
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  await until(`port ${port} to open`, () => portOpen(port), timeoutMs);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The servers a compatibility suite runs against: geartrain always, gearmand when installed. */
export function targets(): { name: 'geartrain' | 'gearmand'; skip: string | false }[] {
  return [
    { name: 'geartrain', skip: false },
    { name: 'gearmand', skip: missingTools('gearmand') },
  ];
}

export async function startTarget(name: 'geartrain' | 'gearmand'): Promise<ServerUnderTest> {
  return name === 'geartrain' ? startCli() : startGearmand();
}
