// Runs worker processes per type: starts the configured number, restarts a crashed one after
// an exponential backoff, gives up on a type whose processes keep crashing at start, scales a
// type up and down while running, and reloads (replaces every process one at a time, each
// replacement registered with the job servers before the process it replaces is stopped).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseServer } from '../client/address.js';
import { adminWorkers } from '../client/admin.js';
import { gtError, invalidArgument } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { Backoff } from '../shared/backoff.js';
import { workerCommand } from './command.js';
import { BUILTIN_TYPES, defaultTypeConfig, readConfigFile, type SupervisorConfig } from './config.js';
import { type ExitInfo, WorkerProcess } from './process.js';
import { LogRelay } from './relay.js';
import { type NotReady, type PsResult, type ReloadResult, type ScaleResult, Slot, snapshot, TypeGroup } from './status.js';

export type { NotReady, ProcessStateName, ProcessStatus, PsResult, ReloadResult, ScaleResult, TypeStatus } from './status.js';

/** More processes of one type than this is a typo, not a plan. */
export const MAX_PROCESSES_PER_TYPE = 256;

export interface ScaleOptions {
  /** Resolve only once new processes are ready (or failed to be: listed in `notReady`) and removed ones have exited. @defaultValue false */
  wait?: boolean;
}

export interface SupervisorOptions {
  config: SupervisorConfig;
  /** Where the config came from; reload() reads it again. @defaultValue null (defaults: reload keeps them) */
  configFile?: string | null;
  /** What the workers connect to when the config names no `servers` (the server `pipeline up` runs). */
  embeddedServers?: string[];
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Passed to every worker process. @defaultValue 'info' */
  logLevel?: string;
  /** Where worker log lines go. @defaultValue a relay to this process's stderr */
  relay?: LogRelay;
  /** @defaultValue dist/cli/index.js of this package */
  cliPath?: string;
  /** Working directory of the worker processes. @defaultValue this process's */
  cwd?: string;
  /** Reads the config for reload(). @defaultValue readConfigFile(configFile) */
  loadConfig?: () => Promise<SupervisorConfig>;
}

function firstExisting(...urls: URL[]): string {
  const paths = urls.map((u) => fileURLToPath(u));
  return paths.find((p) => existsSync(p)) ?? paths[0]!;
}

export class Supervisor {
  private config: SupervisorConfig;
  private readonly configFile: string | null;
  private readonly embeddedServers: string[];
  private readonly log: Logger;
  private readonly logLevel: string;
  private readonly relay: LogRelay;
  private readonly cliPath: string;
  private readonly guardUrl: string;
  private readonly cwd: string | undefined;
  private readonly loadConfig: (() => Promise<SupervisorConfig>) | null;
  private readonly groups = new Map<string, TypeGroup>();
  /** Every process not yet exited: slots' processes, replacements being started, retiring ones. */
  private readonly live = new Set<WorkerProcess>();
  /** Processes told to stop (scaled away, replaced); their exit is expected. */
  private readonly retiring = new Set<WorkerProcess>();
  private generation = 1;
  private readonly startedAt = Date.now();
  private mutations: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(opts: SupervisorOptions) {
    this.config = opts.config;
    this.configFile = opts.configFile ?? null;
    this.embeddedServers = opts.embeddedServers ?? ['127.0.0.1:4730'];
    this.log = opts.logger ?? silentLogger;
    this.logLevel = opts.logLevel ?? 'info';
    this.relay = opts.relay ?? new LogRelay(this.log, false);
    // From dist/ the CLI is a sibling folder; from src/ (tsx) use the build.
    this.cliPath = opts.cliPath ?? firstExisting(new URL('../cli/index.js', import.meta.url), new URL('../../dist/cli/index.js', import.meta.url));
    this.guardUrl = new URL(`file://${firstExisting(new URL('./guard.js', import.meta.url), new URL('../../dist/supervisor/guard.js', import.meta.url))}`).href;
    this.cwd = opts.cwd;
    const file = this.configFile;
    this.loadConfig = opts.loadConfig ?? (file === null ? null : () => readConfigFile(file));
  }

