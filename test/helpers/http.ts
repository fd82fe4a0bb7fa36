// A job server with its HTTP API under test: in this process, both ports on 0, a JSON helper
// for the API, and workers; everything closed after the test, last started first.

import type { TestContext } from 'node:test';
import { type JobHandler, Worker } from '../../src/client/index.js';
import type { GearmanServer, ServerOptions } from '../../src/server/server.js';
import { startInProcess } from './servers.js';
import { until } from './wait.js';

export const TOKEN = 'test-token-0123456789';

// biome-ignore lint/suspicious/noExplicitAny: the HTTP API's JSON answers, of many shapes; each test asserts the fields it reads
export interface ApiAnswer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiOptions {
  /** Bearer token to send; null sends none. @defaultValue the server's */
  token?: string | null;
  headers?: Record<string, string>;
  /** A raw body, sent as it is (with the content type in `headers`). */
  raw?: string;
}

export interface HttpUnderTest {
  server: GearmanServer;
  /** "127.0.0.1:PORT" of the Gearman port */
  gearman: string;
  /** http://127.0.0.1:PORT of the HTTP port */
  base: string;
  token: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: the HTTP API's JSON answers, of many shapes; each test asserts the fields it reads
  api<T = any>(method: string, path: string, body?: unknown, opts?: ApiOptions): Promise<ApiAnswer<T>>;
  /** Start a worker serving `fns`; closed before the server. */
  worker(fns: Record<string, JobHandler>, opts?: { concurrency?: number; clientId?: string }): Promise<Worker>;
  /** Run at cleanup, before the server closes. */
  defer(f: () => Promise<unknown> | unknown): void;
}

export async function startHttp(t: TestContext, opts: ServerOptions & { token?: string | null } = {}): Promise<HttpUnderTest> {
  const { token: given, http, ...rest } = opts;
  const token = given === undefined ? TOKEN : given;
  const srv = await startInProcess({ ...rest, http: { port: 0, ...(token ? { token } : {}), ...http } });
  const cleanup: (() => Promise<unknown> | unknown)[] = [() => srv.stop()];
  t.after(async () => {
    for (const f of cleanup.reverse()) await f();
  });
  const h = srv.server.httpAddress();
  if (!h) throw new Error('the server has no HTTP address');
  const base = `http://127.0.0.1:${h.port}`;

  // biome-ignore lint/suspicious/noExplicitAny: the HTTP API's JSON answers, of many shapes; each test asserts the fields it reads
  async function api<T = any>(method: string, path: string, body?: unknown, o: ApiOptions = {}): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = {};
    const tok = o.token === undefined ? token : o.token;
    if (tok) headers.authorization = `Bearer ${tok}`;
    let payload: string | undefined;
    if (o.raw !== undefined) payload = o.raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    Object.assign(headers, o.headers);
    const res = await fetch(base + path, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  async function worker(fns: Record<string, JobHandler>, wo: { concurrency?: number; clientId?: string } = {}): Promise<Worker> {
    const w = new Worker({ servers: [srv.address], concurrency: wo.concurrency ?? 1, clientId: wo.clientId });
    for (const [name, fn] of Object.entries(fns)) w.addFunction(name, fn);
    await w.start();
    cleanup.push(() => w.close());
    // The worker's CAN_DO packets are in flight until the server lists it.
    await until('worker registered', () => Object.keys(fns).every((f) => (srv.server.registry.functions.get(f)?.workers.size ?? 0) > 0), 5000);
    return w;
  }

  return { server: srv.server, gearman: srv.address, base, token, api, worker, defer: (f) => cleanup.push(f) };
}
