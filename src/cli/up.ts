// `pipeline up [-c geartrain.config.yaml]`: the job server in this process and worker processes
// per type from the config, supervised (restarted with backoff, given up on when they keep
// crashing at start), driven by `pipeline ps|scale|reload` over a control socket. SIGTERM/SIGINT
// stop the workers first (running jobs finish), then the server, and exit 0; SIGHUP reloads.

import type { Command } from 'commander';
import { createLogger, type Logger } from '../log.js';
import { runsIn } from '../pipelines/worker.js';
import { tuneHeapGrowth } from '../server/heap.js';
import { backoffPolicy } from '../server/retry.js';
import { GearmanServer } from '../server/server.js';
import { createStore, DEFAULT_STORE_URL } from '../store/index.js';
import { ControlServer, DEFAULT_SOCKET, LogRelay, loadConfig, type ServerConfig, Supervisor } from '../supervisor/index.js';
import { commandLogger } from './options.js';
import { redact } from './server.js';

interface UpOpts {
  config?: string;
  socket: string;
}

/** Where worker processes reach a server bound to `host`. */
function reachable(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `127.0.0.1:${port}`;
  if (host === '::') return `[::1]:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

async function startServer(cfg: ServerConfig, level: string, log: Logger): Promise<GearmanServer> {
  const url = cfg.store ?? process.env.GEARTRAIN_STORE ?? DEFAULT_STORE_URL;
  const store = await createStore(url);
  const server = new GearmanServer({
    host: cfg.host,
    port: cfg.port,
    maxPacketSize: cfg.maxPacketSize,
    maxBuffered: cfg.maxBuffered,
    packetTimeoutMs: cfg.packetTimeoutMs,
    maxFunctionsPerWorker: cfg.maxFunctionsPerWorker,
    adminAllow: cfg.adminAllow,
    logger: createLogger({ level, name: 'server' }),
    store,
    serverId: cfg.serverId,
    leaseMs: cfg.leaseMs,
    retentionMs: cfg.retentionDays === undefined ? undefined : cfg.retentionDays * 24 * 3600_000,
    shutdownGraceMs: cfg.graceMs,
    retry: backoffPolicy({ maxAttempts: cfg.maxAttempts, baseDelayMs: cfg.retryDelayMs }),
    ...(cfg.http
      ? { http: { port: cfg.http.port, host: cfg.http.host ?? '127.0.0.1', token: cfg.http.token ?? (process.env.GEARTRAIN_HTTP_TOKEN || undefined) } }
      : {}),
    ...(cfg.http?.runs ? { runs: runsIn(cfg.http.runs) } : {}),
  });
  try {
    await server.listen();
  } catch (err) {
    await server.close().catch(() => {});
    throw err;
  }
  log.debug({ store: redact(url) }, 'job store');
  return server;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the job server and worker processes per type, restarted when they crash (see pipeline ps, scale, reload)')
    .option('-c, --config <file>', 'geartrain.config.json or .yaml (default: ./geartrain.config.{json,yaml,yml}, else one process per worker type)')
    .option(
      '--socket <path>',
      'control socket for pipeline ps, scale and reload (GEARTRAIN_SUPERVISOR_SOCKET)',
      process.env.GEARTRAIN_SUPERVISOR_SOCKET ?? DEFAULT_SOCKET,
    )
    .action(async (opts: UpOpts, cmd: Command) => {
      tuneHeapGrowth();
      const log = commandLogger(cmd, 'supervisor');
      const level = log.level;
      // A bad config exits 2 here, before anything starts.
      const { config, file } = await loadConfig(opts.config);

      let supervisor: Supervisor | null = null;
      // Listening first makes a second `pipeline up` in this folder fail before it binds a port.
      const started = (): Supervisor => {
        if (!supervisor) throw new Error('pipeline up is still starting; try again');
        return supervisor;
      };
      const control = new ControlServer(
        opts.socket,
        {
          ps: async () => started().ps(),
          scale: async (counts, o) => started().scale(counts, o),
          reload: async () => started().reload(),
        },
        log,
      );
      await control.listen();
      let server: GearmanServer | null = null;
      try {
        if (config.server) server = await startServer(config.server, level, log);
      } catch (err) {
        await control.close();
        throw err;
      }
      const embedded = server ? [reachable(config.server!.host, server.address().port)] : undefined;
      const sup = new Supervisor({
        config,
        configFile: file,
        embeddedServers: embedded,
        logger: log,
        logLevel: level,
        relay: new LogRelay(log, process.stderr.isTTY === true),
      });
      supervisor = sup;
      // The HTTP API's processes view and scale controls are this supervisor.
      server?.setSupervisorProvider({ ps: () => sup.ps(), scale: (counts) => sup.scale(counts), reload: () => sup.reload() });

      let stopping: Promise<void> | null = null;
      const stop = (signal: string): void => {
        if (stopping) {
          log.warn({ signal }, 'second signal: killing worker processes and exiting now');
          sup.kill();
          process.exit(1);
        }
        log.info({ signal }, 'stopping: worker processes first (running jobs finish), then the server');
        stopping = (async () => {
          await sup.close();
          await server?.close({ graceful: true });
          await control.close();
          log.info('stopped');
        })();
        stopping.then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'stopping failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGHUP', () => {
        sup.reload().then(
          (r) => log.info({ replaced: r.replaced.length, failed: r.failed }, 'SIGHUP: reloaded'),
          (err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'SIGHUP: reload refused'),
        );
      });
      // `shutdown` on the admin port closed the server: take the workers down with it.
      server?.on('shutdown', () => stop('shutdown'));

      await sup.start();
      log.info({ servers: sup.servers, config: file ?? 'built-in defaults', socket: opts.socket }, 'supervisor ready');
    });
}