  /** The job servers the workers connect to. */
  get servers(): string[] {
    return this.config.servers ?? this.embeddedServers;
  }

  /** Start every configured process. Resolves once each is ready, has failed, or restart timed out. */
  async start(): Promise<void> {
    const started: WorkerProcess[] = [];
    for (const [type, spec] of Object.entries(this.config.workers)) {
      const group = new TypeGroup(type, spec, spec.processes, spec.processes);
      this.groups.set(type, group);
      started.push(...this.reconcile(group).started);
    }
    this.log.info({ types: Object.fromEntries([...this.groups].map(([t, g]) => [t, g.desired])), servers: this.servers }, 'starting worker processes');
    await Promise.all(started.map((p) => p.whenReady(this.config.reload.readyTimeoutMs)));
  }

  // ---- the public operations: ps, scale, reload, close ---------------------------------------

  /** Every process with its state, per type; for `pipeline ps` and the HTTP API. */
  async ps(): Promise<PsResult> {
    return this.snapshot();
  }

  /**
   * Set the number of processes of some types (`{thumbnail: 4, transcode: 1}`): extra ones stop
   * gracefully (highest numbers first), new ones start. A type given up on is tried again.
   */
  scale(counts: Record<string, number>, opts: ScaleOptions = {}): Promise<ScaleResult> {
    if (typeof counts !== 'object' || counts === null || Array.isArray(counts) || Object.keys(counts).length === 0) {
      return Promise.reject(invalidArgument('object of TYPE: processes', 'counts', counts));
    }
    for (const [type, n] of Object.entries(counts)) {
      if (!this.groups.has(type) && !BUILTIN_TYPES.includes(type)) {
        return Promise.reject(
          invalidArgument(`a configured worker type (${[...this.groups.keys()].join(', ')}) or one of ${BUILTIN_TYPES.join(', ')}`, 'worker type', type),
        );
      }
      if (!Number.isInteger(n) || n < 0 || n > MAX_PROCESSES_PER_TYPE) {
        return Promise.reject(invalidArgument(`integer between 0 and ${MAX_PROCESSES_PER_TYPE}`, `${type}'s processes`, n));
      }
    }
    return this.exclusive(async () => {
      const scaled: ScaleResult['scaled'] = [];
      const starting: WorkerProcess[] = [];
      const stopping: Promise<void>[] = [];
      for (const [type, n] of Object.entries(counts)) {
        let group = this.groups.get(type);
        if (!group) {
          group = new TypeGroup(type, defaultTypeConfig(type), 0, null);
          this.groups.set(type, group);
        }
        scaled.push({ type, from: group.desired, to: n });
        group.desired = n;
        const revived = this.revive(group);
        const { started, stopped } = this.reconcile(group);
        starting.push(...revived, ...started);
        stopping.push(...stopped);
      }
      this.log.info({ scaled }, 'scaled');
      const notReady = opts.wait ? await this.notReady(starting, stopping) : [];
      return { scaled, notReady, ps: this.snapshot() };
    });
  }

