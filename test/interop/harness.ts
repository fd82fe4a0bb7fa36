// What the interop suites share: child processes that are always reaped, an `nc` session for
// the text admin protocol (and raw binary packets), and the few normalisations needed to hold
// geartrain's bytes to gearmand's. The packet code here is written from the Gearman PROTOCOL
// document on purpose, not imported from src/protocol, so a codec bug cannot hide itself.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingTools } from '../helpers/servers.js';
import { sleep, until } from '../helpers/wait.js';

export const PHP_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'php');

/**
 * Skip reason for an interop suite, or false. Besides the programs, the PHP suites need the
 * pecl gearman extension. Like missingTools, this throws under CI=true instead of skipping.
 */
export function interopSkip(tools: string[], opts: { phpGearman?: boolean } = {}): string | false {
  const missing = missingTools(...tools);
  if (missing) return missing;
  if (opts.phpGearman) {
    const m = spawnSync('php', ['-m'], { encoding: 'utf8' });
    if (!/^gearman$/m.test(m.stdout ?? '')) {
      const msg = 'needs the PHP gearman extension (Debian: apt-get install php-gearman)';
      if (process.env.CI === 'true') throw new Error(`CI is missing required tools: ${msg}`);
      return msg;
    }
  }
  return false;
}

// ---- child processes ------------------------------------------------------------------------

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Killed (and the promise rejected) after this long. @defaultValue 10000 */
  timeoutMs?: number;
}

/** A long-running child (a worker) whose output is collected as it arrives. */
export interface LongChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
}

/** Every child a suite starts, so `after` can reap them all whatever failed. */
export class Children {
  private readonly live = new Set<ChildProcess>();

  /** Run a command to completion with a deadline. */
  run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const child = this.track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin!.on('error', () => {}); // a command that exits without reading its input
    child.stdin!.end(opts.input ?? '');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${err}`));
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
      });
    });
  }

  /** Start a command that runs until it exits by itself or `kill`/`killAll` stops it. */
  start(cmd: string, args: string[]): LongChild {
    const child = this.track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return { child, stdout: () => out, stderr: () => err };
  }

  track(child: ChildProcess): ChildProcess {
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    return child;
  }

  /** Wait for a child to exit by itself, SIGKILLing it after `timeoutMs`. */
  async exited(child: ChildProcess, timeoutMs = 10_000): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(timer);
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => this.kill(c)));
  }
}

// ---- text admin protocol ----------------------------------------------------------------------

/** True once `buf` holds a whole reply: one line, or for a listing, rows ending in ".\n". */
function replyLength(buf: Buffer, listing: boolean): number {
  const text = buf.toString('latin1');
  if (!listing || text.startsWith('ERR ')) {
    const nl = text.indexOf('\n');
    return nl < 0 ? -1 : nl + 1;
  }
  if (text.startsWith('.\n')) return 2;
  const end = text.indexOf('\n.\n');
  return end < 0 ? -1 : end + 3;
}

/**
 * One admin query over a plain socket, for polling (the suites' assertions go through nc or
 * the Gearman tools). Resolves with the exact reply text.
 */
export function adminQuery(port: number, line: string, listing: boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply to "${line}" within ${timeoutMs} ms; got ${JSON.stringify(buf.toString('latin1'))}`));
    }, timeoutMs);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const n = replyLength(buf, listing);
      if (n >= 0) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.subarray(0, n).toString('latin1'));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(`${line}\r\n`);
  });
}

/** Rows of a `status` reply as {name: [total, running, workers]}. */
export async function statusOf(port: number): Promise<Map<string, number[]>> {
  const rows = new Map<string, number[]>();
  for (const row of listRows(await adminQuery(port, 'status', true))) {
    const [name, ...counts] = row.split('\t');
    rows.set(name!, counts.map(Number));
  }
  return rows;
}

/** Wait until `fn` has at least `n` registered workers. */
export async function waitForWorkers(port: number, fn: string, n = 1, timeoutMs = 10_000): Promise<void> {
  await until(`${n} worker(s) for ${fn}`, async () => ((await statusOf(port)).get(fn)?.[2] ?? 0) >= n, timeoutMs);
}

/** Wait until `fn` shows `total` jobs (queued plus running) in `status`. */
export async function waitForTotal(port: number, fn: string, total: number, timeoutMs = 10_000): Promise<void> {
  await until(`${total} job(s) for ${fn}`, async () => ((await statusOf(port)).get(fn)?.[0] ?? 0) === total, timeoutMs);
}

/** The rows of a listing reply, without the closing ".". */
export function listRows(reply: string): string[] {
  const rows = reply.split('\n');
  if (rows.pop() !== '' || rows.pop() !== '.') throw new Error(`not a listing: ${JSON.stringify(reply)}`);
  return rows;
}

