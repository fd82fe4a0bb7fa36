// The Redis store (ioredis): the job log as one hash per job plus sorted-set indexes, every
// operation one Lua script (redis-scripts.ts), so several servers can share it.
//
// claim() is atomic because a script is: Redis runs nothing else between its commands, so
// the pending ids it reads from the lease index and the owner and lease it writes back are
// one step. Redis has no rollback, so write() checks every change before it sends the one
// script that applies them; inside it nothing can fail half-way (only an out-of-memory
// Redis refuses it, and it does so before the first write).
//
// Durability is Redis's: with its default RDB snapshots a crash of Redis itself loses the
// last minutes; run it with `appendonly yes` (appendfsync everysec or always) for a queue.
// A crash of the geartrain server loses nothing, whatever Redis's settings.

import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { GeartrainError, gtError, invalidArgument } from '../errors.js';
import { planWrite } from './batch.js';
import { renewalDue } from './lease.js';
import { CLAIM, LIST, PRUNE, RENEW, WRITE } from './redis-scripts.js';
import { JOB_STATES, type JobChange, type JobFilter, type JobRecord, type JobStore } from './types.js';
import { checkIdentifier, parseStoreUrl, type StoreUrl, storeUnavailable, timeoutOption } from './url.js';

const DEFAULT_PREFIX = 'geartrain:';
/** `{…}` allowed so a Redis Cluster hash tag can pin every key to one slot. */
const PREFIX = /^[A-Za-z0-9_:.{}-]{1,64}$/;
const CONNECT_TIMEOUT_MS = 5000;
const PRUNE_CHUNK = 1000;

/**
 * Each entry migrates the key layout from version i to i + 1. Version 1 is the layout of
 * redis-scripts.ts; its keys are made as jobs arrive, so there is nothing to create.
 */
const MIGRATIONS: readonly ((redis: Redis, prefix: string) => Promise<void>)[] = [async () => {}];

interface Script {
  lua: string;
  sha: string;
}
const script = (lua: string): Script => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
const SCRIPTS = { write: script(WRITE), claim: script(CLAIM), renew: script(RENEW), list: script(LIST), prune: script(PRUNE) };

type Arg = string | Buffer;

export class RedisStore implements JobStore {
  readonly durable = true;
  readonly name: string;
  private readonly url: StoreUrl;
  /** Every key begins with it; ends in ':'. */
  readonly prefix: string;
  private redis: Redis | null = null;
  /** The connection's last error: ioredis reports a failed command as "Connection is closed." or similar, this says why. */
  private lastError: Error | null = null;
  private opening: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** Commands waiting for a reply, each as the function that fails it (see untilLost()). */
  private readonly waiting = new Set<(err: Error) => void>();
  /** `?timeout=`: how long one command may wait for Redis (url.ts). */
  private readonly timeoutMs: number;

  constructor(url: string) {
    this.url = parseStoreUrl(url, ['prefix', 'timeout']);
    this.timeoutMs = timeoutOption(this.url);
    const prefix = checkIdentifier(
      this.url.options.get('prefix') ?? DEFAULT_PREFIX,
      'prefix',
      PREFIX,
      'a key prefix of letters, digits and _ : . { } - (at most 64)',
    );
    this.prefix = prefix.endsWith(':') ? prefix : `${prefix}:`;
    this.name = this.url.name;
  }

  open(): Promise<void> {
    if (this.closing) return Promise.reject(gtError('GT_CLOSED', this.name));
    this.opening ??= this.connect().catch((err: unknown) => {
      this.opening = null;
      throw err;
    });
    return this.opening;
  }

  private async connect(): Promise<void> {
    const redis = new Redis(this.url.url.href, {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // A Redis that stops answering fails the command instead of holding it.
      commandTimeout: this.timeoutMs,
      // While Redis is away, commands fail at once (the journal retries them) instead of
      // queueing without bound; the connection comes back by itself.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 100, 2000),
      // A command whose connection died fails (see untilLost()) and is never sent again: the
      // caller (the journal) decides what to retry.
      autoResendUnfulfilledCommands: false,
      connectionName: `geartrain:${this.prefix}`,
    });
    // Errors surface through the commands that fail; without a listener ioredis prints them.
    redis.on('error', (err: Error) => (this.lastError = err));
    redis.on('ready', () => (this.lastError = null));
    redis.on('close', () => {
      const err = this.lastError ?? new Error('connection closed');
      for (const fail of this.waiting) fail(err);
      this.waiting.clear();
    });
    try {
      await redis.connect();
      await this.checkEviction(redis);
      await this.migrate(redis);
    } catch (err) {
      redis.disconnect();
      throw storeUnavailable('Could not open the Redis store', this.url, this.why(redis, err));
    }
    this.redis = redis;
  }