  /**
   * Read the config file again and apply it, then replace every process one at a time: start
   * the replacement, wait until it has registered with every reachable job server, then stop
   * the old one gracefully (its running jobs finish). No job fails or is lost on the way.
   * A count changed in the file wins over an earlier `pipeline scale`; an unchanged one does not.
   * A config that does not load is refused and nothing changes.
   */
  reload(): Promise<ReloadResult> {
    return this.exclusive(async () => {
      const warnings: string[] = [];
      let next = this.loadConfig ? await this.loadConfig() : this.config;
      if ((next.servers === null) !== (this.config.servers === null)) {
        warnings.push('switching between the embedded server and external servers needs a restart of pipeline up; kept the current ones');
        next = { ...next, server: this.config.server, servers: this.config.servers };
      } else if (JSON.stringify(next.server) !== JSON.stringify(this.config.server)) {
        warnings.push('server settings changed: they apply when pipeline up restarts');
      }
      for (const w of warnings) this.log.warn(w);
      this.config = next;
      this.generation++;
      this.log.info({ config: this.configFile, generation: this.generation }, 'reloading');

      // A type gone from the file stops; one that only `pipeline scale` added stays.
      for (const [type, group] of this.groups) {
        if (type in next.workers || group.fileCount === null) continue;
        group.desired = 0;
        this.reconcile(group);
        this.groups.delete(type);
      }
      // Processes started with the new config (new types, more processes, revived types).
      const started: WorkerProcess[] = [];
      for (const [type, spec] of Object.entries(next.workers)) {
        let group = this.groups.get(type);
        if (!group) {
          group = new TypeGroup(type, spec, spec.processes, spec.processes);
          this.groups.set(type, group);
        } else {
          group.spec = spec;
          if (spec.processes !== group.fileCount) group.desired = spec.processes;
          group.fileCount = spec.processes;
        }
        started.push(...this.revive(group), ...this.reconcile(group).started);
      }

      const replaced: ReloadResult['replaced'] = [];
      const failed: ReloadResult['failed'] = [];
      for (const group of this.groups.values()) {
        for (const slot of [...group.slots]) {
          if (this.closing) throw gtError('GT_CLOSED', 'supervisor');
          // Removed meanwhile, or already running the new config (started since, or restarted).
          if (!group.slots.includes(slot) || slot.proc?.generation === this.generation) continue;
          const r = await this.replace(group, slot);
          if ('error' in r) {
            failed.push({ type: group.type, name: slot.name, error: r.error });
            this.log.error({ type: group.type, process: slot.name, err: r.error }, 'reload of this type stopped; its other processes were kept');
            break;
          }
          if (r.newPid !== null) replaced.push({ type: group.type, name: slot.name, oldPid: r.oldPid, newPid: r.newPid });
        }
      }
      const notReady = await this.notReady(
        started,
        [...this.retiring].map((p) => p.whenExited()),
      );
      this.log.info({ replaced: replaced.length, failed: failed.length, notReady: notReady.length }, 'reloaded');
      return { config: this.configFile, replaced, failed, notReady, warnings, ps: this.snapshot() };
    });
  }

  /** Stop every worker process gracefully (SIGKILL after stop.graceMs). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const g of this.groups.values()) for (const s of g.slots) s.clearTimer();
      this.log.info({ processes: this.live.size, graceMs: this.config.stop.graceMs }, 'stopping worker processes');
      await Promise.all([...this.live].map((p) => p.stop(this.config.stop.graceMs)));
      this.log.info('worker processes stopped');
    })();
    return this.closing;
  }

  /** SIGKILL every worker process now (a second SIGTERM to `pipeline up`). */
  kill(): void {
    for (const g of this.groups.values()) for (const s of g.slots) s.clearTimer();
    for (const p of this.live) p.kill();
  }

  // ---- processes ---------------------------------------------------------------------------

