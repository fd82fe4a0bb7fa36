// `webhook` {url, body, event?, deliveryId?, timeoutMs?, retries?} → {url, status, attempts, ms,
// deliveryId}: POST a JSON body to a URL, signed with HMAC-SHA256 over `${timestamp}.${body}` so
// the receiver can tell it came from us and refuse a replay by its age. 5xx answers and network
// errors are retried with backoff; 4xx answers are not; redirects are never followed.

import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff } from '../shared/backoff.js';
import { GeartrainError, gtError, invalidPayload } from '../errors.js';
import { VERSION } from '../version.js';
import { allowedHostsOf, allowedUrl, urlRefusal } from './hosts.js';
import { redactUrls } from './redact.js';
import type { DomainWorker, DomainWorkerFactory } from './types.js';
import { Fields } from './validate.js';

export interface WebhookPayload {
  url: URL;
  /** The JSON sent, serialised once: the signature covers exactly these bytes. */
  body: string;
  /** Sent as `Geartrain-Event`. @defaultValue `message` */
  event: string;
  /** Sent as `Geartrain-Delivery`, the same on every attempt, so a receiver can drop a repeat. @defaultValue a random UUID */
  deliveryId: string;
  /** Each attempt's limit, in ms. @defaultValue 10000 */
  timeoutMs: number;
  /** Attempts after the first on a 5xx answer or a network error. @defaultValue 3 */
  retries: number;
}

export interface WebhookResult {
  url: string;
  status: number;
  attempts: number;
  ms: number;
  deliveryId: string;
}

/** Largest body sent, serialised. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** A shorter secret is easy to guess offline from one signed request. */
export const MIN_SECRET_LENGTH = 16;
const TOKEN = /^[A-Za-z0-9._:-]{1,100}$/;

/** `t=TIMESTAMP,v1=HEX`: HMAC-SHA256 of `${timestamp}.${body}` keyed with the secret. */
export function signature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A failure another attempt may cure: a 5xx answer. */
class Retryable extends Error {}

/** One POST. Resolves with the status of a 2xx answer; throws what the caller retries or not. */
async function post(p: WebhookPayload, secret: string, allowedHosts: readonly string[], signal: AbortSignal): Promise<number> {
  const timestamp = Math.floor(Date.now() / 1000);
  const res = await fetch(p.url, {
    method: 'POST',
    redirect: 'manual',
    signal,
    body: p.body,
    headers: {
      'content-type': 'application/json',
      'user-agent': `geartrain/${VERSION}`,
      'geartrain-event': p.event,
      'geartrain-delivery': p.deliveryId,
      'geartrain-signature': signature(secret, timestamp, p.body),
    },
  });
  // The answer's body is not used; read and dropped so the connection can be reused.
  if (res.body) for await (const _ of res.body) void _;
  if (res.status >= 200 && res.status < 300) return res.status;
  const url = p.url.href;
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location');
    if (location === null) throw gtError('GT_WEBHOOK_REJECTED', url, `HTTP ${res.status} without a Location`);
    let target: URL;
    try {
      target = new URL(location, p.url);
    } catch {
      throw gtError('GT_WEBHOOK_REJECTED', url, `HTTP ${res.status} to an unreadable Location ${location}`);
    }
    // A redirect is never followed: the body and its signature go to the URL the job named only.
    const why = urlRefusal(target, allowedHosts, 'called');
    throw gtError('GT_WEBHOOK_REJECTED', url, `HTTP ${res.status} redirects to ${target.href}, which is not followed${why === undefined ? '' : ` (${why})`}`);
  }
  if (res.status < 500) throw gtError('GT_WEBHOOK_REJECTED', url, `HTTP ${res.status}`);
  throw new Retryable(`HTTP ${res.status}`);
}

function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

export const webhookWorker: DomainWorkerFactory = (settings): DomainWorker<WebhookPayload, WebhookResult> => {
  const allowedHosts = allowedHostsOf(settings);
  // The environment too, so `pipeline run`'s embedded workers sign with the operator's key.
  const secret = settings.webhook?.secret ?? process.env.GEARTRAIN_WEBHOOK_SECRET;
  return {
    name: 'webhook',
    timeoutMs: 300_000,

    parse(raw) {
      const f = Fields.of(raw, 'webhook');
      const url = allowedUrl(f.string('url'), f.name('url'), allowedHosts, 'called');
      // fetch refuses such URLs, and the signature is what authenticates the request.
      if (url.username !== '' || url.password !== '') throw invalidPayload('a URL without user:password@ (the signature authenticates the request)', f.name('url'), redactUrls(url.href));
      const value = f.raw('body');
      if (value === undefined) throw invalidPayload('a JSON value', 'webhook.body', value);
      const body = JSON.stringify(value);
      if (Buffer.byteLength(body) > MAX_BODY_BYTES) throw invalidPayload(`a body of at most ${MAX_BODY_BYTES} bytes as JSON`, 'webhook.body', `${Buffer.byteLength(body)} bytes`);
      const token = (field: string, dflt: string): string => {
        const v = f.optString(field, { maxLength: 100 }) ?? dflt;
        if (!TOKEN.test(v)) throw invalidPayload('letters, digits and . _ : - (at most 100)', f.name(field), v);
        return v;
      };
      const p: WebhookPayload = {
        url,
        body,
        event: token('event', 'message'),
        deliveryId: token('deliveryId', randomUUID()),
        timeoutMs: f.optInt('timeoutMs', { min: 1, max: 120_000 }) ?? 10_000,
        retries: f.optInt('retries', { min: 0, max: 10 }) ?? 3,
      };
      f.done();
      return p;
    },

    async run(p, ctx) {
      if (secret === undefined || secret.length < MIN_SECRET_LENGTH) throw gtError('GT_WEBHOOK_NO_SECRET', MIN_SECRET_LENGTH);
      const t0 = performance.now();
      // 1 s, 2 s, 4 s … (with jitter, at most 30 s) between attempts: a receiver that is
      // restarting gets time to come back.
      const backoff = new Backoff({ initialDelayMs: 1000, maxDelayMs: 30_000 });
      for (let attempts = 1; ; attempts++) {
        let reason: string;
        try {
          const status = await post(p, secret, allowedHosts, AbortSignal.any([ctx.signal, AbortSignal.timeout(p.timeoutMs)]));
          return { url: p.url.href, status, attempts, ms: Math.round(performance.now() - t0), deliveryId: p.deliveryId };
        } catch (err) {
          ctx.signal.throwIfAborted();
          if (err instanceof GeartrainError) throw err;
          reason = err instanceof Retryable ? err.message : describeFailure(err, p.timeoutMs);
        }
        if (attempts > p.retries) throw gtError('GT_WEBHOOK_FAILED', p.url.href, `${reason} (${attempts} ${attempts === 1 ? 'attempt' : 'attempts'})`);
        ctx.log.info({ url: p.url.href, attempt: attempts, err: reason }, 'webhook failed, retrying');
        await sleep(backoff.next(), undefined, { signal: ctx.signal });
      }
    },
  };
};
