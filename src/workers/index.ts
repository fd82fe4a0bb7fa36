// The domain workers by function name: what `pipeline worker`, `pipeline run` and the
// supervisor start.

import type { DomainWorkerFactory } from './types.js';
import { thumbnailWorker } from './thumbnail.js';
import { transcodeWorker } from './transcode.js';
import { emailWorker } from './email.js';
import { cacheWarmWorker } from './cache-warm.js';
import { probeWorker } from './probe.js';
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

export function isDomainWorkerName(name: string): name is DomainWorkerName {
  return Object.hasOwn(DOMAIN_WORKERS, name);
}

export type { DomainWorker, DomainWorkerFactory, JobContext, WorkerSettings } from './types.js';
export { serveDomainWorkers, runJob, type ServeOptions, type ServedType, type ServedWorkers } from './runtime.js';
