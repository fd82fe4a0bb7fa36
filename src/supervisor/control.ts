// The control channel between a running `pipeline up` and `pipeline ps|scale|reload`: a Unix
// socket in the working directory (`.geartrain/supervisor.sock`, owner-only), one JSON request
// line and one JSON reply line per connection:
//   → {"cmd":"scale","counts":{"thumbnail":4},"wait":true}
//   ← {"ok":true,"result":{…}}  or  {"ok":false,"error":{"code":"GT_INVALID_ARGUMENT","message":"…"}}

import { chmod, link, mkdir, realpath, rename, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ERRORS, type ErrorCode, GeartrainError, gtError, invalidArgument } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';

export const DEFAULT_SOCKET = '.geartrain/supervisor.sock';

/** sun_path holds 108 bytes on Linux (104 on macOS), NUL included. */
const MAX_SOCKET_PATH = 103;
const MAX_REQUEST_BYTES = 64 * 1024;

export type ControlRequest = { cmd: 'pid' } | { cmd: 'ps' } | { cmd: 'scale'; counts: Record<string, number>; wait?: boolean } | { cmd: 'reload' };

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

  /**
   * Listen on the socket, which is also the lock that keeps a second `pipeline up` out of the
   * folder: bind() fails with EADDRINUSE while the file exists, so of two processes starting
   * together one binds and the other is refused (GT_ALREADY_RUNNING). A file left by a
   * `pipeline up` that died refuses connections; it is moved aside with rename() and probed again
   * under its new name before it is deleted, because a racing `pipeline up` may have bound the
   * path between the probe and the rename: its socket answers under any name, and is then put
   * back. A live socket is never deleted.
   */
  async listen(): Promise<void> {
    const dir = path.dirname(this.socketPath);
    await mkdir(dir, { recursive: true });
    // Short, so it fits sun_path wherever the socket does (a pid is at most 5 base-36 digits).
    const aside = path.join(dir, `.${process.pid.toString(36)}`);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.bind();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
      if (attempt >= 5 || (await accepts(this.socketPath))) throw await this.alreadyRunning();
      try {
        await rename(this.socketPath, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile: bind again
        throw err;
      }
      if (await accepts(aside)) {
        await link(aside, this.socketPath).catch(() => {});
        await unlink(aside).catch(() => {});
        throw await this.alreadyRunning();
      }
      await unlink(aside).catch(() => {});
    }
    this.listening = true;
    await chmod(this.socketPath, 0o600);
  }

  private bind(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** GT_ALREADY_RUNNING naming the working folder, and the pid of the `pipeline up` there if it says. */
  private async alreadyRunning(): Promise<GeartrainError> {
    // `pid` is answered without asking the supervisor anything, so a busy one still says who it is.
    const other = (await controlRequest(this.socketPath, { cmd: 'pid' }, 5000).catch(() => null)) as { pid?: number } | null;
    const dir = await realpath(path.dirname(this.socketPath)).catch(() => path.resolve(path.dirname(this.socketPath)));
    const folder = path.basename(dir) === '.geartrain' ? path.dirname(dir) : dir;
    return gtError('GT_ALREADY_RUNNING', folder, `pid ${other?.pid ?? '?'}, control socket ${this.socketPath}`);
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
        case 'pid':
          return { ok: true, result: { pid: process.pid } };
        case 'ps':
          return { ok: true, result: await this.target.ps() };
        case 'scale':
          return { ok: true, result: await this.target.scale(req.counts as Record<string, number>, { wait: req.wait === true }) };
        case 'reload':
          return { ok: true, result: await this.target.reload() };
        default:
          throw invalidArgument('pid, ps, scale or reload', 'control command', req.cmd);
      }
    } catch (err) {
      if (err instanceof GeartrainError) return { ok: false, error: { code: err.code, message: err.message } };
      return { ok: false, error: { code: 'GT_INTERNAL', message: err instanceof Error ? err.message : String(err) } };
    }
  }
}

/**
 * Whether something listens on the Unix socket at `socketPath`. Only "refused" and "no such
 * file" count as nobody; any other failure (a full backlog, a timeout) is taken as a live one.
 */
function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const done = (live: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), 2000);
    socket.once('connect', () => done(true));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'));
  });
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
