// Serves domain workers over Gearman: one Worker per type (so each type has its own
// concurrency), JSON in and out, the payload checked before any work, and one log line per job.

import { Worker } from '../client/worker.js';
import type { WorkerJob } from '../client/worker-job.js';
import { GeartrainError, invalidPayload } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
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

/** Decode, check and run one job; returns the JSON result text. */
export async function runJob(dw: DomainWorker, job: WorkerJob, log: Logger): Promise<string> {
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
    const worker = new Worker({
      servers: opts.servers,
      concurrency: t.concurrency ?? 1,
      clientId: `geartrain-${dw.name}-${process.pid}`,
      // The Worker's own per-job line would repeat ours; keep its connection warnings.
      logger: log.child({}, { level: log.levelVal > 40 ? log.level : 'warn' }),
    });
    worker.addFunction(
      dw.name,
      async (job) => {
        const jobLog = log.child({ fn: dw.name, job: job.handle });
        const t0 = performance.now();
        try {
          const result = await runJob(dw, job, jobLog);
          jobLog.info({ ms: Math.round(performance.now() - t0), outcome: 'complete' }, 'job done');
          return result;
        } catch (err) {
          const code = err instanceof GeartrainError ? err.code : undefined;
          const message = err instanceof Error ? err.message : String(err);
          jobLog.warn({ ms: Math.round(performance.now() - t0), outcome: 'failed', code, err: message }, 'job failed');
          throw err;
        } finally {
          done.set(dw.name, (done.get(dw.name) ?? 0) + 1);
        }
      },
      { timeout: t.timeoutMs ?? dw.timeoutMs },
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