  /** One mutation (scale, reload) at a time; ps reads whenever. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(gtError('GT_CLOSED', 'supervisor'));
    const run = this.mutations.then(fn, fn);
    this.mutations = run.catch(() => {});
    return run;
  }

  private spawn(group: TypeGroup, name: string): WorkerProcess {
    const proc = new WorkerProcess({
      type: group.type,
      name,
      cliPath: this.cliPath,
      guardUrl: this.guardUrl,
      command: workerCommand(group.type, group.spec, this.config.settings, this.servers, this.logLevel, this.config.stop.graceMs),
      relay: this.relay,
      generation: this.generation,
      cwd: this.cwd,
    });
    this.live.add(proc);
    proc.once('exit', (info: ExitInfo) => {
      this.live.delete(proc);
      this.exited(group, proc, info);
    });
    this.log.debug({ type: group.type, process: name, workerPid: proc.pid }, 'worker process started');
    return proc;
  }

  private startSlot(group: TypeGroup, slot: Slot): WorkerProcess | null {
    slot.clearTimer();
    if (this.closing) return null;
    slot.waiting = null;
    const proc = this.spawn(group, slot.name);
    slot.proc = proc;
    return proc;
  }

  /**
   * Wait for new processes to be ready (up to reload.readyTimeoutMs) and for `exits`; returns
   * the processes that exited first or timed out, with why.
   */
  private async notReady(procs: WorkerProcess[], exits: Promise<unknown>[]): Promise<NotReady[]> {
    const timeoutMs = this.config.reload.readyTimeoutMs;
    const [ready] = await Promise.all([Promise.all(procs.map((p) => p.whenReady(timeoutMs))), Promise.all(exits)]);
    return procs
      .filter((_, i) => !ready[i])
      .map((p) => ({
        type: p.type,
        name: p.name,
        error: p.exitInfo
          ? `${p.name} exited (${p.exitInfo.signal ?? `code ${p.exitInfo.code}`}) before it was ready`
          : `${p.name} was not ready within ${timeoutMs} ms`,
      }));
  }

  /** Stop a process gracefully; its exit is expected. */
  private retire(proc: WorkerProcess): Promise<void> {
    this.retiring.add(proc);
    this.log.info({ type: proc.type, process: proc.name, workerPid: proc.pid }, 'stopping worker process');
    return proc.stop(this.config.stop.graceMs);
  }

  /** Start or stop processes until the type has as many slots as it should. */
  private reconcile(group: TypeGroup): { started: WorkerProcess[]; stopped: Promise<void>[] } {
    const started: WorkerProcess[] = [];
    const stopped: Promise<void>[] = [];
    while (group.slots.length < group.desired) {
      let index = 1;
      while (group.slots.some((s) => s.index === index)) index++;
      const slot = new Slot(index, `worker:${group.type}#${index}`);
      group.slots.push(slot);
      group.slots.sort((a, b) => a.index - b.index);
      const p = this.startSlot(group, slot);
      if (p) started.push(p);
    }
    while (group.slots.length > group.desired) {
      const slot = group.slots.pop()!;
      slot.clearTimer();
      if (slot.proc) stopped.push(this.retire(slot.proc));
      slot.proc = null;
    }
    return { started, stopped };
  }

  /** Forget a type's crashes and start the slots it gave up on. */
  private revive(group: TypeGroup): WorkerProcess[] {
    group.crashesAtStart = [];
    if (!group.gaveUp) return [];
    group.gaveUp = false;
    const started: WorkerProcess[] = [];
    for (const slot of group.slots) {
      slot.crashes = [];
      if (slot.waiting !== 'gave-up') continue;
      const p = this.startSlot(group, slot);
      if (p) started.push(p);
    }
    return started;
  }

  private exited(group: TypeGroup, proc: WorkerProcess, info: ExitInfo): void {
    const fields = { type: group.type, process: proc.name, workerPid: proc.pid, code: info.code, signal: info.signal };
    if (this.retiring.delete(proc)) {
      this.log.info(fields, 'worker process stopped');
      return;
    }
    const slot = group.slots.find((s) => s.proc === proc);
    const now = Date.now();
    const policy = this.config.restart;
    const uptimeMs = now - proc.startedAt;
    const atStart = proc.readyAt === null || uptimeMs < policy.startupMs;
    if (proc.stopRequested || this.closing) {
      if (slot) slot.proc = null;
      this.log.info(fields, 'worker process stopped');
      return;
    }
    if (atStart) group.crashesAtStart = [...group.crashesAtStart.filter((t) => now - t < policy.windowMs), now];
    this.log.error({ ...fields, uptimeMs, atStart }, 'worker process exited unexpectedly');
    if (!slot) return; // a replacement that never took its slot: reload reports it
    slot.proc = null;
    slot.crashes = [...slot.crashes.filter((t) => now - t < policy.windowMs), now];
    if (!group.gaveUp && atStart && group.crashesAtStart.length > policy.maxCrashes) this.giveUp(group);
    if (group.gaveUp) {
      slot.waiting = 'gave-up';
      return;
    }
    // Doubling with each crash in the window; no jitter, so `pipeline ps` and the log show the
    // configured delays.
    const restartBackoff = new Backoff({ initialDelayMs: policy.initialDelayMs, maxDelayMs: policy.maxDelayMs, jitter: 'none' }, 'restart');
    const delayMs = restartBackoff.delayAfter(slot.crashes.length);
    slot.waiting = 'backoff';
    slot.nextStartAt = now + delayMs;
    slot.timer = setTimeout(() => {
      slot.timer = null;
      slot.restarts++;
      this.log.info({ type: group.type, process: slot.name, restarts: slot.restarts }, 'restarting worker process');
      this.startSlot(group, slot);
    }, delayMs);
    this.log.info({ type: group.type, process: slot.name, delayMs }, 'worker process restarts after a backoff');
  }

