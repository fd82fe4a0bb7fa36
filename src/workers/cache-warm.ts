// `cache-warm` {urls, method?, concurrency?, timeoutMs?, retries?} → {results:[{url, status, ms,
// attempts, error?}], ok, failed}: request each URL so the caches in front of it fill, a few at a
// time, with a timeout, retrying 5xx and network errors. Every URL is checked before the first
// request, and every redirect before it is followed.

import { setTimeout as sleep } from 'node:timers/promises';
import { checker } from '../schema/check.js';
import { CacheWarmPayload, type CacheWarmResult, type UrlResult } from '../schema/payloads/cache-warm.js';
import { Backoff } from '../shared/backoff.js';
import { runLimited } from '../shared/limit.js';
import { allowedHostsOf, allowedUrl, urlRefusal } from './hosts.js';
import { redactUrls } from './redact.js';
import type { DomainWorker, DomainWorkerFactory } from './types.js';

export type { CacheWarmPayload, CacheWarmResult, UrlResult } from '../schema/payloads/cache-warm.js';

/** The payload as parse() returns it: each URL read and allowed, defaults filled in. */
export type CacheWarmJob = Required<Omit<CacheWarmPayload, 'urls'>> & { urls: URL[] };

const check = checker(CacheWarmPayload, 'cache-warm');

const MAX_REDIRECTS = 5;
/** Between attempts at one URL: 100 ms, 200 ms, 400 ms … */
const BACKOFF = { initialDelayMs: 100, jitter: 'none' } as const;

/**
 * A URL's user and password as a Basic Authorization header, and the URL without them (fetch
 * refuses URLs that carry credentials). Results and messages show such URLs as `***@`.
 */
function splitCredentials(u: URL): { url: URL; authorization?: string } {
  if (u.username === '' && u.password === '') return { url: u };
  const bare = new URL(u.href);
  bare.username = '';
  bare.password = '';
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  return { url: bare, authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
}

/** A failure that another attempt cannot cure (a refused redirect): reported, not retried. */
class Permanent extends Error {}

const refusal = (u: URL, allowedHosts: readonly string[]): string | undefined => urlRefusal(u, allowedHosts, 'warmed');

/**
 * One attempt: request `url`, following redirects by hand so each target is checked like the
 * URLs of the payload (fetch's own `follow` would go anywhere). The body is read to its end and
 * dropped chunk by chunk: a cache in front fills as it streams, and memory stays flat.
 */
async function attempt(url: URL, method: CacheWarmJob['method'], allowedHosts: readonly string[], signal: AbortSignal): Promise<number> {
  let current = splitCredentials(url);
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = current.authorization === undefined ? {} : { authorization: current.authorization };
    const res = await fetch(current.url, { method, redirect: 'manual', signal, headers });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      await res.body?.cancel();
      if (hop === MAX_REDIRECTS) throw new Permanent(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, current.url);
      const why = refusal(next, allowedHosts);
      if (why !== undefined) throw new Permanent(`redirected to ${redactUrls(next.href)}, which is not allowed: ${why}`);
      // The credentials go to the origin they were given for only (as curl does without
      // --location-trusted), unless the redirect names its own.
      const own = splitCredentials(next);
      current =
        own.authorization === undefined && next.origin === current.url.origin
          ? { url: next, ...(current.authorization !== undefined ? { authorization: current.authorization } : {}) }
          : own;
      continue;
    }
    if (res.body) for await (const _ of res.body) void _;
    return res.status;
  }
}

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  return redactUrls(e.cause?.code ?? e.cause?.message ?? e.message);
}

/** Warm one URL: up to 1 + retries attempts, each with its own timeout, backing off 100 ms · 2^n. */
async function warmOne(url: URL, p: CacheWarmJob, allowedHosts: readonly string[], jobSignal: AbortSignal): Promise<UrlResult> {
  const t0 = performance.now();
  let status = 0;
  let error: string | undefined;
  let attempts = 0;
  const backoff = new Backoff(BACKOFF);
  for (;;) {
    attempts++;
    let retry: boolean;
    try {
      status = await attempt(url, p.method, allowedHosts, AbortSignal.any([jobSignal, AbortSignal.timeout(p.timeoutMs)]));
      error = status >= 400 ? `HTTP ${status}` : undefined;
      retry = status >= 500;
    } catch (err) {
      status = 0;
      error = describeFailure(err, p.timeoutMs);
      retry = !(err instanceof Permanent);
    }
    if (!retry || attempts > p.retries || jobSignal.aborted) break;
    try {
      await sleep(backoff.next(), undefined, { signal: jobSignal });
    } catch {
      break; // the job was aborted; run() throws its reason
    }
  }
  return { url: redactUrls(url.href), status, ms: Math.round(performance.now() - t0), attempts, ...(error !== undefined && { error }) };
}

export const cacheWarmWorker: DomainWorkerFactory = (settings): DomainWorker<CacheWarmJob, CacheWarmResult> => {
  const allowedHosts = allowedHostsOf(settings);
  return {
    name: 'cache-warm',
    timeoutMs: 300_000,

    parse(raw) {
      const { urls, method = 'GET', concurrency = 4, timeoutMs = 10_000, retries = 2 } = check.parse(raw);
      return { urls: urls.map((u, i) => allowedUrl(u, `cache-warm.urls[${i}]`, allowedHosts, 'warmed')), method, concurrency, timeoutMs, retries };
    },

    async run(p, ctx) {
      const total = p.urls.length;
      const results: UrlResult[] = new Array<UrlResult>(total);
      let done = 0;
      // At most `concurrency` URLs in flight; none starts once the job is aborted.
      await runLimited(
        p.urls,
        p.concurrency,
        async (url, i) => {
          results[i] = await warmOne(url, p, allowedHosts, ctx.signal);
          ctx.progress(++done, total);
        },
        { stop: () => ctx.signal.aborted },
      );
      ctx.signal.throwIfAborted();
      const failures = results.filter((r) => r.error !== undefined);
      // Some URLs failing is a result to report. All of them failing means the origin is down,
      // unreachable or the URLs are wrong: the job fails (and a background job is retried later),
      // so the caller notices instead of reading a list of errors as success.
      if (failures.length === total) {
        const shown = failures
          .slice(0, 3)
          .map((r) => `${r.url}: ${r.error}`)
          .join('; ');
        throw new Error(`cache-warm: all ${total} URLs failed (${shown}${total > 3 ? '; …' : ''})`);
      }
      return { results, ok: total - failures.length, failed: failures.length };
    },
  };
};
