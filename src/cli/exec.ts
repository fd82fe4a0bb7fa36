// `pipeline exec -f FN -- CMD [ARGS...]`: a worker that runs a command per job, like
// `gearman -w -f FN -- CMD`. The payload is the command's stdin, its stdout the result;
// a non-zero exit fails the job. Named `exec` so `pipeline worker TYPE…` stays free for the
// domain workers.

import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { Worker, type WorkerJob, WorkFail } from '../client/index.js';
import { report, reportJobs } from '../supervisor/ipc.js';
import { commandLogger, parsePositiveInt, parseServers } from './options.js';

interface ExecOpts {
  function: string[];
  server: string[];
  concurrency: number;
  count?: number;
  timeout?: number;
  clientId?: string;
}

function runCommand(command: string[], job: WorkerJob): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, GEARMAN_FUNCTION: job.fn, GEARMAN_HANDLE: job.handle, GEARMAN_UNIQUE: job.unique },
      signal: job.signal,
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', (e) => reject(new WorkFail(`${command[0]}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new WorkFail(`${command.join(' ')} exited with ${signal ?? code}${err ? `: ${err.trim()}` : ''}`));
    });
    child.stdin.on('error', () => {}); // the command may exit without reading its input
    child.stdin.end(job.payload);
  });
}

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run a command for each job of the given functions (like gearman -w)')
    .requiredOption('-f, --function <name>', 'function to serve (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .argument('<command...>', 'command and arguments, after --')
    .option('-s, --server <host:port,...>', 'job servers (the worker connects to each)', parseServers, ['127.0.0.1:4730'])
    .option('-c, --concurrency <n>', 'jobs run at once', parsePositiveInt('--concurrency'), 1)
    .option('-n, --count <n>', 'exit after this many jobs', parsePositiveInt('--count'))
    .option('--timeout <ms>', 'fail a job whose command runs longer', parsePositiveInt('--timeout'))
    .option('--client-id <id>', 'id shown by `pipeline workers`')
    .action(async (command: string[], opts: ExecOpts, cmd: Command) => {
      const log = commandLogger(cmd, 'exec');
      const count = opts.count;
      // No point holding more grabs than jobs left to run.
      const concurrency = count === undefined ? opts.concurrency : Math.min(opts.concurrency, count);
      const worker = new Worker({ servers: opts.server, concurrency, clientId: opts.clientId, logger: log });
      let stopping: Promise<void> | null = null;
      let stopped!: () => void;
      const finished = new Promise<void>((resolve) => (stopped = resolve));
      const stop = (closeOpts?: { timeoutMs: number }): void => {
        stopping ??= worker.close(closeOpts);
        stopped();
      };
      worker.on('job', (info: { fn: string; handle: string; ms: number; outcome: string }) => log.info(info, 'job'));
      reportJobs(worker);
      process.once('SIGINT', () => stop());
      process.once('SIGTERM', () => stop());
      let started = 0;
      const handler = (job: WorkerJob): Promise<Buffer> => {
        const run = runCommand(command, job);
        // Stop grabbing as the last job starts, not once it ends: the worker grabs again as soon
        // as a job is assigned, and a job grabbed past the count would be released by the
        // disconnect, costing it a retry (gearmand --job-retries drops it). Jobs already running
        // finish; --timeout bounds each, so the close waits for them without a deadline.
        if (count !== undefined && ++started === count) stop({ timeoutMs: MAX_TIMER_MS });
        return run;
      };
      for (const fn of opts.function) worker.addFunction(fn, handler, opts.timeout ? { timeout: opts.timeout } : {});
      if (stopping === null) await worker.start();
      log.info({ functions: opts.function, command }, 'worker ready');
      report({ gt: 'ready' });
      await finished;
      await stopping;
    });
}

/** The longest delay setTimeout honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
