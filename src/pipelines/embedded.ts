// Everything `pipeline run` needs when no --server is given: a job server in this process on a
// free loopback port (jobs in memory: the run record, not the queue, is what resumes a run) and
// in-process workers for the functions the pipeline calls.

import { type Logger, silentLogger } from '../log.js';
import { GearmanServer } from '../server/server.js';
import { DOMAIN_WORKERS, defaultConcurrency, isDomainWorkerName } from '../workers/index.js';
import { type ServedType, type ServedWorkers, serveDomainWorkers } from '../workers/runtime.js';
import type { WorkerSettings } from '../workers/types.js';
import type { PipelineDef } from './types.js';

export interface Embedded {
  servers: string[];
  workers: ServedWorkers;
  close(): Promise<void>;
}

export async function startEmbedded(def: PipelineDef, opts: { concurrency?: number; settings?: WorkerSettings; logger?: Logger } = {}): Promise<Embedded> {
  const log = opts.logger ?? silentLogger;
  const server = new GearmanServer({ host: '127.0.0.1', port: 0, logger: log });
  const { port } = await server.listen();
  const servers = [`127.0.0.1:${port}`];
  const fns = new Set(def.steps.map((s) => s.fn));
  const types: ServedType[] = [];
  for (const fn of fns) {
    if (!isDomainWorkerName(fn)) continue; // served elsewhere, or nowhere: its tasks wait
    // --concurrency sets the media types; the others are light and run two jobs at a time.
    const media = fn === 'thumbnail' || fn === 'transcode';
    types.push({ factory: DOMAIN_WORKERS[fn], concurrency: media ? (opts.concurrency ?? defaultConcurrency(fn)) : 2 });
  }
  let workers: ServedWorkers;
  try {
    workers = await serveDomainWorkers({ servers, types, settings: opts.settings, logger: log });
  } catch (err) {
    await server.close();
    throw err;
  }
  return {
    servers,
    workers,
    close: async () => {
      await workers.close();
      await server.close();
    },
  };
}
