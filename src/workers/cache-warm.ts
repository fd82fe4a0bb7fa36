// `cache-warm` {urls, method?, concurrency?, timeoutMs?, retries?} → {results:[{url, status, ms,
// attempts, error?}]}: request each URL so caches in front of it fill, a few at a time, with a
// timeout, retrying 5xx and network errors. Every URL is checked before the first request.

import { gtError, invalidPayload } from '../errors.js';
import type { DomainWorker, DomainWorkerFactory } from './types.js';
import { Fields, itemString } from './validate.js';

export interface CacheWarmPayload {
  urls: URL[];
  method: 'GET' | 'HEAD';
  concurrency: number;
  timeoutMs: number;
  retries: number;
}

export interface UrlResult {
  url: string;
  /** HTTP status of the last attempt; 0 when no response came. */
  status: number;
  ms: number;
  attempts: number;
  error?: string;
}

export interface CacheWarmResult {
  results: UrlResult[];
  ok: number;
  failed: number;
}

const retryableStatus = (s: number): boolean => s >= 500;

async function warmOne(url: URL, p: CacheWarmPayload, signal: AbortSignal): Promise<UrlResult> {
  const t0 = performance.now();
  let status = 0;
  let error: string | undefined;
  let attempts = 0;
  for (; attempts <= p.retries; ) {
    attempts++;
    error = undefined;
    try {
      const res = await fetch(url, { method: p.method, redirect: 'follow', signal: AbortSignal.any([signal, AbortSignal.timeout(p.timeoutMs)]) });
      status = res.status;
      // Read the body to its end (the cache fills as it streams), keeping none of it.
      if (res.body) for await (const _ of res.body) void _;
      if (!retryableStatus(status)) break;
      error = `HTTP ${status}`;
    } catch (err) {
      status = 0;
      const e = err as Error & { cause?: { code?: string } };
      error = e.name === 'TimeoutError' ? `timed out after ${p.timeoutMs} ms` : (e.cause?.code ?? e.message);
      if (signal.aborted) break;
    }
    if (attempts <= p.retries) await new Promise((r) => setTimeout(r, 100 * 2 ** (attempts - 1)));
  }
  const ok = error === undefined && status >= 200 && status < 400;
  return { url: url.href, status, ms: Math.round(performance.now() - t0), attempts, ...(ok ? {} : { error: error ?? `HTTP ${status}` }) };
}

export const cacheWarmWorker: DomainWorkerFactory = (settings): DomainWorker<CacheWarmPayload, CacheWarmResult> => {
  const allowed = settings.cacheWarm?.allowedHosts?.map((h) => h.toLowerCase()) ?? [];
  return {
    name: 'cache-warm',
    timeoutMs: 300_000,
    parse(raw) {
      const f = Fields.of(raw, 'cache-warm');
      const urls = f.array(
        'urls',
        (v, name) => {
          const s = itemString(v, name);
          let u: URL;
          try {
            u = new URL(s);
          } catch {
            throw invalidPayload('an absolute http(s) URL', name, s);
          }
          if (u.protocol !== 'http:' && u.protocol !== 'https:') throw gtError('GT_URL_NOT_ALLOWED', s, `only http and https are warmed (${name})`);
          if (allowed.length > 0 && !allowed.includes(u.hostname.toLowerCase()) && !allowed.includes(u.host.toLowerCase())) {
            throw gtError('GT_URL_NOT_ALLOWED', s, `host ${u.host} is not in the allowed hosts (${allowed.join(', ')})`);
          }
          return u;
        },
        { min: 1, max: 10_000 },
      );
      const p: CacheWarmPayload = {
        urls,
        method: f.oneOf('method', ['GET', 'HEAD'] as const, 'GET'),
        concurrency: f.optInt('concurrency', { min: 1, max: 64 }) ?? 4,
        timeoutMs: f.optInt('timeoutMs', { min: 1, max: 600_000 }) ?? 10_000,
        retries: f.optInt('retries', { min: 0, max: 10 }) ?? 2,
      };
      f.done();
      return p;
    },
    async run(p, ctx) {
      const results: UrlResult[] = new Array(p.urls.length);
      let next = 0;
      let done = 0;
      const lane = async (): Promise<void> => {
        while (next < p.urls.length && !ctx.signal.aborted) {
          const i = next++;
          results[i] = await warmOne(p.urls[i]!, p, ctx.signal);
          ctx.progress(++done, p.urls.length);
        }
      };
      await Promise.all(Array.from({ length: Math.min(p.concurrency, p.urls.length) }, lane));
      const failed = results.filter((r) => r.error !== undefined).length;
      // Some URLs failing is a result to report; all of them failing means the origin is
      // down or unreachable, which a retry of the job later may cure.
      if (failed === p.urls.length) throw new Error(`cache-warm: all ${failed} URLs failed (first: ${results[0]!.url}: ${results[0]!.error})`);
      return { results, ok: p.urls.length - failed, failed };
    },
  };
};
