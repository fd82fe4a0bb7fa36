// `pipeline worker [TYPE[=N]…]`: serve domain workers (thumbnail, transcode, email, cache-warm)
// to the job servers, each type with its own concurrency. SIGTERM/SIGINT finish running jobs.

import type { Command } from 'commander';
import { invalidArgument } from '../errors.js';
import { BUILTIN_PIPELINES, findPipeline, pipelineFiles } from '../pipelines/index.js';
import { pipelineWorker } from '../pipelines/worker.js';
import { report, reportJobs } from '../supervisor/ipc.js';
import {
  DOMAIN_WORKER_NAMES,
  DOMAIN_WORKERS,
  defaultConcurrency,
  isDomainWorkerName,
  type ServedType,
  serveDomainWorkers,
  type WorkerSettings,
} from '../workers/index.js';
import { commandLogger, parseNonNegativeInt, parsePositiveInt, parseServers, parseSize } from './options.js';

interface WorkerOpts {
  server: string[];
  concurrency?: number;
  allowPath?: string[];
  maxPixels?: number;
  maxFileSize?: number;
  ffmpegTimeout?: number;
  maxDuration?: number;
  smtp?: string;
  mailFrom?: string;
  templates?: string;
  outbox?: string;
  allowedHosts?: string;
  webhookSecret?: string;
  graceMs: number;
}

export interface TypeCount {
  type: string;
  count: number | undefined;
}

/** `thumbnail=2` → {type: 'thumbnail', count: 2}; checks the type against the known workers. */
export function parseTypeCount(arg: string): TypeCount {
  const m = /^([a-z][a-z0-9-]*)(?:=(\d+))?$/.exec(arg);
  if (!m) throw invalidArgument('TYPE or TYPE=N (e.g. thumbnail=2)', 'worker type', arg);
  const count = m[2] === undefined ? undefined : Number(m[2]);
  if (count !== undefined && count < 1) throw invalidArgument('positive integer', `${m[1]}'s concurrency`, count);
  return { type: m[1]!, count };
}

/** Worker settings from flags, falling back to the environment. */
export function settingsFrom(opts: WorkerOpts, env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const list = (v: string | undefined): string[] | undefined =>
    v
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return {
    allowPaths: opts.allowPath ?? list(env.GEARTRAIN_ALLOW_PATHS),
    thumbnail: { maxPixels: opts.maxPixels, maxFileBytes: opts.maxFileSize },
    transcode: { timeoutMs: opts.ffmpegTimeout },
    waveform: { maxDurationSeconds: opts.maxDuration },
    email: {
      smtpUrl: opts.smtp ?? env.GEARTRAIN_SMTP_URL,
      from: opts.mailFrom ?? env.GEARTRAIN_MAIL_FROM,
      templatesDir: opts.templates,
      outboxDir: opts.outbox,
    },
    cacheWarm: { allowedHosts: list(opts.allowedHosts ?? env.GEARTRAIN_ALLOWED_HOSTS) },
    webhook: { secret: opts.webhookSecret ?? env.GEARTRAIN_WEBHOOK_SECRET },
  };
}

/** The media limits and mail settings `pipeline worker` and `pipeline run` (for its embedded workers) both take. */
export function addWorkerLimitFlags(cmd: Command): Command {
  return cmd
    .option('--max-pixels <n>', 'thumbnail: most pixels a job decodes, width × height × frames (default 50000000)', parsePositiveInt('--max-pixels'))
    .option('--max-file-size <size>', 'thumbnail: largest input file, e.g. 100m (default 100m)', parseSize)
    .option('--smtp <url>', 'email: smtp://user:pass@host:port (GEARTRAIN_SMTP_URL); without it mail goes to the outbox')
    .option('--mail-from <address>', 'email: default From address (GEARTRAIN_MAIL_FROM)');
}

