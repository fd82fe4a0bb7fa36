// Domain workers under test: a real job server in this process, the real workers connected to
// it, and a Client; all closed after the test.

import type { TestContext } from 'node:test';
import { Client } from '../../src/client/index.js';
import type { Logger } from '../../src/log.js';
import { type ServedType, serveDomainWorkers } from '../../src/workers/runtime.js';
import type { WorkerSettings } from '../../src/workers/types.js';
import { startInProcess } from './servers.js';

export async function withWorkers(t: TestContext, types: ServedType[], settings: WorkerSettings = {}, logger?: Logger) {
  const srv = await startInProcess();
  const served = await serveDomainWorkers({ servers: [srv.address], types, settings, ...(logger ? { logger } : {}) });
  const client = new Client({ servers: [srv.address] });
  t.after(async () => {
    await client.close();
    await served.close();
    await srv.stop();
  });
  /** Submit a JSON payload, parse the JSON result. */
  // biome-ignore lint/suspicious/noExplicitAny: a worker's JSON result; callers name its type or assert the fields they read
  const call = async <T = any>(fn: string, payload: unknown, onStatus?: (n: number, d: number) => void): Promise<T> =>
    JSON.parse((await client.submit(fn, JSON.stringify(payload), onStatus ? { onStatus } : {})).toString('utf8')) as T;
  /** The WORK_EXCEPTION text of a job that must fail. */
  const failure = async (fn: string, payload: unknown): Promise<string> => {
    try {
      await client.submit(fn, typeof payload === 'string' ? payload : JSON.stringify(payload));
    } catch (err) {
      return (err as { exception?: string }).exception ?? (err as Error).message;
    }
    throw new Error(`${fn} job did not fail`);
  };
  return { srv, served, client, call, failure };
}
