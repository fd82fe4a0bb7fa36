// Serves domain workers over Gearman: one Worker per type (so each type has its own
// concurrency), JSON in and out, the payload checked before any work, and one log line per job.

import { Worker } from '../client/worker.js';
import type { WorkerJob } from '../client/worker-job.js';
import { GeartrainError, invalidPayload } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import type { DomainWorker, DomainWorkerFactory, JobContext, WorkerSettings } from './types.js';

export interface ServedType {
  factory: DomainWorkerFactory;
  /** Jobs of this type run at once in this process. @defaultValue 1 */
  concurrency?: number;
  /** Overrides the worker's own timeout (ms). */
  timeoutMs?: number;
}

export interface ServeOptions {
  /** @defaultValue ['127.0.0.1:4730'] */
  servers?: string[];
  types: ServedType[];
  settings?: WorkerSettings;
  /** @defaultValue a silent logger */
  logger?: Logger;
}

export interface ServedWorkers {
  /** The Gearman Worker serving each function name. */
  readonly workers: ReadonlyMap<string, Worker>;
  /** Jobs finished per function since start (for `pipeline ps`). */
  readonly done: ReadonlyMap<string, number>;
  /** Stop grabbing, let running jobs finish (for up to `timeoutMs`, default 30000), disconnect. Idempotent. */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

/**
 * The jobs of one type whose work is running. The Worker frees a job's place in its concurrency
 * when the job times out or its connection is lost, while the work may still be ending (a
 * decode runs on to its own limit); a new job waits here for that work to end, so no more than
 * `size` run at once.
 */
class WorkSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async take(): Promise<void> {
    if (this.running < this.size) {
      this.running++;
      return;
    }
    // At most `size` jobs wait (the Worker's own concurrency bounds them), so shift() is cheap.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hand the slot to the next waiting job, or free it. */
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

/** Decode, check and run one job (failing at `deadline`, on performance.now()'s clock); returns the JSON result text. */
export async function runJob(dw: DomainWorker, job: WorkerJob, log: Logger, deadline?: number): Promise<string> {
  const text = job.text();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalidPayload('a JSON object', `${dw.name} payload`, text);
  }
  const payload = dw.parse(raw);
  const ctx: JobContext = {
    progress: (done, total) => job.status(Math.max(0, Math.floor(done)), Math.max(0, Math.floor(total))),
    signal: job.signal,
    log,
    ...(deadline !== undefined ? { deadline } : {}),
  };
  return JSON.stringify(await dw.run(payload, ctx));
}

/** Connect one Worker per type and serve its function until close(). */
export async function serveDomainWorkers(opts: ServeOptions): Promise<ServedWorkers> {
  const log = opts.logger ?? silentLogger;
  const settings: WorkerSettings = { ...opts.settings, servers: opts.servers ?? ['127.0.0.1:4730'] };
  const workers = new Map<string, Worker>();
  const done = new Map<string, number>();
  const domain: DomainWorker[] = [];
  for (const t of opts.types) {
    const dw = t.factory(settings, log);
    domain.push(dw);
    const concurrency = t.concurrency ?? 1;
    const timeoutMs = t.timeoutMs ?? dw.timeoutMs;
    const slots = new WorkSlots(concurrency);
    const worker = new Worker({
      servers: opts.servers,
      concurrency,
      clientId: `geartrain-${dw.name}-${process.pid}`,
      // The Worker's own per-job line would repeat ours; keep its connection warnings.
      logger: log.child({}, { level: log.levelVal > 40 ? log.level : 'warn' }),
    });
    worker.addFunction(
      dw.name,
      async (job) => {
        const jobLog = log.child({ fn: dw.name, job: job.handle });
        // The deadline counts from assignment, as the Worker's timer does.
        const t0 = performance.now();
        const deadline = t0 + timeoutMs;
        await slots.take();
        try {
          job.signal.throwIfAborted();
          const result = await runJob(dw, job, jobLog, deadline);
          jobLog.info({ ms: Math.round(performance.now() - t0), outcome: 'complete' }, 'job done');
          return result;
        } catch (err) {
          const code = err instanceof GeartrainError ? err.code : undefined;
          const message = err instanceof Error ? err.message : String(err);
          jobLog.warn({ ms: Math.round(performance.now() - t0), outcome: 'failed', code, err: message }, 'job failed');
          throw err;
        } finally {
          slots.give();
          done.set(dw.name, (done.get(dw.name) ?? 0) + 1);
        }
      },
      { timeout: timeoutMs },
    );
    workers.set(dw.name, worker);
  }
  await Promise.all([...workers.values()].map((w) => w.start()));
  let closing: Promise<void> | null = null;
  return {
    workers,
    done,
    close: (closeOpts) =>
      (closing ??= (async () => {
        await Promise.all([...workers.values()].map((w) => w.close(closeOpts)));
        await Promise.all(domain.map((d) => d.close?.()));
      })()),
  };
}