  private giveUp(group: TypeGroup): void {
    group.gaveUp = true;
    const { windowMs } = this.config.restart;
    this.log.error(
      { type: group.type, crashes: group.crashesAtStart.length, windowMs },
      `giving up on worker type ${group.type}: its processes keep crashing at start (fix the config, then run pipeline reload, or pipeline scale ` +
        `${group.type}=N)`,
    );
    for (const slot of group.slots) {
      if (slot.proc) continue;
      slot.clearTimer();
      slot.waiting = 'gave-up';
    }
  }

  /** Reload one slot: the replacement registers first, then the old process stops. */
  private async replace(group: TypeGroup, slot: Slot): Promise<{ oldPid: number | null; newPid: number | null } | { error: string }> {
    const proc = this.spawn(group, slot.name);
    const timeoutMs = this.config.reload.readyTimeoutMs;
    const ok = await this.whenRegistered(proc, timeoutMs);
    if (!ok) {
      const why = proc.exitInfo
        ? `its replacement exited (${proc.exitInfo.signal ?? `code ${proc.exitInfo.code}`}) before it registered`
        : `its replacement did not register with ${this.servers.join(', ')} within ${timeoutMs} ms`;
      if (!proc.exitInfo) void this.retire(proc);
      return { error: why };
    }
    if (!group.slots.includes(slot) || this.closing) {
      void this.retire(proc); // scaled away meanwhile
      return { oldPid: null, newPid: null };
    }
    const old = slot.proc;
    slot.clearTimer();
    slot.waiting = null;
    slot.proc = proc;
    if (old) void this.retire(old);
    this.log.info({ type: group.type, process: slot.name, oldPid: old?.pid ?? null, newPid: proc.pid }, 'worker process replaced');
    return { oldPid: old?.pid ?? null, newPid: proc.pid ?? null };
  }

  /**
   * Ready (it reported so over IPC) and listed with its functions by the `workers` admin
   * command of every job server that answers: from then on it takes jobs, so the process it
   * replaces can stop.
   */
  private async whenRegistered(proc: WorkerProcess, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    if (!(await proc.whenReady(timeoutMs))) return false;
    const servers = this.servers.map((s) => parseServer(s));
    while (!proc.exitInfo && Date.now() < deadline) {
      let answered = 0;
      let listed = 0;
      for (const { host, port } of servers) {
        try {
          const rows = await adminWorkers(host, port);
          answered++;
          if (rows.some((w) => w.functions.length > 0 && proc.command.isMine(w.clientId, proc.pid ?? -1))) listed++;
        } catch {
          // A server that does not answer cannot hold the old process's registration either.
        }
      }
      if (answered > 0 && listed === answered) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  private snapshot(): PsResult {
    return snapshot({
      groups: this.groups,
      live: this.live,
      retiring: this.retiring,
      windowMs: this.config.restart.windowMs,
      startedAt: this.startedAt,
      servers: this.servers,
      configFile: this.configFile,
    });
  }
}
