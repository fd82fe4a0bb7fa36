// What the SQL stores (PostgreSQL, MySQL/MariaDB) share: a connection pool opened once and
// closed once, and one rule for running an operation on it: retried on a fresh connection
// when the one it ran on broke or the database asks for a retry (deadlock), refused when the
// database refused the data, and reported as the store being unavailable otherwise.

import { GeartrainError, gtError } from '../errors.js';
import { type StoreUrl, storeRefused, storeUnavailable } from './url.js';

/** Tries of one operation when it hits a deadlock or a connection that died under it. */
const TRIES = 3;

/**
 * What a failed attempt means. `retry`: run it again on a fresh connection (every operation of
 * these stores sets absolute values, so running it twice, even after a COMMIT whose reply was
 * lost, is safe). `refused`: the database refused the data; running it again cannot help.
 * `down`: the database could not be reached or failed otherwise.
 */
export type Failure = 'retry' | 'refused' | 'down';

export abstract class PooledStore<Pool> {
  /** `PostgreSQL`, `MySQL`: for messages. */
  protected abstract readonly kind: string;
  protected abstract readonly url: StoreUrl;
  private pool: Pool | null = null;
  private opening: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  get name(): string {
    return this.url.name;
  }

  /** Open a pool and migrate the schema; a connect() that throws has ended its pool itself. */
  protected abstract connect(): Promise<Pool>;
  protected abstract endPool(pool: Pool): Promise<void>;

  open(): Promise<void> {
    if (this.closing) return Promise.reject(gtError('GT_CLOSED', this.name));
    this.opening ??= this.connect().then(
      (pool) => void (this.pool = pool),
      (err: unknown) => {
        this.opening = null;
        throw storeUnavailable(`Could not open the ${this.kind} store`, this.url, err);
      },
    );
    return this.opening;
  }

  protected get handle(): Pool {
    if (this.closing) throw gtError('GT_CLOSED', this.name);
    if (!this.pool) throw new GeartrainError('GT_STORE_UNAVAILABLE', `The ${this.kind} store ${this.name} is not open`);
    return this.pool;
  }

  /**
   * Run `attempt` (which takes a connection from `pool` and gives it back) until it succeeds,
   * `classify` says not to try again, or it has been tried TRIES times. A failure to connect at
   * all is never retried: the caller hears at once that the store is down.
   */
  protected async retrying<T>(what: string, attempt: (pool: Pool) => Promise<T>, classify: (err: unknown) => Failure): Promise<T> {
    const pool = this.handle;
    for (let n = 1; ; n++) {
      try {
        return await attempt(pool);
      } catch (err) {
        const failure = err instanceof NotConnected ? 'down' : classify(err);
        const cause = err instanceof NotConnected ? err.cause : err;
        if (failure === 'retry' && n < TRIES) continue;
        if (failure === 'refused') throw storeRefused(`The ${this.kind} store`, this.url, cause);
        throw storeUnavailable(`Could not ${what} the ${this.kind} store`, this.url, cause);
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.opening?.catch(() => {});
      const pool = this.pool;
      this.pool = null;
      if (pool) await this.endPool(pool);
    })();
    return this.closing;
  }
}

/** Thrown by an attempt that could not get a connection: not retried. */
export class NotConnected extends Error {
  constructor(cause: unknown) {
    super('not connected', { cause });
  }
}

/** SQLSTATE classes of errors caused by the data: 22 data exception, 23 integrity constraint violation. */
export const refusedSqlState = (state: unknown): boolean => typeof state === 'string' && /^2[23]/.test(state);

/** An operation that got no answer in time (url.ts `?timeout=`): its connection is dropped. */
export class NoAnswer extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/** `work`, or NoAnswer once `ms` have passed without it settling. */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new NoAnswer(ms)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
