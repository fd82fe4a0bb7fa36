// The control channel between a running `pipeline up` and `pipeline ps|scale|reload`: a Unix
// socket in the working directory (`.geartrain/supervisor.sock`, owner-only), one JSON request
// line and one JSON reply line per connection:
//   → {"cmd":"scale","counts":{"thumbnail":4},"wait":true}
//   ← {"ok":true,"result":{…}}  or  {"ok":false,"error":{"code":"GT_INVALID_ARGUMENT","message":"…"}}

import { chmod, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ERRORS, GeartrainError, gtError, invalidArgument, type ErrorCode } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';

export const DEFAULT_SOCKET = '.geartrain/supervisor.sock';

/** sun_path holds 108 bytes on Linux (104 on macOS), NUL included. */
const MAX_SOCKET_PATH = 103;
const MAX_REQUEST_BYTES = 64 * 1024;

export type ControlRequest = { cmd: 'ps' } | { cmd: 'scale'; counts: Record<string, number>; wait?: boolean } | { cmd: 'reload' };

/** What the control channel drives: the Supervisor. */
export interface ControlTarget {
  ps(): Promise<unknown>;
  scale(counts: Record<string, number>, opts: { wait?: boolean }): Promise<unknown>;
  reload(): Promise<unknown>;
}

type Reply = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

export function checkSocketPath(socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw invalidArgument(`a socket path of at most ${MAX_SOCKET_PATH} bytes (a relative one is shorter)`, '--socket', socketPath);
  }
}

export class ControlServer {
  private readonly server: net.Server;
  private listening = false;
  private closing: Promise<void> | null = null;

  constructor(
    readonly socketPath: string,
    private readonly target: ControlTarget,
    private readonly log: Logger = silentLogger,
  ) {
    checkSocketPath(socketPath);
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Listen, after making sure no other `pipeline up` answers on the socket (a stale file is removed). */
  async listen(): Promise<void> {
    await mkdir(path.dirname(this.socketPath), { recursive: true });
    const other = await controlRequest(this.socketPath, { cmd: 'ps' }, 2000).then(
      (r) => r as { pid?: number },
      (err: unknown) => (err instanceof GeartrainError && err.code === 'GT_CONNECTION_FAILED' ? null : { pid: undefined }),
    );
    if (other) throw new Error(`pipeline up is already running here (pid ${other.pid ?? '?'}, control socket ${this.socketPath})`);
    await unlink(this.socketPath).catch(() => {});
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = true;
    await chmod(this.socketPath, 0o600);
  }

  /** Stop answering and remove the socket file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.listening) return;
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
      await unlink(this.socketPath).catch(() => {});
    })();
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('error', () => {}); // a client that left before its reply
    socket.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_REQUEST_BYTES) socket.destroy();
        return;
      }
      socket.removeAllListeners('data');
      this.answer(buf.slice(0, nl)).then(
        (reply) => socket.end(`${JSON.stringify(reply)}\n`),
        (err: unknown) => {
          this.log.error({ err }, 'control request failed');
          socket.destroy();
        },
      );
    });
  }

  private async answer(line: string): Promise<Reply> {
    try {
      const req = JSON.parse(line) as Partial<ControlRequest> & Record<string, unknown>;
      this.log.debug({ cmd: req.cmd }, 'control request');
      switch (req.cmd) {
        case 'ps':
          return { ok: true, result: await this.target.ps() };
        case 'scale':
          return { ok: true, result: await this.target.scale(req.counts as Record<string, number>, { wait: req.wait === true }) };
        case 'reload':
          return { ok: true, result: await this.target.reload() };
        default:
          throw invalidArgument('ps, scale or reload', 'control command', req.cmd);
      }
    } catch (err) {
      if (err instanceof GeartrainError) return { ok: false, error: { code: err.code, message: err.message } };
      return { ok: false, error: { code: 'GT_INTERNAL', message: err instanceof Error ? err.message : String(err) } };
    }
  }
}

/**
 * Send one request to the `pipeline up` listening on `socketPath` and return its result. A
 * refusal comes back as the GeartrainError the supervisor raised. No timeout by default: a
 * reload takes as long as the slowest running job.
 */
export function controlRequest(socketPath: string, req: ControlRequest, timeoutMs?: number): Promise<unknown> {
  checkSocketPath(socketPath);
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buf = '';
    let settled = false;
    const done = (err: Error | null, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => done(gtError('GT_TIMEOUT', `supervisor request ${req.cmd}`, timeoutMs)), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(req)}\n`));
    socket.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: Reply;
      try {
        reply = JSON.parse(buf.slice(0, nl)) as Reply;
      } catch {
        return done(new Error(`the supervisor at ${socketPath} answered something that is not JSON`));
      }
      if (reply.ok) return done(null, reply.result);
      const code = reply.error.code in ERRORS ? (reply.error.code as ErrorCode) : null;
      done(code ? new GeartrainError(code, reply.error.message) : new Error(reply.error.message));
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is pipeline up running in this folder?' : e.message;
      done(new GeartrainError('GT_CONNECTION_FAILED', `Could not connect to the supervisor at ${socketPath}: ${e.code ?? e.message} (${hint})`, { cause: e }));
    });
    socket.on('close', () => done(gtError('GT_CONNECTION_LOST', `the supervisor at ${socketPath}`)));
  });
}
