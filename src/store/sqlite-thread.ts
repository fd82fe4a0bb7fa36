// The SQLite store on its own thread. better-sqlite3 is synchronous: on the server's thread
// every batch of inserts and updates stopped the event loop for its whole transaction (a third
// of the server's time under load in bench/durable.ts). Here a worker thread owns the database
// and the server's thread only sends it batches and waits for the answer, so writing the job
// log runs on the second core while the first one serves the protocol.
//
// ThreadedSqliteStore is what `sqlite:PATH` opens; SqliteStore (sqlite.ts) is the engine, run
// by this file's worker side.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type ErrorCode, GeartrainError } from '../errors.js';
import { FIELDS } from './columns.js';
import { SqliteStore } from './sqlite.js';
import type { JobChange, JobFilter, JobRecord, JobStore } from './types.js';

/**
 * The thread's heap holds one batch of rows at a time, all short-lived: a young generation of
 * 16 MB instead of V8's default keeps it from growing by some 20 MB when a queue fills (1M
 * submissions: 485 → 466-471 MB RSS, the fill as fast; 8 MB saved no more and filled slower).
 */
const resourceLimits = { maxYoungGenerationSizeMb: 16 };

/** Wait before a lost thread is started again, ms. */
const RESTART_DELAY_MS = 200;

type Method = 'open' | 'write' | 'ping' | 'claim' | 'renew' | 'release' | 'get' | 'list' | 'prune' | 'close';

interface Request {
  id: number;
  method: Method;
  args: unknown[];
}

