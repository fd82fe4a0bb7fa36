// The job server: accepts connections, routes packets to dispatch and text lines to admin,
// and owns the registry, the store and every timer. `close()` is idempotent.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { GeartrainError, gtError, invalidArgument } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { DEFAULT_MAX_PACKET_SIZE, type DecodeError, type Packet, res } from '../protocol/codec.js';
import { Cmd } from '../protocol/commands.js';
import { MemoryStore } from '../store/memory.js';
import type { JobStore } from '../store/types.js';
import { VERSION } from '../version.js';
import { type AdminContext, runAdmin } from './admin.js';
import { AdminPolicy } from './admin-policy.js';
import { Connection, type ConnectionHost, type HeldReply } from './connection.js';
import { type DispatchContext, dispatch, sendError } from './dispatch.js';
import type { HttpHost } from './http/host.js';
import type { HttpApi } from './http/index.js';
import { type CheckedHttpOptions, checkHttpOptions, type HttpOptions } from './http/options.js';
import type { RunsProvider, SupervisorProvider } from './http/providers.js';
import { JobLog } from './joblog.js';
import { PartialPackets } from './partial-packets.js';
import { DEFAULT_MAX_FUNCTIONS_PER_WORKER, type Job, type JobListener, JobRegistry, type Peer } from './registry.js';
import type { RetryPolicy } from './retry.js';
import { ServerStats } from './stats.js';

export interface ServerOptions {
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
  /** TCP port; 0 picks a free one. @defaultValue 4730 */
  port?: number;
  /** Largest packet body accepted, in bytes; larger ones close the connection. @defaultValue 64 MiB */
  maxPacketSize?: number;
  /**
   * Bytes queued for one peer that does not read before it is disconnected. It must exceed
   * maxPacketSize so one large result can always be delivered. @defaultValue 2 × maxPacketSize
   */
  maxOutputBuffer?: number;
  /**
   * Functions one worker connection may register (CAN_DO); beyond it, CAN_DO is answered with
   * ERROR TOO_MANY_FUNCTIONS and the functions already registered stay. @defaultValue 1000
   */
  maxFunctionsPerWorker?: number;
  /**
   * Bytes held for packets that have not finished arriving, all connections together; past it,
   * the connection holding the most is sent ERROR BUFFER_FULL and closed. At least
   * maxPacketSize. @defaultValue 256 MiB
   */
  maxBuffered?: number;
  /**
   * A connection whose unfinished packet receives no byte for this long, ms, is sent ERROR
   * TIMEOUT and closed. Connections between packets may stay idle. @defaultValue 30000
   */
  packetTimeoutMs?: number;
  /**
   * Addresses and CIDRs (`10.0.0.0/8`, `fd00::/8`) of the peers that may run admin commands that
   * change state or show payloads (`jobs …`, `shutdown`, `drop`/`create function`, `cancel job`,
   * `maxqueue`) while the server listens beyond loopback; others get ERR PERMISSION_DENIED.
   * gearmand's read-only commands stay open to every peer. @defaultValue loopback
   */
  adminAllow?: readonly string[];
  /** The job log where background jobs are kept. @defaultValue an in-memory store (the CLI defaults to SQLite) */
  store?: JobStore;
  /**
   * This server's name in the job log. Jobs it held are reclaimed at once when a server of the
   * same name starts; another server's only when its lease expires. @defaultValue `host:port`
   */
  serverId?: string;
  /** Lease on claimed jobs, ms: how long before a dead server's jobs run elsewhere. @defaultValue 30000 */
  leaseMs?: number;
  /**
   * How often the lease is renewed and the store checked for jobs to claim, ms; never more than
   * a quarter of leaseMs. @defaultValue 1000
   */
  pollMs?: number;
  /** Done and cancelled jobs are pruned from the log after this long, ms; 0 keeps them. @defaultValue 7 days */
  retentionMs?: number;
  /** Retries of failed background jobs. @defaultValue backoffPolicy(): 3 attempts, 1 s doubling, jitter */
  retry?: RetryPolicy;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Longest wait for running jobs in a graceful shutdown, in ms. @defaultValue 30000 */
  shutdownGraceMs?: number;
  /**
   * Serve the HTTP API, the dashboard and /metrics on a port of their own. A host that is not
   * a loopback address needs a token. @defaultValue off
   */
  http?: HttpOptions;
  /** Pipeline runs for GET /api/v1/runs; see also setRunsProvider(). @defaultValue none (501) */
  runs?: RunsProvider;
  /** Worker processes for /api/v1/processes and /scale; see also setSupervisorProvider(). @defaultValue none (501) */
  supervisor?: SupervisorProvider;
}

