// `webhook` {url, body, event?, deliveryId?, timeoutMs?, retries?} → {url, status, attempts, ms,
// deliveryId}: POST a JSON body to a URL, signed with HMAC-SHA256 over `${timestamp}.${body}` so
// the receiver can tell it came from us and refuse a replay by its age. 5xx answers and network
// errors are retried with backoff; 4xx answers are not; redirects are never followed.

import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GeartrainError, gtError, invalidPayload } from '../errors.js';
import { checker } from '../schema/check.js';
import { MAX_BODY_BYTES, WebhookPayload, type WebhookResult } from '../schema/payloads/webhook.js';
import { Backoff } from '../shared/backoff.js';
import { VERSION } from '../version.js';
import { allowedHostsOf, allowedUrl, urlRefusal } from './hosts.js';
import { redactUrls } from './redact.js';
import type { DomainWorker, DomainWorkerFactory } from './types.js';

export type { WebhookPayload, WebhookResult } from '../schema/payloads/webhook.js';
export { MAX_BODY_BYTES } from '../schema/payloads/webhook.js';

/** The payload as parse() returns it: the URL read, the body serialised once (the signature covers exactly these bytes), defaults filled in. */
export type WebhookJob = Required<Omit<WebhookPayload, 'url' | 'body'>> & { url: URL; body: string };

const check = checker(WebhookPayload, 'webhook');

/** A shorter secret is easy to guess offline from one signed request. */
export const MIN_SECRET_LENGTH = 16;

/** `t=TIMESTAMP,v1=HEX`: HMAC-SHA256 of `${timestamp}.${body}` keyed with the secret. */
export function signature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A failure another attempt may cure: a 5xx answer. */
class Retryable extends Error {}

/** One POST. Resolves with the status of a 2xx answer; throws what the caller retries or not. */
async function post(p: WebhookJob, secret: string, allowedHosts: readonly string[], signal: AbortSignal): Promise<number> {
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

export const webhookWorker: DomainWorkerFactory = (settings): DomainWorker<WebhookJob, WebhookResult> => {
  const allowedHosts = allowedHostsOf(settings);
  // The environment too, so `pipeline run`'s embedded workers sign with the operator's key.
  const secret = settings.webhook?.secret ?? process.env.GEARTRAIN_WEBHOOK_SECRET;
  return {
    name: 'webhook',
    timeoutMs: 300_000,

    parse(raw) {
      const { url: text, body: value, event = 'message', deliveryId = randomUUID(), timeoutMs = 10_000, retries = 3 } = check.parse(raw);
      const url = allowedUrl(text, 'webhook.url', allowedHosts, 'called');
      // fetch refuses such URLs, and the signature is what authenticates the request.
      if (url.username !== '' || url.password !== '')
        throw invalidPayload('a URL without user:password@ (the signature authenticates the request)', 'webhook.url', redactUrls(url.href));
      const body = JSON.stringify(value);
      if (Buffer.byteLength(body) > MAX_BODY_BYTES)
        throw invalidPayload(`a body of at most ${MAX_BODY_BYTES} bytes as JSON`, 'webhook.body', `${Buffer.byteLength(body)} bytes`);
      return { url, body, event, deliveryId, timeoutMs, retries };
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
