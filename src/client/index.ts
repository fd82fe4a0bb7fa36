// geartrain's Gearman client library: Client (submit, background, tasks, status) and Worker.

export { DEFAULT_PORT, formatAddress, parseServer, type ServerAddress } from './address.js';
export type { ReconnectOptions } from './backoff.js';
export { Client } from './client.js';
export type {
  ClientOptions,
  JobExceptionError,
  JobRef,
  JobStatus,
  PriorityName,
  SubmitOptions,
  Task,
  TaskOptions,
  TaskResult,
} from './types.js';
export { type FunctionOptions, type JobEvent, SERVER_TIMEOUT_GRACE_MS, Worker, type WorkerOptions } from './worker.js';
export { WorkerCheck, type WorkerCheckOptions } from './worker-check.js';
export { type JobHandler, type WorkerJob, WorkFail } from './worker-job.js';