// gearmand_verbose_name() knows FATAL ALERT CRITICAL ERROR WARNING NOTICE INFO DEBUG; pino's
// warn, trace and silent have no name there, so they map to the nearest one.
const VERBOSE_NAMES: Record<string, string> = {
  fatal: 'FATAL',
  error: 'ERROR',
  warn: 'WARNING',
  info: 'INFO',
  debug: 'DEBUG',
  trace: 'DEBUG',
  silent: 'FATAL',
};

/** Default bound on unfinished packets across connections: 256 MiB. */
export const DEFAULT_MAX_BUFFERED = 256 * 1024 * 1024;

export class GearmanServer extends EventEmitter implements ConnectionHost, DispatchContext, AdminContext, JobListener, HttpHost {
  readonly registry: JobRegistry;
  /** Counters for /metrics (stats.ts). */
  readonly stats = new ServerStats();
  readonly maxPacketSize: number;
  readonly maxOutputBuffer: number;
  readonly partial: PartialPackets;
  private readonly adminPolicy: AdminPolicy;
  readonly version = VERSION;
  readonly store: JobStore;
  readonly log: Logger;
  private readonly opts: Required<Pick<ServerOptions, 'host' | 'port' | 'shutdownGraceMs'>>;
  private readonly conns = new Map<number, Connection>();
  private readonly tcp: net.Server;
  private nextId = 1;
  private isAccepting = true;
  private closing: Promise<void> | null = null;
  private readonly options: ServerOptions;
  private jobLog: JobLog | null = null;
  private tearingDown = false;
  private readonly httpOpts: CheckedHttpOptions | null;
  private http: HttpApi | null = null;
  private runs: RunsProvider | null;
  private supervisor: SupervisorProvider | null;

  constructor(options: ServerOptions = {}) {
    super();
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 4730;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidArgument('integer port between 0 and 65535', 'port', port);
    this.maxPacketSize = options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    if (!Number.isInteger(this.maxPacketSize) || this.maxPacketSize < 1024) {
      throw invalidArgument('integer of at least 1024 bytes', 'maxPacketSize', options.maxPacketSize);
    }
    this.maxOutputBuffer = options.maxOutputBuffer ?? 2 * this.maxPacketSize;
    const maxBuffered = options.maxBuffered ?? Math.max(DEFAULT_MAX_BUFFERED, this.maxPacketSize);
    if (!Number.isInteger(maxBuffered) || maxBuffered < this.maxPacketSize) {
      throw invalidArgument(`integer of at least maxPacketSize (${this.maxPacketSize} bytes)`, 'maxBuffered', options.maxBuffered);
    }
    const timeoutMs = options.packetTimeoutMs ?? 30_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw invalidArgument('positive integer (ms)', 'packetTimeoutMs', options.packetTimeoutMs);
    this.partial = new PartialPackets({ maxBuffered, timeoutMs });
    this.adminPolicy = new AdminPolicy(options.adminAllow);
    this.opts = { host, port, shutdownGraceMs: options.shutdownGraceMs ?? 30_000 };
    this.store = options.store ?? new MemoryStore();
    this.log = options.logger ?? silentLogger;
    this.options = options;
    this.httpOpts = options.http ? checkHttpOptions(options.http) : null;
    this.runs = options.runs ?? null;
    this.supervisor = options.supervisor ?? null;
    const maxFunctionsPerWorker = options.maxFunctionsPerWorker ?? DEFAULT_MAX_FUNCTIONS_PER_WORKER;
    if (!Number.isInteger(maxFunctionsPerWorker) || maxFunctionsPerWorker < 1) {
      throw invalidArgument('positive integer', 'maxFunctionsPerWorker', options.maxFunctionsPerWorker);
    }
    this.registry = new JobRegistry({ handlePrefix: `H:${os.hostname()}`, listener: this, retry: options.retry, maxFunctionsPerWorker });
    this.tcp = net.createServer((socket) => this.accept(socket));
  }

