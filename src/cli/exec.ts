// `pipeline exec -f FN -- CMD [ARGS...]`: a worker that runs a command per job, like
// `gearman -w -f FN -- CMD`. The payload is the command's stdin, its stdout the result;
// a non-zero exit fails the job. Named `exec` so `pipeline worker TYPE…` stays free for the
// domain workers.

import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { WorkFail, Worker, type WorkerJob } from '../client/index.js';
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
      const worker = new Worker({ servers: opts.server, concurrency: opts.concurrency, clientId: opts.clientId, logger: log });
      let done = 0;
      const finished = new Promise<void>((resolve) => {
        worker.on('job', (info: { fn: string; handle: string; ms: number; outcome: string }) => {
          log.info(info, 'job');
          if (opts.count !== undefined && ++done >= opts.count) resolve();
        });
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      for (const fn of opts.function) worker.addFunction(fn, (job) => runCommand(command, job), opts.timeout ? { timeout: opts.timeout } : {});
      await worker.start();
      log.info({ functions: opts.function, command }, 'worker ready');
      await finished;
      await worker.close();
    });
}
