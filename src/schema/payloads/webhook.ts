// `webhook`: what a caller sends (a URL and the JSON body to POST to it, signed) and what the
// worker answers (the status of the answer that ended it).

import Type, { type Static } from 'typebox';
import { Count } from './common.js';

/** Largest body sent, serialised. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A header value that needs no quoting. */
const token = (options: { default?: string } = {}) =>
  Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._:-]{1,100}$', expected: 'letters, digits and . _ : - (at most 100)', ...options });

export const WebhookPayload = Type.Object(
  {
    /** An absolute http(s) URL without user:password@ (the signature authenticates the request). */
    url: Type.String({ minLength: 1, maxLength: 4096 }),
    /** Any JSON value, sent serialised once (at most 1 MiB): the signature covers exactly those bytes. */
    body: Type.Unknown({ expected: 'a JSON value' }),
    /** Sent as `Geartrain-Event`. */
    event: Type.Optional(token({ default: 'message' })),
    /** Sent as `Geartrain-Delivery`, the same on every attempt, so a receiver can drop a repeat. Absent: a random UUID. */
    deliveryId: Type.Optional(token()),
    /** Each attempt's limit, in ms. */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 120_000, default: 10_000 })),
    /** Attempts after the first on a 5xx answer or a network error. */
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 3 })),
  },
  { additionalProperties: false },
);
export type WebhookPayload = Static<typeof WebhookPayload>;

export const WebhookResult = Type.Object(
  {
    url: Type.String(),
    /** The 2xx status of the answer. */
    status: Type.Integer({ minimum: 200, maximum: 299 }),
    attempts: Type.Integer({ minimum: 1 }),
    ms: Count,
    deliveryId: Type.String(),
  },
  { additionalProperties: false },
);
export type WebhookResult = Static<typeof WebhookResult>;
