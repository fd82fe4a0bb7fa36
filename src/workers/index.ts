// The domain workers by function name: what `pipeline worker`, `pipeline run` and the
// supervisor start.

import os from 'node:os';
import { cacheWarmWorker } from './cache-warm.js';
import { emailWorker } from './email.js';
import { probeWorker } from './probe.js';
import { thumbnailWorker } from './thumbnail.js';
import { transcodeWorker } from './transcode.js';
import type { DomainWorkerFactory } from './types.js';
import { waveformWorker } from './waveform.js';
import { webhookWorker } from './webhook.js';

export const DOMAIN_WORKERS = {
  thumbnail: thumbnailWorker,
  transcode: transcodeWorker,
  email: emailWorker,
  'cache-warm': cacheWarmWorker,
  probe: probeWorker,
  waveform: waveformWorker,
  webhook: webhookWorker,
} as const satisfies Record<string, DomainWorkerFactory>;

export type DomainWorkerName = keyof typeof DOMAIN_WORKERS;
export const DOMAIN_WORKER_NAMES = Object.keys(DOMAIN_WORKERS) as DomainWorkerName[];

/**
 * Jobs at once of a worker type when nothing sets it: `pipeline worker` without -c or TYPE=N,
 * `pipeline up` without `concurrency`, and `pipeline run`'s embedded workers. A thumbnail job
 * keeps one to two libvips threads busy (a JPEG decodes on one), so one job more than the cores
 * keeps every core busy (docs/benchmarks.md); other types run one job at a time.
 */
export function defaultConcurrency(type: string): number {
  return type === 'thumbnail' ? os.availableParallelism() + 1 : 1;
}

export function isDomainWorkerName(name: string): name is DomainWorkerName {
  return Object.hasOwn(DOMAIN_WORKERS, name);
}

export { runJob, type ServedType, type ServedWorkers, type ServeOptions, serveDomainWorkers } from './runtime.js';
export type { DomainWorker, DomainWorkerFactory, JobContext, WorkerSettings } from './types.js';
