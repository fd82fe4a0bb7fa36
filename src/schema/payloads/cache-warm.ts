// `cache-warm`: what a caller sends (URLs to request so the caches in front of them fill) and
// what the worker answers (each URL's status, time and attempts).

import Type, { type Static } from 'typebox';
import { Count } from './common.js';

export const METHODS = ['GET', 'HEAD'] as const;

export const CacheWarmPayload = Type.Object(
  {
    /** Absolute http(s) URLs; the worker checks each against its allowed hosts. */
    urls: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 10_000 }),
    method: Type.Optional(Type.Enum(METHODS, { default: 'GET' })),
    /** Requests in flight at once. */
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 4 })),
    /** Each attempt's limit, in ms. */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, default: 10_000 })),
    /** Attempts after the first on a 5xx answer or a network error. */
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 2 })),
  },
  { additionalProperties: false },
);
export type CacheWarmPayload = Static<typeof CacheWarmPayload>;

export const UrlResult = Type.Object(
  {
    /** The URL, credentials shown as `***`. */
    url: Type.String(),
    /** HTTP status of the last attempt (after redirects); 0 when no response came. */
    status: Count,
    /** Time for this URL, all attempts and backoff included. */
    ms: Count,
    attempts: Type.Integer({ minimum: 1 }),
    /** Set when the URL did not end in a 2xx/3xx answer: `HTTP 503`, `timed out after 10000 ms`, `ECONNREFUSED`. */
    error: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type UrlResult = Static<typeof UrlResult>;

export const CacheWarmResult = Type.Object(
  {
    /** One per URL, in the payload's order. */
    results: Type.Array(UrlResult),
    ok: Count,
    failed: Count,
  },
  { additionalProperties: false },
);
export type CacheWarmResult = Static<typeof CacheWarmResult>;