type Reply = { id: number; value: unknown } | { id: number; error: { code: string; message: string } };

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** A payload cloned across threads arrives as a Uint8Array: view it as a Buffer again (no copy). */
function asBuffer(b: Uint8Array | null): Buffer | null {
  return b === null || Buffer.isBuffer(b) ? (b as Buffer | null) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function fixRecord(r: JobRecord): JobRecord {
  r.data = asBuffer(r.data);
  return r;
}

/**
 * A batch of changes as one flat array of values, the way it crosses to the thread. Structured
 * clone writes every property name of every object it copies; a flat array costs half as much
 * to send and a third as much to receive (1,000 new rows: 0.94 → 0.45 ms on the server's thread,
 * 1.55 → 0.59 ms on the SQLite thread). An insert is INSERT and the record's fields in FIELDS
 * order; an update is UPDATE, the id, the number of fields set, then name and value of each.
 */
const INSERT = 0;
const UPDATE = 1;

function pack(changes: readonly JobChange[]): unknown[] {
  const out: unknown[] = [];
  for (const c of changes) {
    if (c.op === 'insert') {
      out.push(INSERT);
      for (const f of FIELDS) out.push(c.job[f]);
    } else {
      const keys = Object.keys(c.set) as (keyof typeof c.set)[];
      out.push(UPDATE, c.id, keys.length);
      for (const k of keys) out.push(k, c.set[k]);
    }
  }
  return out;
}

function unpack(flat: unknown[]): JobChange[] {
  const changes: JobChange[] = [];
  let i = 0;
  while (i < flat.length) {
    if (flat[i++] === INSERT) {
      const job: Record<string, unknown> = {};
      for (const f of FIELDS) job[f] = flat[i++];
      changes.push({ op: 'insert', job: fixRecord(job as unknown as JobRecord) });
    } else {
      const id = flat[i++] as string;
      const n = flat[i++] as number;
      const set: Record<string, unknown> = {};
      for (let k = 0; k < n; k++, i += 2) set[flat[i] as string] = flat[i + 1];
      if (set.data !== undefined) set.data = asBuffer(set.data as Uint8Array | null);
      changes.push({ op: 'update', id, set });
    }
  }
  return changes;
}

export class ThreadedSqliteStore implements JobStore {
  readonly durable = true;
  readonly name: string;
  private worker: Worker | null = null;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  /** Settles when the thread is gone; shared by concurrent close() calls. */
  private closing: Promise<void> | null = null;
  /** Why the thread stopped, while no thread runs: calls fail with it. */
  private gone: GeartrainError | null = null;
  /** open() succeeded: a thread lost from then on is started again. */
  private opened = false;

  constructor(readonly file: string) {
    this.name = `sqlite:${file}`;
  }

  async open(): Promise<void> {
    const worker = this.spawn();
    this.worker = worker;
    try {
      await this.call('open', []);
    } catch (err) {
      this.worker = null;
      await worker.terminate();
      throw err;
    }
    this.opened = true;
  }

  private spawn(): Worker {
    const workerData = { file: this.file };
    let worker: Worker;
    if (import.meta.url.endsWith('.ts')) {
      // Run from source under tsx (tests, bench): Node 20 does not apply the parent's --import
      // hooks to a worker thread, so the worker registers tsx itself before loading this file.
      const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
      const self = JSON.stringify(import.meta.url);
      worker = new Worker(`import(${tsx}).then((t) => { t.register(); return import(${self}); })`, { eval: true, workerData, resourceLimits });
    } else worker = new Worker(new URL(import.meta.url), { workerData, resourceLimits });
    worker.unref();
    worker.on('message', (m: Reply) => this.onReply(m));
    worker.on('error', (err) => this.lost(worker, `the SQLite thread failed: ${err.message}`));
    worker.on('exit', (code) => this.lost(worker, `the SQLite thread exited with code ${code}`));
    return worker;
  }

  /**
   * The thread stopped: its calls fail (the journal keeps and retries their changes), and
   * unless the store is closing a new thread opens the database again after a short delay.
   */
  private lost(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = null;
    const err = new GeartrainError('GT_STORE_UNAVAILABLE', `The SQLite store ${this.file} is not available: ${why}`);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.gone = err;
    if (this.opened && this.closing === null) setTimeout(() => this.restart(), RESTART_DELAY_MS).unref();
  }

  private restart(): void {
    if (this.closing !== null || this.worker !== null) return;
    const worker = this.spawn();
    this.worker = worker;
    // A thread that cannot open the database is stopped, and lost() tries again later.
    this.call('open', []).catch(() => void worker.terminate());
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker?.unref();
    if ('error' in m) p.reject(new GeartrainError(m.error.code as ErrorCode, m.error.message));
    else p.resolve(m.value);
  }

  private call(method: Method, args: unknown[]): Promise<unknown> {
    const worker = this.worker;
    if (worker === null) {
      return Promise.reject(this.gone ?? new GeartrainError('GT_STORE_UNAVAILABLE', `The SQLite store ${this.file} is not open`));
    }
    const id = ++this.seq;
    // Referenced only while a call waits: an idle store does not keep the process alive, and
    // a waiting call does (a script awaiting a write must not exit under it).
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args } satisfies Request);
    });
  }

  async write(changes: readonly JobChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.call('write', [pack(changes)]);
  }

  async ping(): Promise<void> {
    await this.call('ping', []);
  }

  async claim(owner: string, leaseUntil: number, limit: number, includeOwn = false): Promise<JobRecord[]> {
    return ((await this.call('claim', [owner, leaseUntil, limit, includeOwn])) as JobRecord[]).map(fixRecord);
  }

  async renew(owner: string, leaseUntil: number): Promise<void> {
    await this.call('renew', [owner, leaseUntil]);
  }

  async release(owner: string): Promise<void> {
    await this.call('release', [owner]);
  }

  async get(id: string): Promise<JobRecord | null> {
    const r = (await this.call('get', [id])) as JobRecord | null;
    return r === null ? null : fixRecord(r);
  }

  async list(filter: JobFilter): Promise<JobRecord[]> {
    return ((await this.call('list', [filter])) as JobRecord[]).map(fixRecord);
  }

  async prune(before: number): Promise<number> {
    return (await this.call('prune', [before])) as number;
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const worker = this.worker;
    try {
      if (worker !== null) await this.call('close', []);
    } finally {
      this.gone = new GeartrainError('GT_STORE_UNAVAILABLE', `The SQLite store ${this.file} is closed`);
      this.worker = null;
      await worker?.terminate();
    }
  }
}

// ---- the worker side ---------------------------------------------------------------------

if (!isMainThread && parentPort !== null && (workerData as { file?: unknown } | null)?.file !== undefined) {
  const port = parentPort;
  const store = new SqliteStore((workerData as { file: string }).file);
  const run = (method: Method, args: unknown[]): Promise<unknown> => {
    switch (method) {
      case 'write':
        return store.write(unpack(args[0] as unknown[]));
      case 'claim':
        return store.claim(args[0] as string, args[1] as number, args[2] as number, args[3] as boolean);
      case 'renew':
        return store.renew(args[0] as string, args[1] as number);
      case 'release':
        return store.release(args[0] as string);
      case 'get':
        return store.get(args[0] as string);
      case 'list':
        return store.list(args[0] as JobFilter);
      case 'prune':
        return store.prune(args[0] as number);
      case 'open':
      case 'ping':
      case 'close':
        return store[method]();
    }
  };
  port.on('message', (m: Request) => {
    run(m.method, m.args).then(
      (value) => port.postMessage({ id: m.id, value: value ?? null } satisfies Reply),
      (err: unknown) => {
        const code = err instanceof GeartrainError ? err.code : 'GT_STORE_UNAVAILABLE';
        const message = err instanceof GeartrainError ? err.message : `The SQLite store ${store.file} failed: ${(err as Error)?.message ?? String(err)}`;
        port.postMessage({ id: m.id, error: { code, message } } satisfies Reply);
      },
    );
  });
}
