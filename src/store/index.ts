// Store URLs → stores. The drivers of the database stores load only when their URL is used.

import { gtError } from '../errors.js';
import { MemoryStore } from './memory.js';
import { ThreadedSqliteStore } from './sqlite-thread.js';
import type { JobStore } from './types.js';

export type { JobChange, JobFilter, JobRecord, JobState, JobStore } from './types.js';
export { JOB_STATES } from './types.js';

/** Where `pipeline server` keeps its queue when neither --store nor GEARTRAIN_STORE says. */
export const DEFAULT_STORE_URL = 'sqlite:.geartrain/jobs.db';

/**
 * `sqlite:PATH` (relative to the working directory), `memory:`, `mysql://user:pass@host/db`
 * (MariaDB or MySQL), `postgres://user@host/db`, `redis://host:6379/0`.
 */
export async function createStore(url: string): Promise<JobStore> {
  const scheme = /^([a-z][a-z0-9+]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'memory': {
      // memory:[NAME][?keep=N]: the name only tells stores apart in tests.
      const query = url.includes('?') ? new URLSearchParams(url.slice(url.indexOf('?') + 1)) : null;
      const keep = query?.get('keep');
      for (const key of query?.keys() ?? []) {
        if (key !== 'keep') throw gtError('GT_STORE_URL_INVALID', `${url} (memory: takes one option, keep=N)`);
      }
      if (keep === undefined || keep === null) return new MemoryStore();
      if (!/^\d{1,9}$/.test(keep))
        throw gtError('GT_STORE_URL_INVALID', `${url} (keep= expects how many completed jobs to keep, a whole number such as keep=10000)`);
      return new MemoryStore({ keep: Number(keep) });
    }
    case 'sqlite': {
      const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
      if (file === '') throw gtError('GT_STORE_URL_INVALID', url);
      return new ThreadedSqliteStore(file);
    }
    case 'mysql':
    case 'mariadb': {
      const { MysqlStore } = await import('./mysql.js');
      return new MysqlStore(url);
    }
    case 'postgres':
    case 'postgresql': {
      const { PostgresStore } = await import('./postgres.js');
      return new PostgresStore(url);
    }
    case 'redis':
    case 'rediss': {
      const { RedisStore } = await import('./redis.js');
      return new RedisStore(url);
    }
    default:
      throw gtError('GT_STORE_URL_INVALID', url);
  }
}
