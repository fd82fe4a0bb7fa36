// What every scenario shares: the two servers, the load generator child, CPU accounting from
// /proc, and the bookkeeping that kills every child when the run ends, however it ends.
//
// Setup (for 2 cores): the server under test is one child process, the load generator another;
// nothing is pinned, the kernel shares the cores between them. geartrain's server is one event
// loop (about one core at most); gearmand -t 2 runs two I/O threads plus its processing thread
// and may use both cores, competing with the load generator. Both see the same load, the same
// machine and the same scheduler; the per-process CPU figures printed with each run show who
// was busy, so a load-bound run is visible as such.

import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, freePort, GEARMAND, type ServerUnderTest, startCli, startGearmand, stopChild, waitForPort } from '../../test/helpers/servers.js';
import type { LoadConfig, LoadMessage, LoadResult } from '../load.js';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type ServerKind = 'geartrain' | 'gearmand';

// ---- children ------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILL every child still alive. Synchronous, so it also works from an 'exit' handler. */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

// ---- servers -------------------------------------------------------------------------------

export interface RunningServer extends ServerUnderTest {
  child: ChildProcess;
}

/** Directory for `--cpu-prof` output of geartrain servers, or null (bench/run.ts --profile). */
export let profileDir: string | null = null;
export function setProfileDir(dir: string | null): void {
  profileDir = dir;
}

/**
 * The job store geartrain runs with, as a `--store` URL. Passed as GEARTRAIN_STORE, which the
 * server reads when no --store flag is given (and a build without stores ignores): the default
 * store may be durable, and these scenarios compare memory queues.
 */
export const GEARTRAIN_STORE = 'memory:';

/**
 * Extra command-line arguments for one case's servers (bench/durable.ts: a store per server).
 * Called once per server start, so a case can hand each run a fresh file.
 */
export interface ServerArgs {
  geartrain?: () => string[];
  gearmand?: () => string[];
}

export async function startServer(kind: ServerKind, args: ServerArgs = {}): Promise<RunningServer> {
  if (kind === 'gearmand') return trackServer(startGearmand(2, args.gearmand?.() ?? []));
  const extra = args.geartrain?.() ?? [];
  if (profileDir !== null) return startProfiledCli(profileDir, extra);
  // startCli() spawns synchronously, before its first await, so only the server child sees this.
  const saved = process.env.GEARTRAIN_STORE;
  process.env.GEARTRAIN_STORE = GEARTRAIN_STORE;
  try {
    // startCli() adds `--store memory:` only when `extra` names no store.
    return trackServer(startCli(extra));
  } finally {
    if (saved === undefined) delete process.env.GEARTRAIN_STORE;
    else process.env.GEARTRAIN_STORE = saved;
  }
}

/** `pipeline server` as startCli() runs it, under `node --cpu-prof` (not allowed in NODE_OPTIONS). */
function startProfiledCli(dir: string, extra: string[]): Promise<RunningServer> {
  return startNodeServer((port) => ['--cpu-prof', '--cpu-prof-dir', dir, CLI, '--log-level', 'warn', 'server', '--port', String(port), ...extra], {
    ...process.env,
    GEARTRAIN_STORE,
  });
}

/** bench/lib/stub-server.ts: the load's ceiling (no queue, canned answers). */
export function startStub(): Promise<RunningServer> {
  return startNodeServer((port) => ['--import', 'tsx', path.join(BENCH_DIR, 'lib/stub-server.ts'), String(port)]);
}

/** A node child listening on a free port (`argv` for that port), once it accepts connections. */
async function startNodeServer(argv: (port: number) => string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const port = await freePort();
  const child = track(spawn(process.execPath, argv(port), { stdio: ['ignore', 'ignore', 'inherit'], env }));
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { kind: 'geartrain', host: '127.0.0.1', port, address: `127.0.0.1:${port}`, pid: child.pid!, child, stop: () => stopChild(child) };
}

async function trackServer(starting: Promise<RunningServer>): Promise<RunningServer> {
  const s = await starting;
  track(s.child);
  return s;
}

export async function stopServer(s: RunningServer): Promise<void> {
  await stopChild(s.child);
}

// ---- CPU accounting ------------------------------------------------------------------------

const TICKS = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout.trim()) || 100;
})();

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return NaN;
  }
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal; guest is inside user
    return (total - f[3]! - f[4]!) / TICKS; // minus idle and iowait
  } catch {
    return NaN;
  }
}

// ---- the load generator --------------------------------------------------------------------

export interface LoadRun extends LoadResult {
  /** CPU the server used in the measured window, in cores. */
  serverCpu: number;
  /**
   * CPU used by everything else on the machine in the window, in cores. Other processes (a test
   * suite running alongside) take cores from both contenders and make figures noisy.
   */
  otherCpu: number;
}

/** Above this much CPU used by other processes, a run is flagged as disturbed. */
export const BUSY_MACHINE_CORES = 0.15;

const LOAD_ENTRY = path.join(BENCH_DIR, 'load.ts');

