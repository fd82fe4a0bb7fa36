// One worker process: spawned as `node --import guard.js CLI worker …`, its log lines relayed
// under its name, its readiness and finished jobs read from its IPC reports (src/supervisor/ipc.ts),
// stopped with SIGTERM (running jobs finish) and SIGKILL after a grace period. Each runs in its
// own process group, killed whole once the worker is gone, so no child of it (ffmpeg, an exec
// command) outlives a crashed or stopped worker.

import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { WorkerCommand } from './command.js';
import { isWorkerReport } from './ipc.js';
import { LineSplitter, type LogRelay, parseLogLine } from './relay.js';

export type ProcessState = 'starting' | 'running' | 'stopping' | 'exited';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  type: string;
  /** `worker:TYPE#N`: carried by every log line and shown by `pipeline ps`. */
  name: string;
  /** The built CLI, dist/cli/index.js. */
  cliPath: string;
  /** file: URL of the guard preload. */
  guardUrl: string;
  command: WorkerCommand;
  relay: LogRelay;
  /** The config generation the process was started with (reload replaces older ones). */
  generation: number;
  cwd?: string;
}

/** Events: 'ready' once the child reported it serves its functions; 'exit' (ExitInfo) once it is gone and its output read. */
export class WorkerProcess extends EventEmitter {
  readonly type: string;
  readonly name: string;
  readonly generation: number;
  readonly command: WorkerCommand;
  readonly startedAt = Date.now();
  readonly child: ChildProcess;
  state: ProcessState = 'starting';
  readyAt: number | null = null;
  jobsDone = 0;
  jobsFailed = 0;
  /** The supervisor asked it to stop: its exit is not a crash. */
  stopRequested = false;
  exitInfo: ExitInfo | null = null;
  private stopping: Promise<void> | null = null;

  constructor(opts: SpawnOptions) {
    super();
    this.type = opts.type;
    this.name = opts.name;
    this.generation = opts.generation;
    this.command = opts.command;
    this.child = spawn(process.execPath, ['--import', opts.guardUrl, opts.cliPath, ...opts.command.args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.command.env, GEARTRAIN_PROCESS_NAME: opts.name },
      // The IPC channel carries the child's reports, and lets the guard notice the supervisor's death.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group (pgid = its pid): signalGroup() reaches every process it started.
      detached: true,
    });
    this.child.on('message', (msg: unknown) => this.onReport(msg));
    for (const stream of ['stdout', 'stderr'] as const) {
      const lines = new LineSplitter((text) => this.onLine(stream, text, opts.relay));
      const s = this.child[stream]!;
      s.setEncoding('utf8');
      s.on('data', (d: string) => lines.push(d));
      s.on('end', () => lines.end());
    }
    // A spawn failure (no such executable, EAGAIN) comes as 'error' and maybe no 'exit'.
    this.child.once('error', (err) => {
      opts.relay.relay(this.name, this.pid, 'stderr', `could not start: ${err.message}`, null);
      this.exited({ code: null, signal: null });
    });
    // Whatever it leaves running dies with it. At 'exit', not 'close': a child holding its stderr
    // open would hold off 'close' for as long as it runs.
    this.child.once('exit', () => this.signalGroup('SIGKILL'));
    // 'close', not 'exit': the last lines it wrote (why it crashed) are relayed before its exit is.
    this.child.once('close', (code, signal) => this.exited({ code, signal }));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get uptimeMs(): number {
    return Date.now() - this.startedAt;
  }

  private onLine(stream: 'stdout' | 'stderr', text: string, relay: LogRelay): void {
    relay.relay(this.name, this.pid, stream, text, parseLogLine(text));
  }

  private onReport(msg: unknown): void {
    if (!isWorkerReport(msg)) return;
    if (msg.gt === 'job') {
      if (msg.ok) this.jobsDone++;
      else this.jobsFailed++;
    } else if (this.state === 'starting') {
      this.state = 'running';
      this.readyAt = Date.now();
      this.emit('ready');
    }
  }

  private exited(info: ExitInfo): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    this.state = 'exited';
    this.emit('exit', info);
  }

  /** Resolves once the process has exited (at once if it has). */
  whenExited(): Promise<ExitInfo> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => this.once('exit', resolve));
  }

  /** True once ready; false if it exited first or `timeoutMs` passed. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.readyAt !== null) return Promise.resolve(true);
    if (this.exitInfo) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('exit', onExit);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const onExit = (): void => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.on('ready', onReady);
      this.on('exit', onExit);
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Idempotent. */
  stop(graceMs: number): Promise<void> {
    this.stopRequested = true;
    this.stopping ??= (async () => {
      if (this.exitInfo) return;
      this.state = 'stopping';
      // The worker alone: it stops its own jobs' processes as it finishes them.
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
      await this.whenExited();
      clearTimeout(timer);
    })();
    return this.stopping;
  }

  /** SIGKILL now (a second signal to `pipeline up`, or a replacement that never became ready). */
  kill(): void {
    this.stopRequested = true;
    if (!this.exitInfo) this.signalGroup('SIGKILL');
  }

  /**
   * Signal the worker's process group. The group outlives its leader while any member runs, and
   * Linux does not hand out a pid still in use as a process group id, so this never reaches an
   * unrelated process.
   */
  private signalGroup(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is empty.
    }
  }
}
