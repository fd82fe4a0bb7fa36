// Load generator: raw Gearman packets over TCP, run in its own child process (forked by
// bench/lib/harness.ts) so it never shares an event loop with the server it measures. It does
// not use geartrain's client library: the figure is the server's, not a client's.
//
// Modes (all on one function name, 100-byte payloads by default):
//  - background: clients pipeline SUBMIT_JOB_BG with at most `window` JOB_CREATED outstanding
//    each, and a global cap of `maxBacklog` jobs submitted but not yet completed, so the queue
//    stays bounded and the figure is jobs both submitted and completed. Workers run one job at a
//    time per connection, as gearmand's protocol intends: GRAB_JOB → JOB_ASSIGN → WORK_COMPLETE
//    (+ the next GRAB_JOB), and NO_JOB → PRE_SLEEP → NOOP → GRAB_JOB when the queue runs dry.
//  - submit-only: the same clients, no workers: the queue fills.
//  - foreground: each client submits SUBMIT_JOB and waits for WORK_COMPLETE before the next;
//    every round trip is timed.
//
// Protocol with the parent (IPC): it sends one LoadConfig; we answer `{ kind: 'mark', phase:
// 'start' | 'end' }` at the edges of the measured window (so the parent can read the server's
// CPU time there) and then one `{ kind: 'result' }` or `{ kind: 'error' }`, and exit.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { req } from '../src/protocol/codec.js';
import { Cmd } from '../src/protocol/commands.js';

export type LoadMode = 'background' | 'submit-only' | 'foreground';

export interface LoadConfig {
  port: number;
  mode: LoadMode;
  clients: number;
  workers: number;
  payloadBytes: number;
  /** Outstanding JOB_CREATED per client connection (background modes). */
  window: number;
  /** Jobs submitted but not completed, across all clients (background mode). */
  maxBacklog: number;
  warmupMs: number;
  measureMs: number;
  fn: string;
  /**
   * Submit-only: stop after this many jobs, and end the measured window early once all of them
   * have their JOB_CREATED (bench/memory.ts fills a queue to an exact size). Default: no limit.
   */
  maxJobs?: number;
  /**
   * Background modes: every job gets its own unique id (`u<pid>-<n>`) instead of none. gearmand's
   * MySQL and PostgreSQL queues store the unique the client sent, so anonymous jobs collide on
   * their (function, unique) key and are refused with QUEUE_ERROR (bench/durable.ts).
   */
  uniques?: boolean;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadResult {
  /** Length of the measured window in seconds. */
  seconds: number;
  /** JOB_CREATED received in the window. */
  created: number;
  /** Jobs completed in the window (WORK_COMPLETE sent by a worker, or received by a foreground client). */
  completed: number;
  /** Round trips in ms (foreground only). */
  latency?: LatencySummary;
  /** CPU the load generator used in the window, in cores (1 = one core busy). */
  cpu: number;
  /** ERROR packets received; any is a failed run. */
  errors: number;
}

export type LoadMessage = { kind: 'mark'; phase: 'start' | 'end' } | { kind: 'result'; result: LoadResult } | { kind: 'error'; message: string };

const HEADER = 12;
const MAGIC_RES = 0x00524553;
const GRAB_JOB = req(Cmd.GRAB_JOB);
const PRE_SLEEP = req(Cmd.PRE_SLEEP);
const UNBLOCK_BATCH = 64;

/**
 * A minimal response reader: header, type, body view, nothing else. The server's PacketDecoder
 * splits arguments and allocates a Packet per message; here only the JOB_ASSIGN handle is ever
 * needed, so the load generator stays cheaper than the servers it drives.
 */
class ResponseReader {
  private rest: Buffer | null = null;
  constructor(private readonly onPacket: (type: number, body: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest) {
      // Only a straddling packet is held back, and responses here are small: a concat is cheap.
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let off = 0;
    const len = buf.length;
    while (len - off >= HEADER) {
      if (buf.readUInt32BE(off) !== MAGIC_RES) throw new Error(`bad response magic at byte ${off}`);
      const end = off + HEADER + buf.readUInt32BE(off + 8);
      if (end > len) break;
      this.onPacket(buf.readUInt32BE(off + 4), buf.subarray(off + HEADER, end));
      off = end;
    }
    if (off < len) this.rest = Buffer.from(buf.subarray(off));
  }
}

class Load {
  private readonly sockets: net.Socket[] = [];
  private submitted = 0;
  private created = 0;
  private completed = 0;
  private errors = 0;
  private measuring = false;
  private measureStart = 0;
  private measureEnd = Infinity;
  private readonly latencies: number[] = [];
  /** Background clients waiting for the backlog to shrink. */
  private readonly blocked = new Set<() => void>();
  private readonly submitBg: Buffer;
  private readonly payload: Buffer;
  private uniqueSeq = 0;
  private readonly submitFg: Buffer;
  /** `window` SUBMIT_JOB_BG packets back to back: a top-up of n jobs is one subarray, one write. */
  private readonly submitBatch: Buffer;
  /** Settles when maxJobs jobs are created (never without maxJobs). */
  private readonly allCreated: Promise<void>;
  private onAllCreated: () => void = () => {};

