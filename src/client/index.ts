// geartrain's Gearman client library: Client (submit, background, tasks, status) and Worker.

export { parseServer, formatAddress, DEFAULT_PORT, type ServerAddress } from './address.js';
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
export { Worker, SERVER_TIMEOUT_GRACE_MS, type FunctionOptions, type JobEvent, type WorkerOptions } from './worker.js';
export { WorkFail, type JobHandler, type WorkerJob } from './worker-job.js';
export { WorkerCheck, type WorkerCheckOptions } from './worker-check.js';