/**
 * A listing with its rows sorted. gearmand walks hash tables (functions, jobs, uniques) and
 * per-thread connection lists, so its row order is not meaningful; the rows themselves are.
 */
export function sortedListing(reply: string): string {
  return [...listRows(reply).sort(), '.', ''].join('\n');
}

/** A job handle's host part: gearmand and geartrain both use the hostname, but need not agree. */
export function normHandles(text: string): string {
  return text.replace(/H:[^:\s]+:/g, 'H:HOST:');
}

/** `workers` rows start with the connection's file descriptor (gearmand) or id (geartrain). */
export function normWorkers(reply: string): string {
  return sortedListing(reply.replace(/^\d+ /gm, 'FD '));
}

// ---- binary packets -------------------------------------------------------------------------

const REQ = Buffer.from('\0REQ', 'latin1');
const RES = Buffer.from('\0RES', 'latin1');

/** Request packet ids used by the suites (PROTOCOL, "Binary Protocol"). */
export const Req = {
  CAN_DO: 1,
  SUBMIT_JOB: 7,
  SUBMIT_JOB_BG: 18,
  SUBMIT_JOB_HIGH_BG: 32,
  SUBMIT_JOB_LOW_BG: 34,
  SET_CLIENT_ID: 22,
} as const;

/** Response packet ids the suites read. */
export const Res = { JOB_CREATED: 8, ERROR: 19 } as const;

export function reqPacket(type: number, ...args: (string | Buffer)[]): Buffer {
  const body = Buffer.concat(args.flatMap((a, i) => [i > 0 ? Buffer.from([0]) : Buffer.alloc(0), Buffer.from(a)]));
  const header = Buffer.alloc(12);
  REQ.copy(header, 0);
  header.writeUInt32BE(type, 4);
  header.writeUInt32BE(body.length, 8);
  return Buffer.concat([header, body]);
}

export interface ResPacket {
  type: number;
  /** The body split on NUL (the last part may itself hold NULs for data packets). */
  args: string[];
  /** Header and body exactly as received. */
  raw: Buffer;
}

// ---- nc ---------------------------------------------------------------------------------------

/**
 * One `nc 127.0.0.1 PORT` process: the suites talk to both servers exactly as an operator at a
 * terminal would. Replies are read until a whole one has arrived, with a deadline, and must
 * not be followed by stray bytes.
 */
export class NcSession {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  readonly child: ChildProcess;
  private stderr = '';

  constructor(children: Children, port: number) {
    this.child = children.track(spawn('nc', ['127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] }));
    this.child.stdout!.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin!.on('error', () => {});
    this.child.once('exit', () => this.wake?.());
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  write(data: string | Buffer): void {
    this.child.stdin!.write(data);
  }

  /** Send a text command (LF-terminated unless `eol` says otherwise) and read a one-line reply. */
  async line(command: string, eol = '\n'): Promise<string> {
    this.write(command + eol);
    return (await this.take((b) => replyLength(b, false), command)).toString('latin1');
  }

  /** Send a text command and read a listing (rows, then "."), or an ERR line. */
  async list(command: string, eol = '\n'): Promise<string> {
    this.write(command + eol);
    return (await this.take((b) => replyLength(b, true), command)).toString('latin1');
  }

  /** Send a binary request packet. */
  send(type: number, ...args: (string | Buffer)[]): void {
    this.write(reqPacket(type, ...args));
  }

  /** Read one binary response packet. */
  async packet(): Promise<ResPacket> {
    const raw = await this.take((b) => (b.length < 12 ? -1 : b.length < 12 + b.readUInt32BE(8) ? -1 : 12 + b.readUInt32BE(8)), 'a packet');
    if (!raw.subarray(0, 4).equals(RES)) throw new Error(`not a response packet: ${raw.toString('latin1')}`);
    return { type: raw.readUInt32BE(4), args: raw.subarray(12).toString('latin1').split('\0'), raw };
  }

  /** Nothing arrives for `ms`: the previous reply had no trailing bytes. */
  async quiet(ms = 100): Promise<string> {
    await sleep(ms);
    return this.buf.toString('latin1');
  }

  private async take(len: (b: Buffer) => number, what: string): Promise<Buffer> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const n = len(this.buf);
      if (n >= 0) {
        const reply = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return Buffer.from(reply);
      }
      if (this.exited)
        throw new Error(`nc exited before the reply to ${JSON.stringify(what)}; got ${JSON.stringify(this.buf.toString('latin1'))} ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no whole reply to ${JSON.stringify(what)} within 5 s; got ${JSON.stringify(this.buf.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
  }
}