  /** Start listening; resolves with the bound address. */
  async listen(): Promise<{ host: string; port: number }> {
    await this.store.open();
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(this.opts.port, this.opts.host, () => {
        this.tcp.off('error', reject);
        resolve();
      });
    });
    const addr = this.address();
    this.adminPolicy.listen(addr.host);
    this.jobLog = new JobLog(this.store, this.log, {
      owner: this.options.serverId ?? `${os.hostname()}:${addr.port}`,
      leaseMs: this.options.leaseMs,
      pollMs: this.options.pollMs,
      retentionMs: this.options.retentionMs,
      onWrite: (ms, changes) => this.stats.storeWrite(ms, changes),
    });
    const reloaded = await this.jobLog.start(this.registry);
    if (reloaded > 0) this.log.info({ jobs: reloaded }, 'reloaded pending jobs');
    let http: string | undefined;
    if (this.httpOpts) {
      // Loaded here so that a server without HTTP never loads fastify or prom-client.
      const { HttpApi } = await import('./http/index.js');
      this.http = new HttpApi(this, this.httpOpts);
      const h = await this.http.listen();
      http = `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
      this.log.info({ http, auth: this.httpOpts.token !== null }, 'http listening');
    }
    this.log.info({ host: addr.host, port: addr.port, store: this.store.name, version: VERSION, http }, 'listening');
    return addr;
  }

  /** Where the HTTP API listens; null without one (or before listen()). */
  httpAddress(): { host: string; port: number } | null {
    return this.http?.address() ?? null;
  }

  get runsProvider(): RunsProvider | null {
    return this.runs;
  }

  get supervisorProvider(): SupervisorProvider | null {
    return this.supervisor;
  }

  /** Plug in (or remove, with null) what GET /api/v1/runs shows. */
  setRunsProvider(p: RunsProvider | null): void {
    this.runs = p;
  }

  /** Plug in (or remove, with null) what /api/v1/processes and /api/v1/scale act on. */
  setSupervisorProvider(p: SupervisorProvider | null): void {
    this.supervisor = p;
  }

  address(): { host: string; port: number } {
    const a = this.tcp.address();
    if (a === null || typeof a === 'string') throw gtError('GT_CLOSED', 'server');
    return { host: a.address, port: a.port };
  }

  /** The log level under gearmand's verbose names (`verbose`, `gearadmin --server-verbose`). */
  get verbose(): string {
    return VERBOSE_NAMES[this.log.level] ?? 'INFO';
  }

  accepting(): boolean {
    return this.isAccepting;
  }

  connections(): Iterable<Connection> {
    return this.conns.values();
  }

  private accept(socket: net.Socket): void {
    if (!this.isAccepting) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextId++, socket, this, this.log);
    this.conns.set(conn.id, conn);
    this.stats.connectionsAccepted++;
    conn.log.debug('connected');
  }

  // ---- ConnectionHost --------------------------------------------------------------------

  onPacket(conn: Connection, p: Packet): void {
    try {
      dispatch(this, conn, p);
    } catch (err) {
      // A handler that throws answers that one peer with ERROR; the server goes on.
      if (err instanceof GeartrainError) {
        conn.log.debug({ code: err.code, err: err.message }, 'request refused');
        sendError(conn, err);
      } else {
        conn.log.error({ err }, 'internal error handling packet');
        conn.send(res(Cmd.ERROR, 'UNKNOWN_ERROR', 'Internal server error'));
      }
    }
  }

  onText(conn: Connection, words: string[]): void {
    conn.admin = true;
    const refused = this.adminPolicy.refusal(conn.host, words);
    if (refused !== null) {
      conn.log.warn({ command: words[0] }, 'admin command refused: peer not in --admin-allow');
      conn.send(refused);
      return;
    }
    try {
      const reply = runAdmin(this, words);
      if (typeof reply === 'string') conn.send(reply);
      else {
        // Replies to the commands after it wait behind it.
        const held: HeldReply = { packet: null };
        conn.hold(held);
        reply
          .then(
            (text) => (held.packet = text),
            (err: unknown) => {
              conn.log.error({ err }, 'admin command failed');
              held.packet = `ERR UNKNOWN_ERROR ${String((err as Error).message ?? err).replace(/\s/g, '+')}\r\n`;
            },
          )
          .finally(() => conn.release());
      }
    } catch (err) {
      conn.log.error({ err }, 'internal error in admin command');
      conn.send('ERR UNKNOWN_ERROR\r\n');
    }
  }

  onDecodeError(conn: Connection, e: DecodeError): void {
    conn.log.warn({ code: e.code, err: e.message }, e.fatal ? 'bad packet; closing connection' : 'bad packet');
    const err = gtError(e.code, e.message);
    const packet = res(Cmd.ERROR, err.gearmanCode, err.message);
    if (e.fatal) conn.end(packet);
    else conn.send(packet);
  }

  onClose(conn: Connection): void {
    this.conns.delete(conn.id);
    this.partial.forget(conn);
    // Closing down: what workers held stays "running" in the job log and is reloaded on
    // start; requeueing it here would count a failed attempt and start retry timers.
    if (this.tearingDown) return;
    this.registry.clientGone(conn);
    this.registry.workerGone(conn);
    conn.log.debug('disconnected');
    if (this.conns.size === 0) this.emit('idle');
  }

  // ---- DispatchContext -------------------------------------------------------------------

  record(job: Job): boolean {
    if (!this.jobLog) throw gtError('GT_CLOSED', 'server');
    return this.jobLog.record(job);
  }

  // ---- JobListener: the registry reports logged jobs' changes to the job log ----------------

  started(job: Job, worker: Peer): void {
    this.jobLog?.started(job, worker);
  }
  completed(job: Job, result: Buffer): void {
    this.jobLog?.completed(job, result);
  }
  failed(job: Job, reason: string, retryAt: number | null): void {
    this.jobLog?.failed(job, reason, retryAt);
  }
  cancelled(job: Job): void {
    this.jobLog?.cancelled(job);
  }

  /** The job log, for `jobs` admin commands; null before listen(). */
  get joblog(): JobLog | null {
    return this.jobLog;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Admin `shutdown [graceful]`: graceful waits for running jobs (up to shutdownGraceMs). */
  shutdown(graceful: boolean): void {
    this.log.info({ graceful }, 'shutdown requested');
    this.close({ graceful }).then(
      () => this.emit('shutdown'),
      (err: unknown) => this.log.error({ err }, 'shutdown failed'),
    );
  }

  /**
   * Stop accepting connections and submissions, optionally wait for running jobs, then close
   * every connection and the store. Every caller gets the same promise.
   */
  close(opts: { graceful?: boolean } = {}): Promise<void> {
    this.closing ??= this.doClose(opts.graceful ?? false);
    return this.closing;
  }

  private async doClose(graceful: boolean): Promise<void> {
    this.isAccepting = false;
    this.partial.stop();
    const stopped = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    if (graceful) await this.drainRunning();
    // Foreground HTTP calls had the grace period to get their results; now they are answered.
    await this.http?.close().catch((err: unknown) => this.log.warn({ err }, 'closing the HTTP API failed'));
    this.tearingDown = true;
    // What was sent before the close goes first (the OK of an admin `shutdown`): flushes wait
    // for the end of the loop's turn, and the shutdown was queued before its own reply.
    for (const c of this.conns.values()) {
      c.flush();
      c.destroy();
    }
    await stopped;
    this.registry.clear();
    await this.jobLog?.close();
    await this.store.close();
    this.log.info('closed');
  }

  private async drainRunning(): Promise<void> {
    const deadline = Date.now() + this.opts.shutdownGraceMs;
    const running = (): number => {
      let n = 0;
      for (const f of this.registry.functions.values()) n += f.running;
      return n;
    };
    while (running() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (running() > 0) this.log.warn({ running: running() }, 'grace period over; closing with jobs still running');
  }
}
