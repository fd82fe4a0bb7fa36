// Which URLs a worker may send a request to: http(s) only, and, when the operator lists allowed
// hosts (`--allowed-hosts`), only those. cache-warm and webhook check every URL here, before the
// first request and again for every redirect target.

import { gtError, invalidPayload } from '../errors.js';
import { redactUrls } from './redact.js';
import type { WorkerSettings } from './types.js';

/** The operator's allowed hosts, trimmed and lower-cased; [] allows any host. */
export function allowedHostsOf(settings: WorkerSettings): string[] {
  return (settings.cacheWarm?.allowedHosts ?? []).map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
}

/** Why `u` may not be requested, or undefined when it may; `done` names the request (`warmed`, `called`). */
export function urlRefusal(u: URL, allowedHosts: readonly string[], done: string): string | undefined {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `only http and https are ${done}`;
  if (allowedHosts.length > 0 && !allowedHosts.includes(u.hostname.toLowerCase()) && !allowedHosts.includes(u.host.toLowerCase())) {
    return `host ${u.host} is not in the allowed hosts (${allowedHosts.join(', ')})`;
  }
  return undefined;
}

/**
 * A payload's URL field read and checked: GT_PAYLOAD_INVALID when it is not an absolute URL,
 * GT_URL_NOT_ALLOWED (naming `field`) when it may not be requested. Messages show credentials
 * as `***`.
 */
export function allowedUrl(text: string, field: string, allowedHosts: readonly string[], done: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw invalidPayload('an absolute http(s) URL', field, redactUrls(text));
  }
  const why = urlRefusal(u, allowedHosts, done);
  if (why !== undefined) throw gtError('GT_URL_NOT_ALLOWED', redactUrls(text), `${why} (${field})`);
  return u;
}
