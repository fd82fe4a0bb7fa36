// geartrain's public API: the Gearman client and worker, the job server, the domain workers,
// pipelines, and the error registry.

export * from './client/index.js';
export { ERRORS, type ErrorCode, GeartrainError } from './errors.js';
export { startEmbedded } from './pipelines/embedded.js';
export {
  BUILTIN_PIPELINES,
  checkPipeline,
  FileRunStore,
  findPipeline,
  loadPipelineFile,
  type PipelineDef,
  pipeline,
  type RunEvent,
  type RunRecord,
  type RunSummary,
  resolveInput,
  runPipeline,
  type StepDef,
  summarize,
} from './pipelines/index.js';
export { pipelineFunction, pipelineWorker, runIdFor, runStoreFor } from './pipelines/worker.js';
export { GearmanServer, type ServerOptions } from './server/server.js';
export { createStore } from './store/index.js';
export { DOMAIN_WORKERS, type DomainWorker, type DomainWorkerFactory, type ServeOptions, serveDomainWorkers, type WorkerSettings } from './workers/index.js';