  /** A Redis that may evict any key would silently drop queued jobs. */
  private async checkEviction(redis: Redis): Promise<void> {
    let policy: string | undefined;
    try {
      policy = ((await redis.config('GET', 'maxmemory-policy')) as string[])[1];
    } catch {
      return; // CONFIG is often disabled on managed Redis: nothing to check with.
    }
    if (policy?.startsWith('allkeys-')) {
      throw new Error(`maxmemory-policy is ${policy}, which would evict queued jobs; use noeviction (or a volatile-* policy)`);
    }
  }

  private async migrate(redis: Redis): Promise<void> {
    const key = `${this.prefix}schema`;
    const version = Number((await redis.get(key)) ?? 0);
    if (!Number.isInteger(version) || version > MIGRATIONS.length) {
      throw new Error(`key layout version ${version} under ${this.prefix} is newer than this geartrain understands (${MIGRATIONS.length}); upgrade geartrain`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      await MIGRATIONS[v]!(redis, this.prefix);
      await redis.set(key, String(v + 1));
    }
  }

  private get handle(): Redis {
    if (this.closing) throw gtError('GT_CLOSED', this.name);
    if (!this.redis) throw new GeartrainError('GT_STORE_UNAVAILABLE', `The Redis store ${this.name} is not open`);
    return this.redis;
  }

  /**
   * `command`, or a failure as soon as the connection it went out on closes. ioredis keeps the
   * commands that were waiting for a reply when the connection died and answers them only
   * after it has connected again: while Redis stayed away they never settled, and one write
   * stuck that way held every submission behind it.
   */
  private untilLost<T>(command: Promise<T>): Promise<T> {
    let fail!: (err: Error) => void;
    const lost = new Promise<never>((_, reject) => (fail = reject));
    this.waiting.add(fail);
    return Promise.race([command, lost]).finally(() => this.waiting.delete(fail));
  }

  /** EVALSHA, or EVAL once when Redis does not know the script (first use, or after a restart). */
  private async eval(what: string, s: Script, args: readonly Arg[]): Promise<unknown> {
    const redis = this.handle;
    try {
      try {
        return await this.untilLost(redis.callBuffer('EVALSHA', [s.sha, '0', this.prefix, ...args]));
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await this.untilLost(redis.callBuffer('EVAL', [s.lua, '0', this.prefix, ...args]));
      }
    } catch (err) {
      throw storeUnavailable(`Could not ${what} the Redis store`, this.url, this.why(redis, err));
    }
  }

  /** A command's error, or the connection's when the command failed for want of one. */
  private why(redis: Redis, err: unknown): unknown {
    return redis.status !== 'ready' && this.lastError ? this.lastError : err;
  }

  async ping(): Promise<void> {
    const redis = this.handle;
    try {
      await this.untilLost(redis.ping());
    } catch (err) {
      throw storeUnavailable('Could not reach the Redis store', this.url, this.why(redis, err));
    }
  }

  /** A change that fails the checks below is refused (GT_INVALID_ARGUMENT) before anything is sent. */
  async write(changes: readonly JobChange[]): Promise<void> {
    if (changes.length === 0) return;
    const plan = planWrite(changes);
    const args: Arg[] = [];
    for (const job of plan.inserts) {
      checkFields(job, true);
      const set: Arg[] = [];
      for (const k of FIELDS) if (job[k] !== null) set.push(k, encode(job[k]));
      args.push('i', job.id, String(set.length / 2), ...set, '0');
    }
    for (const g of plan.updates) {
      for (const { id, set: fields } of g.rows) {
        checkFields({ id, ...fields }, false);
        const set: Arg[] = [];
        const nulls: string[] = [];
        for (const [k, v] of Object.entries(fields)) {
          if (v === null) nulls.push(k);
          else set.push(k, encode(v));
        }
        args.push('u', id, String(set.length / 2), ...set, String(nulls.length), ...nulls);
      }
    }
    await this.eval('write to', SCRIPTS.write, args);
  }

  async claim(owner: string, leaseUntil: number, limit: number, includeOwn = false): Promise<JobRecord[]> {
    const args = [owner, String(leaseUntil), String(Date.now()), String(limit), includeOwn ? '1' : '0'];
    const rows = (await this.eval('claim jobs from', SCRIPTS.claim, args)) as Buffer[][];
    return rows.map(fromPairs);
  }

  /** Only the leases less than half renewed (see renewalDue): the others are not rewritten. */
  async renew(owner: string, leaseUntil: number): Promise<void> {
    await this.eval('renew leases in', SCRIPTS.renew, [owner, String(leaseUntil), String(renewalDue(leaseUntil))]);
  }

  async release(owner: string): Promise<void> {
    await this.eval('release leases in', SCRIPTS.renew, [owner, '0', '+inf']);
  }

  async get(id: string): Promise<JobRecord | null> {
    let h: Record<string, Buffer>;
    try {
      h = await this.untilLost(this.handle.hgetallBuffer(`${this.prefix}job:${id}`));
    } catch (err) {
      throw storeUnavailable('Could not read from the Redis store', this.url, this.redis ? this.why(this.redis, err) : err);
    }
    return h.state ? fromHash(h) : null;
  }

  async list(f: JobFilter): Promise<JobRecord[]> {
    // The narrowest index: a state's, else a function's, else all jobs by time.
    const index = f.state !== undefined ? `state:${f.state}` : f.fn !== undefined ? `fn:${f.fn}` : 'updated';
    const fn = f.state !== undefined && f.fn !== undefined ? f.fn : '';
    const since = f.since === undefined ? '-inf' : String(f.since);
    const rows = (await this.eval('list', SCRIPTS.list, [index, since, String(f.limit ?? 100), fn])) as Buffer[][];
    return rows.map(fromPairs);
  }

  /** In chunks, so Redis is never blocked for long by one script. */
  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = Number(await this.eval('prune', SCRIPTS.prune, [String(before), String(PRUNE_CHUNK)]));
      total += n;
      if (n < PRUNE_CHUNK) return total;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.opening?.catch(() => {});
      const redis = this.redis;
      this.redis = null;
      if (redis) await redis.quit().catch(() => redis.disconnect());
    })();
    return this.closing;
  }
}