/** Run one load against `server` in a fresh child process; rejects on any error or ERROR packet. */
export function runLoad(server: RunningServer, cfg: Omit<LoadConfig, 'port'>): Promise<LoadRun> {
  const child = track(fork(LOAD_ENTRY, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const timeoutMs = cfg.warmupMs + cfg.measureMs + 20_000;
  return new Promise<LoadRun>((resolve, reject) => {
    let cpuAtStart = NaN;
    let serverCpu = NaN;
    let busyAtStart = NaN;
    let busy = NaN;
    let done = false;
    const finish = (err: Error | null, r?: LoadRun): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (err) reject(err);
      else resolve(r!);
    };
    const timer = setTimeout(() => finish(new Error(`load generator did not finish within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (m: LoadMessage) => {
      if (m.kind === 'mark' && m.phase === 'start') {
        cpuAtStart = cpuSeconds(server.pid!);
        busyAtStart = machineBusySeconds();
      } else if (m.kind === 'mark' && m.phase === 'end') {
        serverCpu = cpuSeconds(server.pid!) - cpuAtStart;
        busy = machineBusySeconds() - busyAtStart;
      } else if (m.kind === 'error') finish(new Error(`load generator: ${m.message}`));
      else if (m.kind === 'result') {
        if (m.result.errors > 0) return finish(new Error(`${server.kind} answered ${m.result.errors} ERROR packets`));
        const secs = m.result.seconds;
        const otherCpu = Math.max(0, busy / secs - serverCpu / secs - m.result.cpu);
        finish(null, { ...m.result, serverCpu: serverCpu / secs, otherCpu });
      }
    });
    child.once('error', (err) => finish(err));
    // A result may still be in the IPC pipe when 'exit' fires: give it a moment.
    child.once('exit', (code, signal) => setTimeout(() => finish(new Error(`load generator exited (${code ?? signal}) without a result`)), 200));
    child.send({ ...cfg, port: server.port } satisfies LoadConfig);
  });
}

// ---- scenarios -----------------------------------------------------------------------------

/** One figure a case produces, compared between the servers. */
export interface Metric {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /**
   * Required ratio geartrain / gearmand: at least this when higher is better, at most when lower
   * is better. Absent: reported, not judged.
   */
  target?: number;
}

/** One measurement on a fresh server: the figures by metric key, plus a line of context. */
export interface Sample {
  values: Record<string, number>;
  note: string;
  /** Cores other processes used during the measurement. */
  otherCpu: number;
  raw: unknown;
}

export interface Case {
  name: string;
  metrics: Metric[];
  /** The load, for the record in latest.json. */
  config: Record<string, unknown>;
  /** Extra server arguments for this case; default: geartrain on GEARTRAIN_STORE, gearmand in memory. */
  serverArgs?: ServerArgs;
  /** At most this many runs per server, whatever --reps says (bench/memory.ts: long, steady runs). */
  maxReps?: number;
  /** Runs after each server stopped (bench/durable.ts deletes its store files and tables here). */
  cleanup?(): void | Promise<void>;
  measure(server: RunningServer): Promise<Sample>;
  /**
   * Compare geartrain with something other than a gearmand server (a plain sharp loop, the
   * ffmpeg command line): `measure(side)` then runs each side itself, no server is started,
   * and `baseline` names the other side in the table. Metrics' targets are geartrain / baseline.
   */
  versus?: { baseline: string; measure(side: ServerKind): Promise<Sample> };
}

/** A scenario file's export: a name and the cases it runs. */
export interface Scenario {
  name: string;
  cases: Case[];
}

// ---- numbers -------------------------------------------------------------------------------

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

export function fmt(n: number, unit: string): string {
  if (!Number.isFinite(n)) return '—';
  if (unit === 'ms') return `${n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`;
  if (n < 100) return `${n.toFixed(2)} ${unit}`;
  return `${Math.round(n).toLocaleString('en-US')} ${unit}`;
}

export const pct = (cores: number): string => (Number.isFinite(cores) ? `${Math.round(cores * 100)}%` : '?');

/** "cpu server 98% load 60% other 3%" (in % of one core), flagged when other processes were busy. */
export function cpuNote(r: LoadRun): string {
  const flag = r.otherCpu > BUSY_MACHINE_CORES ? ' [machine busy: figure unreliable]' : '';
  return `cpu server ${pct(r.serverCpu)} load ${pct(r.cpu)} other ${pct(r.otherCpu)}${flag}`;
}

// ---- the machine ---------------------------------------------------------------------------

export interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  gearmand: string;
  os: string;
  memGiB: number;
}

export function machine(): Machine {
  const cpus = os.cpus();
  const v = spawnSync(GEARMAND, ['--version'], { encoding: 'utf8' });
  const gearmand =
    `${v.stdout ?? ''}${v.stderr ?? ''}`
      .trim()
      .split('\n')[0]
      ?.replace(/ - https?:.*$/, '') ?? 'unknown';
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    node: process.version,
    gearmand: gearmand || 'not installed',
    os: `${os.type()} ${os.release()}`,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}