export function registerWorker(program: Command): void {
  const worker = program
    .command('worker')
    .description(`serve domain workers: ${DOMAIN_WORKER_NAMES.join(', ')} (all when none is named), and \`pipeline\` (drives enqueued pipeline runs)`)
    .argument(
      '[types...]',
      'worker types, each optionally TYPE=N for its own concurrency; `pipeline` serves pipeline:NAME for every built-in and ./pipelines file',
    )
    .option(
      '-s, --server <host:port,...>',
      'job servers (each worker connects to every one)',
      parseServers,
      process.env.GEARTRAIN_SERVERS ? parseServers(process.env.GEARTRAIN_SERVERS) : ['127.0.0.1:4730'],
    )
    .option(
      '-c, --concurrency <n>',
      'jobs run at once per type, unless TYPE=N says otherwise (default: cores + 1 for thumbnail, 1 for the others)',
      parsePositiveInt('--concurrency'),
    )
    .option('--allow-path <dir...>', 'only read and write files under these folders, links resolved (GEARTRAIN_ALLOW_PATHS)');
  addWorkerLimitFlags(worker)
    .option('--ffmpeg-timeout <ms>', 'transcode and waveform: kill ffmpeg after this long (default 3600000)', parsePositiveInt('--ffmpeg-timeout'))
    .option('--max-duration <seconds>', 'waveform: longest audio, by its header and by the samples decoded (default 10800)', parsePositiveInt('--max-duration'))
    .option('--templates <dir>', "email: templates folder (default: the package's fixtures/email)")
    .option('--outbox <dir>', 'email: folder for .eml files when no SMTP is set (default .geartrain/outbox)')
    .option('--grace-ms <ms>', 'on SIGTERM, let running jobs finish for this long, then fail them (retried)', parseNonNegativeInt('--grace-ms'), 30_000)
    .option('--allowed-hosts <list>', 'cache-warm and webhook: comma-separated hosts URLs may point at (GEARTRAIN_ALLOWED_HOSTS)')
    .option(
      '--webhook-secret <secret>',
      'webhook: HMAC-SHA256 signing key, at least 16 characters (GEARTRAIN_WEBHOOK_SECRET; prefer the variable: flags show in ps)',
    )
    .action(async (args: string[], opts: WorkerOpts, cmd: Command) => {
      const log = commandLogger(cmd, 'worker');
      const wanted = args.length === 0 ? DOMAIN_WORKER_NAMES.map((type) => ({ type, count: undefined })) : args.map(parseTypeCount);
      const types: ServedType[] = [];
      const seen = new Set<string>();
      for (const { type, count } of wanted) {
        if (type === 'pipeline') {
          if (seen.has(type)) throw invalidArgument('each worker type once', 'worker types', args.join(' '));
          seen.add(type);
          const defs = [...BUILTIN_PIPELINES.values()];
          for (const f of await pipelineFiles()) defs.push(await findPipeline(f));
          for (const def of defs) types.push({ factory: pipelineWorker(def), concurrency: count ?? Math.max(opts.concurrency ?? 1, 4) });
          continue;
        }
        if (!isDomainWorkerName(type)) throw invalidArgument(`one of ${[...DOMAIN_WORKER_NAMES, 'pipeline'].join(', ')}`, 'worker type', type);
        if (seen.has(type)) throw invalidArgument('each worker type once', 'worker types', args.join(' '));
        seen.add(type);
        types.push({ factory: DOMAIN_WORKERS[type], concurrency: count ?? opts.concurrency ?? defaultConcurrency(type) });
      }
      const served = await serveDomainWorkers({ servers: opts.server, types, settings: settingsFrom(opts), logger: log });
      for (const w of served.workers.values()) reportJobs(w);
      log.info({ functions: [...served.workers.keys()], servers: opts.server }, 'worker ready');
      report({ gt: 'ready' });
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          log.info({ signal }, 'stopping: finishing running jobs');
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await served.close({ timeoutMs: opts.graceMs });
      log.info('worker stopped');
    });
}
