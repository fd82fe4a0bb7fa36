// `pipeline server`: run the job server in the foreground until SIGINT/SIGTERM (graceful:
// running jobs finish within the grace period, nothing queued is lost).

import { type Command, InvalidArgumentError } from 'commander';
import { GeartrainError } from '../errors.js';
import { runsIn } from '../pipelines/worker.js';
import { tuneHeapGrowth } from '../server/heap.js';
import { DEFAULT_CONNECTION_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from '../server/http/options.js';
import { backoffPolicy } from '../server/retry.js';
import { GearmanServer } from '../server/server.js';
import { createStore, DEFAULT_STORE_URL } from '../store/index.js';
import { commandLogger, parsePort, parsePositiveInt, parseSize } from './options.js';

interface ServerOpts {
  host: string;
  port: number;
  maxPacketSize: number;
  maxFunctionsPerWorker: number;
  maxBuffered?: number;
  packetTimeout: number;
  adminAllow?: string[];
  store?: string;
  maxAttempts: number;
  retryDelay: number;
  retentionDays: number;
  leaseMs: number;
  serverId?: string;
  graceMs: number;
  httpPort?: number;
  httpHost: string;
  httpToken?: string;
  httpBodyLimit: number;
  httpRequestTimeout: number;
  httpConnectionTimeout: number;
  runs?: string[];
}

/** Redact the password of a URL for logs and messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

export function registerServer(program: Command): void {
  program
    .command('server')
    .description('run the Gearman-compatible job server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 picks a free one)', parsePort, 4730)
    .option('--store <url>', `job store: sqlite:PATH, memory:, mysql://…, postgres://…, redis://… (env GEARTRAIN_STORE; default ${DEFAULT_STORE_URL})`)
    .option('--max-attempts <n>', 'attempts per background job before it is dead', parsePositiveInt('--max-attempts'), 3)
    .option('--retry-delay <ms>', 'first retry delay; doubles per attempt, with jitter', parsePositiveInt('--retry-delay'), 1000)
    .option('--retention-days <n>', 'prune done and cancelled jobs after this many days (0 keeps them)', (v) => parseNonNegative('--retention-days', v), 7)
    .option('--lease-ms <ms>', "how long a dead server's jobs wait before another server sharing the store runs them", parsePositiveInt('--lease-ms'), 30_000)
    .option('--server-id <id>', 'name in the job log (default host:port); a restart under the same name reclaims its jobs at once')
    .option('--grace-ms <ms>', 'on SIGTERM, how long running jobs may take to finish', parsePositiveInt('--grace-ms'), 30_000)
    .option('--max-packet-size <bytes>', 'largest packet accepted, e.g. 64m', parseSize, 64 * 1024 * 1024)
    .option('--max-functions-per-worker <n>', 'functions one worker connection may register (CAN_DO)', parsePositiveInt('--max-functions-per-worker'), 1000)
    .option(
      '--max-buffered <bytes>',
      'bytes of unfinished packets held across all connections, e.g. 256m (at least --max-packet-size); past it the connection holding the most is ' +
        'closed (default: 256m)',
      parseSize,
    )
    .option('--packet-timeout <ms>', 'close a connection whose unfinished packet receives nothing for this long', parsePositiveInt('--packet-timeout'), 30_000)
    .option(
      '--admin-allow <addresses...>',
      'when listening beyond loopback: addresses/CIDRs that may run admin commands that change state or show payloads (comma or space separated; ' +
        'default: loopback)',
    )
    .option('--http-port <port>', 'serve the HTTP API, dashboard and /metrics on this port (0 picks a free one; default: no HTTP)', parsePort)
    .option('--http-host <host>', 'address of the HTTP port; one that is not loopback needs a token', '127.0.0.1')
    .option('--http-token <token>', 'bearer token the HTTP API and /metrics ask for (env GEARTRAIN_HTTP_TOKEN)')
    .option('--runs <dir...>', 'HTTP API and dashboard: show the pipeline runs recorded under these output folders')
    .option('--http-body-limit <bytes>', 'largest HTTP request body, e.g. 1m', parseSize, 1024 * 1024)
    .option(
      '--http-request-timeout <ms>',
      'longest a client may take to send a whole HTTP request (408 past it)',
      parsePositiveInt('--http-request-timeout'),
      DEFAULT_REQUEST_TIMEOUT_MS,
    )
    .option(
      '--http-connection-timeout <ms>',
      'close an HTTP connection with no traffic for this long',
      parsePositiveInt('--http-connection-timeout'),
      DEFAULT_CONNECTION_TIMEOUT_MS,
    )
    .action(async (opts: ServerOpts, cmd: Command) => {
      const log = commandLogger(cmd, 'server');
      tuneHeapGrowth();
      const token = opts.httpToken ?? (process.env.GEARTRAIN_HTTP_TOKEN || undefined);
      if (opts.httpPort === undefined) {
        for (const flag of ['httpHost', 'httpToken', 'httpBodyLimit', 'httpRequestTimeout', 'httpConnectionTimeout', 'runs'] as const) {
          if (cmd.getOptionValueSource(flag) === 'cli') {
            const name = `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
            throw new GeartrainError('GT_INVALID_ARGUMENT', `${name} needs --http-port (the HTTP API is off without it)`);
          }
        }
      }
      const http =
        opts.httpPort === undefined
          ? undefined
          : {
              port: opts.httpPort,
              host: opts.httpHost,
              token,
              bodyLimit: opts.httpBodyLimit,
              requestTimeoutMs: opts.httpRequestTimeout,
              connectionTimeoutMs: opts.httpConnectionTimeout,
            };
      const url = opts.store ?? process.env.GEARTRAIN_STORE ?? DEFAULT_STORE_URL;
      const store = await createStore(url);
      const server = new GearmanServer({
        host: opts.host,
        port: opts.port,
        maxPacketSize: opts.maxPacketSize,
        maxFunctionsPerWorker: opts.maxFunctionsPerWorker,
        maxBuffered: opts.maxBuffered,
        packetTimeoutMs: opts.packetTimeout,
        ...(opts.adminAllow
          ? {
              adminAllow: opts.adminAllow
                .flatMap((a) => a.split(','))
                .map((a) => a.trim())
                .filter(Boolean),
            }
          : {}),
        logger: log,
        store,
        serverId: opts.serverId,
        leaseMs: opts.leaseMs,
        retentionMs: opts.retentionDays * 24 * 3600_000,
        shutdownGraceMs: opts.graceMs,
        retry: backoffPolicy({ maxAttempts: opts.maxAttempts, baseDelayMs: opts.retryDelay }),
        http,
        ...(opts.runs ? { runs: runsIn(opts.runs) } : {}),
      });
      try {
        await server.listen();
      } catch (err) {
        await server.close().catch(() => {});
        throw err;
      }
      let signals = 0;
      const stop = (signal: string): void => {
        signals++;
        if (signals > 1) {
          log.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        log.info({ signal }, 'stopping: finishing running jobs');
        void server.close({ graceful: true }).then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      server.on('shutdown', () => process.exit(0));
    });
}

function parseNonNegative(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`Expected a non-negative integer for ${name} but received "${v}".`);
  return n;
}