  constructor(private readonly cfg: LoadConfig) {
    const payload = Buffer.alloc(cfg.payloadBytes, 'x');
    // Empty unique id: the server names the job (both servers generate a UUID for it).
    this.payload = payload;
    this.submitBg = req(Cmd.SUBMIT_JOB_BG, cfg.fn, '', payload);
    this.submitFg = req(Cmd.SUBMIT_JOB, cfg.fn, '', payload);
    this.submitBatch = Buffer.concat(Array.from({ length: Math.max(1, cfg.window) }, () => this.submitBg));
    this.allCreated = new Promise((resolve) => (this.onAllCreated = resolve));
  }

  async run(): Promise<LoadResult> {
    const { cfg } = this;
    const workers = cfg.mode === 'submit-only' ? 0 : cfg.workers;
    // Workers first, so the first jobs find someone to run them.
    for (let i = 0; i < workers; i++) this.startWorker(await this.connect());
    const clients: net.Socket[] = [];
    for (let i = 0; i < cfg.clients; i++) clients.push(await this.connect());
    for (const s of clients) {
      if (cfg.mode === 'foreground') this.startForegroundClient(s);
      else this.startBackgroundClient(s);
    }

    await sleep(cfg.warmupMs);
    const c0 = { created: this.created, completed: this.completed, cpu: process.cpuUsage() };
    this.measuring = true;
    this.measureStart = performance.now();
    send({ kind: 'mark', phase: 'start' });
    await Promise.race([sleep(cfg.measureMs), this.allCreated]);
    this.measureEnd = performance.now();
    this.measuring = false;
    const cpu = process.cpuUsage(c0.cpu);
    const created = this.created - c0.created;
    const completed = this.completed - c0.completed;
    send({ kind: 'mark', phase: 'end' });
    for (const s of this.sockets) s.destroy();

    const seconds = (this.measureEnd - this.measureStart) / 1000;
    const result: LoadResult = { seconds, created, completed, cpu: (cpu.user + cpu.system) / 1e6 / seconds, errors: this.errors };
    if (cfg.mode === 'foreground') result.latency = summarize(this.latencies);
    return result;
  }

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.cfg.port, '127.0.0.1');
      s.setNoDelay(true);
      s.once('connect', () => {
        s.off('error', reject);
        s.on('error', (err) => fail(`load connection: ${err.message}`));
        this.sockets.push(s);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  private onError(body: Buffer): void {
    this.errors++;
    if (this.errors === 1) process.stderr.write(`load: server sent ERROR ${body.toString('latin1').replace('\0', ' ')}\n`);
  }

  private startWorker(s: net.Socket): void {
    const reader = new ResponseReader((type, body) => {
      if (type === Cmd.JOB_ASSIGN) {
        const hlen = body.indexOf(0);
        // WORK_COMPLETE(handle, no data) and the next GRAB_JOB in one write.
        const out = Buffer.allocUnsafe(HEADER + hlen + 1 + GRAB_JOB.length);
        out.writeUInt32BE(0x00524551, 0);
        out.writeUInt32BE(Cmd.WORK_COMPLETE, 4);
        out.writeUInt32BE(hlen + 1, 8);
        body.copy(out, HEADER, 0, hlen);
        out[HEADER + hlen] = 0;
        GRAB_JOB.copy(out, HEADER + hlen + 1);
        s.write(out);
        // Foreground jobs are counted by their clients, when the result arrives (and only those
        // submitted in the window); counted here too, each would count twice.
        if (this.cfg.mode !== 'foreground') this.completed++;
        // Release blocked clients in batches, not one packet per completion.
        if (this.blocked.size > 0 && this.cfg.maxBacklog - (this.submitted - this.completed) >= UNBLOCK_BATCH) this.unblock();
      } else if (type === Cmd.NO_JOB) {
        s.write(PRE_SLEEP);
      } else if (type === Cmd.NOOP) {
        s.write(GRAB_JOB);
      } else if (type === Cmd.ERROR) {
        this.onError(body);
      }
    });
    s.on('data', (chunk: Buffer) => reader.push(chunk));
    s.write(Buffer.concat([req(Cmd.CAN_DO, this.cfg.fn), GRAB_JOB]));
  }

  private unblock(): void {
    const waiting = [...this.blocked];
    this.blocked.clear();
    for (const topUp of waiting) topUp();
  }

  private startBackgroundClient(s: net.Socket): void {
    const { window, maxBacklog, mode, maxJobs } = this.cfg;
    const capped = mode === 'background';
    let outstanding = 0;
    const topUp = (): void => {
      let n = window - outstanding;
      if (capped) n = Math.min(n, maxBacklog - (this.submitted - this.completed));
      if (maxJobs !== undefined) n = Math.min(n, maxJobs - this.submitted);
      if (n <= 0) {
        if (capped && outstanding < window) this.blocked.add(topUp);
        return;
      }
      outstanding += n;
      this.submitted += n;
      if (this.cfg.uniques)
        s.write(Buffer.concat(Array.from({ length: n }, () => req(Cmd.SUBMIT_JOB_BG, this.cfg.fn, `u${process.pid}-${++this.uniqueSeq}`, this.payload))));
      else s.write(this.submitBatch.subarray(0, n * this.submitBg.length));
    };
    const reader = new ResponseReader((type, body) => {
      if (type === Cmd.JOB_CREATED) {
        outstanding--;
        this.created++;
        if (this.created === maxJobs) this.onAllCreated();
      } else if (type === Cmd.ERROR) {
        outstanding--;
        this.onError(body);
      }
    });
    // Top up once per received chunk, not per packet: fewer, larger writes, as a pipelining
    // client would do.
    s.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      topUp();
    });
    topUp();
  }

