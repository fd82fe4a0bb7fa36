#!/usr/bin/env node
// The `pipeline` / `geartrain` command line. Each command lives in its own file.

import { Command } from 'commander';
import { GeartrainError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerAdmin } from './admin.js';
import { registerExec } from './exec.js';
import { registerJobs } from './jobs.js';
import { parseLogLevel } from './options.js';
import { registerRun } from './run.js';
import { registerServer } from './server.js';
import { registerSubmit } from './submit.js';
import { registerSupervise } from './supervise.js';
import { registerUp } from './up.js';
import { registerWorker } from './worker.js';

const program = new Command();
program
  .name('pipeline')
  .description('geartrain: a Gearman-compatible job server, media workers and pipelines')
  .version(VERSION)
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', parseLogLevel, process.env.GEARTRAIN_LOG_LEVEL ?? 'info')
  .showHelpAfterError('(run with --help for usage)')
  // A bad flag or argument exits 2, like GT_INVALID_ARGUMENT; --help and --version exit 0.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

registerServer(program);
registerSubmit(program);
registerExec(program);
registerAdmin(program);
registerJobs(program);
registerWorker(program);
registerRun(program);
registerUp(program);
registerSupervise(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof GeartrainError) {
    process.stderr.write(`pipeline: ${err.message} (${err.code})\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`pipeline: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
