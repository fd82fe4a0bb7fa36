// What a worker process tells the `pipeline up` that started it, over the IPC channel node opens
// between them: that it serves its functions (ready), and each job it finishes. Log lines are for
// people and may be filtered out (`--log-level warn`); these messages are sent at every level.

import type { EventEmitter } from 'node:events';

export type WorkerReport = { gt: 'ready' } | { gt: 'job'; ok: boolean };

export function isWorkerReport(v: unknown): v is WorkerReport {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return m.gt === 'ready' || (m.gt === 'job' && typeof m.ok === 'boolean');
}

/** Started by `pipeline up`: it names the process and holds the channel open. */
function supervised(): boolean {
  return process.env.GEARTRAIN_PROCESS_NAME !== undefined && typeof process.send === 'function' && process.connected;
}

/** Send a report to the supervisor; without one, nothing. */
export function report(msg: WorkerReport): void {
  if (!supervised()) return;
  // The callback turns a channel closed meanwhile (the supervisor died) into a no-op, not an error.
  process.send!(msg, undefined, {}, () => {});
}

/** Report every job a Worker finishes (its 'job' event: {outcome: complete|fail|exception}). */
export function reportJobs(worker: EventEmitter): void {
  if (!supervised()) return;
  worker.on('job', (e: { outcome: string }) => report({ gt: 'job', ok: e.outcome === 'complete' }));
}
