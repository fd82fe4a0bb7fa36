#!/usr/bin/env node
// The `pipeline` / `geartrain` command line. Each command lives in its own file.

import { Command } from 'commander';
import { VERSION } from '../version.js';
import { GeartrainError } from '../errors.js';
import { registerServer } from './server.js';

const program = new Command();
program
  .name('pipeline')
  .description('geartrain: a Gearman-compatible job server, media workers and pipelines')
  .version(VERSION)
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', process.env.GEARTRAIN_LOG_LEVEL ?? 'info')
  .showHelpAfterError();

registerServer(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof GeartrainError) {
    process.stderr.write(`pipeline: ${err.message} (${err.code})\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`pipeline: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
