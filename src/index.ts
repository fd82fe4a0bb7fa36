// geartrain's public API: the Gearman client and worker, the job server, and the error registry.

export * from './client/index.js';
export { GearmanServer, type ServerOptions } from './server/server.js';
export { GeartrainError, ERRORS, type ErrorCode } from './errors.js';
