// geartrain's public API: the Gearman client and worker, the job server, the domain workers,
// pipelines, and the error registry.

export * from './client/index.js';
export { GearmanServer, type ServerOptions } from './server/server.js';
export { createStore } from './store/index.js';
export { GeartrainError, ERRORS, type ErrorCode } from './errors.js';
export { DOMAIN_WORKERS, serveDomainWorkers, type DomainWorker, type DomainWorkerFactory, type WorkerSettings, type ServeOptions } from './workers/index.js';
export {
  BUILTIN_PIPELINES,
  findPipeline,
  pipeline,
  checkPipeline,
  loadPipelineFile,
  runPipeline,
  summarize,
  resolveInput,
  FileRunStore,
  type PipelineDef,
  type StepDef,
  type RunRecord,
  type RunEvent,
  type RunSummary,
} from './pipelines/index.js';
export { pipelineWorker, pipelineFunction, runIdFor, runStoreFor } from './pipelines/worker.js';
export { startEmbedded } from './pipelines/embedded.js';
