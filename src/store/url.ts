// Store URLs of the database stores: parsed once, geartrain's own options (`?table=`,
// `?prefix=`) taken off, and a name for logs and errors that never carries the password.

import { GeartrainError, gtError, invalidArgument } from '../errors.js';

export interface StoreUrl {
  /** The connection URL without geartrain's own options. */
  readonly url: URL;
  /** geartrain's own options, as given. */
  readonly options: ReadonlyMap<string, string>;
  /** `postgres://user@host:5432/db?table=jobs`: no password, no driver options. */
  readonly name: string;
  /** Decoded password ('' if none), only to scrub it from driver messages. */
  readonly password: string;
}

/** Parse `raw`; `own` are the query options geartrain reads itself. */
export function parseStoreUrl(raw: string, own: readonly string[]): StoreUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw gtError('GT_STORE_URL_INVALID', redactUrl(raw));
  }
  if (url.hostname === '') throw gtError('GT_STORE_URL_INVALID', redactUrl(raw));
  const options = new Map<string, string>();
  for (const key of own) {
    const value = url.searchParams.get(key);
    if (value !== null) options.set(key, value);
    url.searchParams.delete(key);
  }
  const user = url.username ? `${url.username}@` : '';
  const shown = [...options].map(([k, v]) => `${k}=${v}`).join('&');
  const name = `${url.protocol}//${user}${url.host}${url.pathname === '/' ? '' : url.pathname}${shown ? `?${shown}` : ''}`;
  return { url, options, name, password: decodeURIComponent(url.password) };
}

/** `mysql://root:secret@h/db` → `mysql://root:***@h/db`, for URLs too broken to parse. */
export function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^/@:]*:)[^@/]*@/, '$1***@');
}

/** How long one operation may wait for the database before the store counts as down, ms. */
export const DEFAULT_STORE_TIMEOUT_MS = 10_000;

/**
 * `?timeout=MS`: the longest one query or command waits for an answer. A database that stops
 * answering without closing the connection (a network partition, a frozen host) would
 * otherwise hold every write, and the submissions waiting on it, until TCP gives up (minutes).
 */
export function timeoutOption(store: StoreUrl): number {
  const raw = store.options.get('timeout');
  if (raw === undefined) return DEFAULT_STORE_TIMEOUT_MS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 3_600_000)
    throw invalidArgument('an integer number of milliseconds between 1 and 3600000', 'the store URL option timeout', raw);
  return n;
}

/** A table name or key prefix goes into SQL and key names: letters, digits and `_` only. */
export function checkIdentifier(value: string, option: string, pattern: RegExp, expected: string): string {
  if (!pattern.test(value)) throw invalidArgument(expected, option, value);
  return value;
}

/**
 * A driver failure as GT_STORE_UNAVAILABLE: one line naming the store and the cause, with the
 * password scrubbed should a driver ever echo it. The driver's error stays as `cause`.
 */
export function storeUnavailable(what: string, store: StoreUrl, cause: unknown): GeartrainError {
  if (cause instanceof GeartrainError) return cause;
  let text = describeCause(cause);
  if (store.password.length > 0) text = text.split(store.password).join('***');
  return new GeartrainError('GT_STORE_UNAVAILABLE', `${what} ${store.name}: ${text}`, { cause });
}

/**
 * A change the store refused (a value it cannot hold, a broken constraint), as opposed to a
 * store that could not be reached: writing it again cannot succeed. GT_INVALID_ARGUMENT, so
 * the journal parks the change instead of retrying it (journal.ts, storeDown()), and a client
 * whose submission it was gets ERROR INVALID_ARGUMENT.
 */
export function storeRefused(what: string, store: StoreUrl, cause: unknown): GeartrainError {
  if (cause instanceof GeartrainError) return cause;
  let text = describeCause(cause);
  if (store.password.length > 0) text = text.split(store.password).join('***');
  return new GeartrainError('GT_INVALID_ARGUMENT', `${what} ${store.name} refused the change: ${text}`, { cause });
}

function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause).replace(/\s+/g, ' ');
  // Node's connect errors can be AggregateErrors (one per address) with an empty message.
  const parts = [cause.message];
  if (cause instanceof AggregateError) parts.push(...cause.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))));
  const code = (cause as { code?: unknown }).code;
  let text = parts.filter((p) => p !== '').join('; ');
  if (text === '' && typeof code === 'string') text = code;
  return (text || cause.name).replace(/\s+/g, ' ').trim();
}
