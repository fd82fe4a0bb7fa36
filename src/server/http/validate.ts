// Checks for request bodies and query strings; every message names the field, in the style of
// invalidArgument(): `Expected one of high, normal, low for priority but received urgent of type string`.

import { GeartrainError, invalidArgument } from '../../errors.js';

export type Fields = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The body as an object holding only `known` fields (an empty body counts as `{}` when `optional`). */
export function objectBody(body: unknown, known: readonly string[], optional = false): Fields {
  if (body === undefined && optional) return {};
  if (!isPlainObject(body)) throw invalidArgument('a JSON object', 'body', body);
  for (const k of Object.keys(body)) {
    if (!known.includes(k)) throw new GeartrainError('GT_INVALID_ARGUMENT', `Unknown field ${k} in the body (known: ${known.join(', ')})`);
  }
  return body;
}

/** A string field of at most `maxBytes` UTF-8 bytes, without NUL (it would split a Gearman packet). */
export function stringField(o: Fields, key: string, opts: { required?: boolean; maxBytes: number; nonEmpty?: boolean }): string | undefined {
  const v = o[key];
  if (v === undefined && !opts.required) return undefined;
  const what = `${opts.nonEmpty ? 'a non-empty string' : 'a string'} of at most ${opts.maxBytes} bytes without NUL`;
  if (typeof v !== 'string' || v.includes('\0') || Buffer.byteLength(v) > opts.maxBytes || (opts.nonEmpty && v === '')) {
    throw invalidArgument(what, key, v);
  }
  return v;
}

export function oneOf<T extends string>(v: unknown, key: string, options: readonly T[]): T {
  if (typeof v !== 'string' || !options.includes(v as T)) throw invalidArgument(`one of ${options.join(', ')}`, key, v);
  return v as T;
}

export function booleanField(o: Fields, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalidArgument('true or false', key, v);
  return v;
}

export function intField(o: Fields, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidArgument(`an integer from ${min} to ${max}`, key, v);
  return v;
}

export type Query = Record<string, string | string[] | undefined>;

/** Query parameters: only `known` ones, each given once. */
export function checkQuery(q: unknown, known: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (!isPlainObject(q)) return out;
  for (const [k, v] of Object.entries(q)) {
    if (!known.includes(k)) throw new GeartrainError('GT_INVALID_ARGUMENT', `Unknown query parameter ${k} (known: ${known.join(', ') || 'none'})`);
    if (Array.isArray(v)) throw invalidArgument('one value', k, v);
    out[k] = v === undefined ? undefined : String(v);
  }
  return out;
}

/** A non-negative integer query parameter (`limit=50`). */
export function queryInt(q: Record<string, string | undefined>, key: string, max: number): number | undefined {
  const v = q[key];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > max) throw invalidArgument(`an integer from 0 to ${max}`, key, v);
  return n;
}