const encode = (v: unknown): Arg => (Buffer.isBuffer(v) ? v : String(v));

// ---- checks: Redis has no constraints, so write() refuses a bad change before sending any

type FieldCheck = [expected: string, ok: (v: unknown) => boolean];
const isString = (v: unknown): boolean => typeof v === 'string';
const isStringOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isTime = (v: unknown): boolean => Number.isSafeInteger(v);
const CHECKS: Record<keyof JobRecord, FieldCheck> = {
  id: ['a non-empty string', (v) => typeof v === 'string' && v !== ''],
  fn: ['a non-empty string', (v) => typeof v === 'string' && v !== ''],
  unique: ['a string', isString],
  priority: ['0, 1 or 2', (v) => v === 0 || v === 1 || v === 2],
  data: ['a Buffer or null', (v) => v === null || Buffer.isBuffer(v)],
  state: [`one of ${JOB_STATES.join(', ')}`, (v) => JOB_STATES.includes(v as never)],
  attempts: ['a non-negative integer', isCount],
  maxAttempts: ['a non-negative integer', isCount],
  runAt: ['an integer time in ms', isTime],
  worker: ['a string or null', isStringOrNull],
  createdAt: ['an integer time in ms', isTime],
  updatedAt: ['an integer time in ms', isTime],
  result: ['a string or null', isStringOrNull],
  owner: ['a string or null', isStringOrNull],
  leaseUntil: ['an integer time in ms', isTime],
};
const FIELDS = Object.keys(CHECKS) as (keyof JobRecord)[];

function checkFields(r: Partial<JobRecord>, whole: boolean): void {
  for (const [field, [expected, ok]] of Object.entries(CHECKS)) {
    const v = r[field as keyof JobRecord];
    if ((whole || v !== undefined) && !ok(v)) throw invalidArgument(expected, field, v);
  }
}

// ---- hashes back to records

function fromPairs(flat: Buffer[]): JobRecord {
  const h: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!.toString()] = flat[i + 1]!;
  return fromHash(h);
}

function fromHash(h: Record<string, Buffer>): JobRecord {
  const str = (k: string): string => h[k]?.toString('utf8') ?? '';
  const strOrNull = (k: string): string | null => h[k]?.toString('utf8') ?? null;
  const num = (k: string): number => Number(str(k));
  return {
    id: str('id'),
    fn: str('fn'),
    unique: str('unique'),
    priority: num('priority') as 0 | 1 | 2,
    data: h.data ?? null,
    state: str('state') as JobRecord['state'],
    attempts: num('attempts'),
    maxAttempts: num('maxAttempts'),
    runAt: num('runAt'),
    worker: strOrNull('worker'),
    createdAt: num('createdAt'),
    updatedAt: num('updatedAt'),
    result: strOrNull('result'),
    owner: strOrNull('owner'),
    leaseUntil: num('leaseUntil'),
  };
}
