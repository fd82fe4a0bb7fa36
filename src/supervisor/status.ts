// What `pipeline ps` shows and what it is computed from: a type's slots (`worker:TYPE#N`), each
// filled by a process, waiting out a backoff, or given up.

import type { WorkerTypeConfig } from './config.js';
import type { WorkerProcess } from './process.js';

export type ProcessStateName = 'starting' | 'running' | 'stopping' | 'backoff' | 'gave-up';

export interface ProcessStatus {
  type: string;
  /** `worker:TYPE#N` */
  name: string;
  /** null while waiting to be restarted or given up. */
  pid: number | null;
  state: ProcessStateName;
  /** ISO time the current process started; null without one. */
  startedAt: string | null;
  uptimeMs: number | null;
  /** Restarts after a crash, since `pipeline up` started. */
  restarts: number;
  /** Jobs the current process finished: completed, and failed. */
  jobsDone: number;
  jobsFailed: number;
  /** In backoff: when the next start is due, ms from now. */
  nextStartInMs?: number;
}

export interface TypeStatus {
  type: string;
  /** Processes wanted (the config, or the last `pipeline scale`). */
  processes: number;
  /** Processes running (ready) now. */
  running: number;
  concurrency: number;
  /** `gave-up`: its processes kept crashing at start; `pipeline reload` or `pipeline scale` tries again. */
  state: 'ok' | 'gave-up';
  /** Crashes at start within restart.windowMs. */
  crashesAtStart: number;
  /** exec types: the command run per job. */
  exec?: string[];
}

export interface PsResult {
  pid: number;
  startedAt: string;
  uptimeMs: number;
  /** The job servers the workers connect to. */
  servers: string[];
  /** The config file, or null for the built-in defaults. */
  config: string | null;
  types: TypeStatus[];
  processes: ProcessStatus[];
}

/** A process started by scale or reload that exited, or timed out, before it was ready. */
export interface NotReady {
  type: string;
  name: string;
  /** `worker:email#2 exited (code 9) before it was ready` */
  error: string;
}

export interface ScaleResult {
  scaled: { type: string; from: number; to: number }[];
  /** With `wait`: new processes that did not become ready. `pipeline scale` exits 1 when any did not. */
  notReady: NotReady[];
  ps: PsResult;
}

export interface ReloadResult {
  config: string | null;
  /** Each process replaced: the old pid (null if it was not running) and the new one. */
  replaced: { type: string; name: string; oldPid: number | null; newPid: number }[];
  /** Types whose reload stopped (their remaining processes were kept), and why. */
  failed: { type: string; name: string; error: string }[];
  /** Processes added by the new config (new types, higher counts) that did not become ready. */
  notReady: NotReady[];
  warnings: string[];
  ps: PsResult;
}

/** A position in a type's process list: `worker:TYPE#index`, whatever process fills it now. */
export class Slot {
  proc: WorkerProcess | null = null;
  /** Set while there is no process: waiting out a backoff, or given up. */
  waiting: 'backoff' | 'gave-up' | null = null;
  timer: NodeJS.Timeout | null = null;
  nextStartAt: number | null = null;
  restarts = 0;
  /** Crash times within restart.windowMs: the backoff doubles with each. */
  crashes: number[] = [];

  constructor(
    readonly index: number,
    readonly name: string,
  ) {}

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextStartAt = null;
  }
}

export class TypeGroup {
  readonly slots: Slot[] = [];
  /** Crashes at start within restart.windowMs, across the type's processes. */
  crashesAtStart: number[] = [];
  gaveUp = false;

  constructor(
    readonly type: string,
    public spec: WorkerTypeConfig,
    public desired: number,
    /** processes as the config file said at the last load, so reload can tell a changed count from a scale. */
    public fileCount: number | null,
  ) {}
}

/** What a snapshot reads from the Supervisor. */
export interface SupervisorState {
  groups: ReadonlyMap<string, TypeGroup>;
  /** Every process not yet exited. */
  live: ReadonlySet<WorkerProcess>;
  /** Processes told to stop. */
  retiring: ReadonlySet<WorkerProcess>;
  windowMs: number;
  startedAt: number;
  servers: string[];
  configFile: string | null;
}

/** `pipeline ps`: slots in type order (given-up and backoff ones without a pid), then replacements and retiring processes. */
export function snapshot(s: SupervisorState): PsResult {
  const now = Date.now();
  const types: TypeStatus[] = [];
  const processes: ProcessStatus[] = [];
  const row = (proc: WorkerProcess, state: ProcessStateName, restarts: number): ProcessStatus => ({
    type: proc.type,
    name: proc.name,
    pid: proc.pid ?? null,
    state,
    startedAt: new Date(proc.startedAt).toISOString(),
    uptimeMs: now - proc.startedAt,
    restarts,
    jobsDone: proc.jobsDone,
    jobsFailed: proc.jobsFailed,
  });
  const shown = new Set<WorkerProcess>();
  for (const group of s.groups.values()) {
    let running = 0;
    for (const slot of group.slots) {
      if (slot.proc) {
        shown.add(slot.proc);
        const state = slot.proc.state === 'exited' ? 'stopping' : slot.proc.state;
        if (state === 'running') running++;
        processes.push(row(slot.proc, state, slot.restarts));
      } else {
        const st: ProcessStatus = {
          type: group.type,
          name: slot.name,
          pid: null,
          state: slot.waiting ?? 'backoff',
          startedAt: null,
          uptimeMs: null,
          restarts: slot.restarts,
          jobsDone: 0,
          jobsFailed: 0,
        };
        if (slot.nextStartAt !== null) st.nextStartInMs = Math.max(0, slot.nextStartAt - now);
        processes.push(st);
      }
    }
    const windowMs = s.windowMs;
    const t: TypeStatus = {
      type: group.type,
      processes: group.desired,
      running,
      concurrency: group.spec.concurrency,
      state: group.gaveUp ? 'gave-up' : 'ok',
      crashesAtStart: group.crashesAtStart.filter((c) => now - c < windowMs).length,
    };
    if (group.spec.exec) t.exec = group.spec.exec;
    types.push(t);
  }
  // Replacements being started and processes being stopped, after the slots.
  for (const proc of s.live) {
    if (shown.has(proc)) continue;
    processes.push(row(proc, s.retiring.has(proc) ? 'stopping' : 'starting', 0));
  }
  return {
    pid: process.pid,
    startedAt: new Date(s.startedAt).toISOString(),
    uptimeMs: now - s.startedAt,
    servers: s.servers,
    config: s.configFile,
    types,
    processes,
  };
}
