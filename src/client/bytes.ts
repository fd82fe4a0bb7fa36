// Turning user values into wire bytes, and checking them at the boundary. Payloads are opaque
// bytes (strings become UTF-8); function names and unique ids are encoded as UTF-8 here
// because the codec writes string arguments as latin1.

import { invalidArgument } from '../errors.js';
import { GEARMAN_FUNCTION_MAX_SIZE, GEARMAN_MAX_UNIQUE_SIZE } from '../protocol/commands.js';

const EMPTY = Buffer.alloc(0);

/** Payload bytes; a Uint8Array is wrapped without copying. */
export function toBytes(value: string | Uint8Array | undefined | null, name: string): Buffer {
  if (value === undefined || value === null) return EMPTY;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgument('string or Uint8Array', name, value);
}

/** A function name as UTF-8 bytes: non-empty, at most 512 bytes, no NUL. */
export function functionNameBytes(fn: unknown, name = 'function name'): Buffer {
  if (typeof fn !== 'string' || fn.length === 0) throw invalidArgument('non-empty string', name, fn);
  const b = Buffer.from(fn, 'utf8');
  if (b.length > GEARMAN_FUNCTION_MAX_SIZE || b.includes(0)) {
    throw invalidArgument(`string of at most ${GEARMAN_FUNCTION_MAX_SIZE} bytes without NUL`, name, fn);
  }
  return b;
}

/** A unique id as UTF-8 bytes: at most 64 bytes, no NUL; '' when absent. */
export function uniqueBytes(unique: unknown, name = 'unique'): Buffer {
  if (unique === undefined) return EMPTY;
  if (typeof unique !== 'string') throw invalidArgument('string', name, unique);
  const b = Buffer.from(unique, 'utf8');
  if (b.length > GEARMAN_MAX_UNIQUE_SIZE || b.includes(0)) {
    throw invalidArgument(`string of at most ${GEARMAN_MAX_UNIQUE_SIZE} bytes without NUL`, name, unique);
  }
  return b;
}

export function positiveInt(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw invalidArgument('positive integer', name, value);
  return value;
}

/** An ASCII decimal argument from the wire; 0 when it is not a number. */
export function wireInt(b: Buffer | undefined): number {
  if (b === undefined) return 0;
  const n = Number.parseInt(b.toString('latin1'), 10);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Bytes from a decoded packet to hand to user code. Packet arguments are views into a receive
 * buffer; a small view is copied so it does not pin that buffer, a view covering most of its
 * buffer (a large payload that arrived in pieces and was gathered once) is kept as is.
 */
export function own(view: Buffer): Buffer {
  return view.byteLength * 2 >= view.buffer.byteLength ? view : Buffer.from(view);
}