  private startForegroundClient(s: net.Socket): void {
    let sentAt = 0;
    const submit = (): void => {
      sentAt = performance.now();
      s.write(this.submitFg);
    };
    const reader = new ResponseReader((type, body) => {
      if (type === Cmd.WORK_COMPLETE) {
        const now = performance.now();
        if (this.measuring && sentAt >= this.measureStart) {
          this.latencies.push(now - sentAt);
          this.completed++;
        }
        submit();
      } else if (type === Cmd.JOB_CREATED) {
        if (this.measuring) this.created++;
      } else if (type === Cmd.ERROR || type === Cmd.WORK_FAIL) {
        this.onError(body);
        submit();
      }
    });
    s.on('data', (chunk: Buffer) => reader.push(chunk));
    submit();
  }
}

export function summarize(samples: number[]): LatencySummary {
  const a = Float64Array.from(samples).sort();
  const q = (p: number): number => (a.length === 0 ? NaN : a[Math.min(a.length - 1, Math.floor(p * a.length))]!);
  return { n: a.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: a.length ? a[a.length - 1]! : NaN };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function send(m: LoadMessage, then?: () => void): void {
  if (process.send) process.send(m, undefined, {}, () => then?.());
  else then?.();
}

/** Report and exit once the message is flushed (exiting at once can drop it). */
function finish(m: LoadMessage, code: number): void {
  send(m, () => process.exit(code));
}

function fail(message: string): void {
  finish({ kind: 'error', message }, 1);
}

// Entry point when forked: wait for the config, run, report, exit.
if (process.send !== undefined && process.argv[1]?.endsWith('load.ts')) {
  process.once('message', (cfg: LoadConfig) => {
    new Load(cfg).run().then(
      (result) => finish({ kind: 'result', result }, 0),
      (err: unknown) => fail(err instanceof Error ? err.message : String(err)),
    );
  });
}
