// Payload checks at the boundary, in sharp's manner: one reader per JSON object, one method per
// kind of field, and every message names the field by its full path and says what was expected:
// `Expected positive integer for thumbnail.sizes[0].width but received 0 of type number`.

import { invalidPayload } from '../errors.js';

type Json = Record<string, unknown>;

interface Range {
  min?: number;
  max?: number;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rangeText(kind: string, r: Range): string {
  if (r.min !== undefined && r.max !== undefined) return `${kind} between ${r.min} and ${r.max}`;
  if (r.min !== undefined) return r.min === 1 && kind === 'integer' ? 'positive integer' : `${kind} of at least ${r.min}`;
  if (r.max !== undefined) return `${kind} of at most ${r.max}`;
  return kind;
}

/** Reads the fields of one JSON object; `path` is how its fields are named in messages. */
export class Fields {
  private readonly seen = new Set<string>();

  constructor(
    private readonly obj: Json,
    readonly path: string,
  ) {}

  /** The payload's top level: it must be a JSON object. */
  static of(raw: unknown, path: string): Fields {
    if (!isObject(raw)) throw invalidPayload('a JSON object', path, raw);
    return new Fields(raw, path);
  }

  name(field: string): string {
    return `${this.path}.${field}`;
  }

  private take(field: string): unknown {
    this.seen.add(field);
    return this.obj[field];
  }

  /** A field's value unchecked (the caller checks it), counted as read for done(). */
  raw(field: string): unknown {
    return this.take(field);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined;
  }

  string(field: string, opts: { maxLength?: number } = {}): string {
    const v = this.take(field);
    const max = opts.maxLength ?? 4096;
    if (typeof v !== 'string' || v.length === 0 || v.length > max) {
      throw invalidPayload(`non-empty string of at most ${max} characters`, this.name(field), v);
    }
    return v;
  }

  optString(field: string, opts: { maxLength?: number } = {}): string | undefined {
    return this.has(field) ? this.string(field, opts) : (this.take(field), undefined);
  }

  /** A file or folder path: a string the filesystem can take (no NUL). */
  filePath(field: string): string {
    const v = this.string(field);
    if (v.includes('\0')) throw invalidPayload('a path without NUL', this.name(field), v);
    return v;
  }

  /**
   * A base name for output files (`NAME-320w.webp`): no folder, no leading dot (hidden files,
   * `..`), no control character (a line break in a name breaks logs and listings) and no NUL.
   */
  optFileName(field: string): string | undefined {
    const v = this.optString(field, { maxLength: 200 });
    if (v !== undefined && (/[/\\\x00-\x1f\x7f]/.test(v) || v.startsWith('.'))) {
      throw invalidPayload('a file name without folders, a leading dot, control characters or NUL', this.name(field), v);
    }
    return v;
  }

  int(field: string, range: Range = {}): number {
    const v = this.take(field);
    if (typeof v !== 'number' || !Number.isInteger(v) || (range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max)) {
      throw invalidPayload(rangeText('integer', range), this.name(field), v);
    }
    return v;
  }

  optInt(field: string, range: Range = {}): number | undefined {
    return this.has(field) ? this.int(field, range) : (this.take(field), undefined);
  }

  number(field: string, range: Range = {}): number {
    const v = this.take(field);
    if (typeof v !== 'number' || !Number.isFinite(v) || (range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max)) {
      throw invalidPayload(rangeText('number', range), this.name(field), v);
    }
    return v;
  }

  optNumber(field: string, range: Range = {}): number | undefined {
    return this.has(field) ? this.number(field, range) : (this.take(field), undefined);
  }

  bool(field: string, dflt: boolean): boolean {
    const v = this.take(field);
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw invalidPayload('boolean', this.name(field), v);
    return v;
  }

  /** One of `values`; `aliases` maps other accepted spellings to one of them (`jpg` → `jpeg`). */
  oneOf<T extends string>(field: string, values: readonly T[], dflt?: T, aliases: Readonly<Record<string, T>> = {}): T {
    const v = this.take(field);
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v === 'string' && Object.hasOwn(aliases, v)) return aliases[v]!;
    if (typeof v !== 'string' || !values.includes(v as T)) {
      throw invalidPayload(`one of ${values.join(', ')}`, this.name(field), v);
    }
    return v as T;
  }

  /** A nested object, read with its own Fields. */
  object(field: string): Fields {
    const v = this.take(field);
    if (!isObject(v)) throw invalidPayload('a JSON object', this.name(field), v);
    return new Fields(v, this.name(field));
  }

  optObject(field: string): Fields | undefined {
    return this.has(field) ? this.object(field) : (this.take(field), undefined);
  }

  /** An array; `each` reads one item given its value and its name (`sizes[2]`). */
  array<T>(field: string, each: (value: unknown, name: string) => T, range: Range = {}): T[] {
    const v = this.take(field);
    const min = range.min ?? 0;
    const max = range.max ?? 10_000;
    if (!Array.isArray(v) || v.length < min || v.length > max) {
      throw invalidPayload(`array of ${min === max ? min : `${min} to ${max}`} items`, this.name(field), v);
    }
    return v.map((item, i) => each(item, `${this.name(field)}[${i}]`));
  }

  optArray<T>(field: string, each: (value: unknown, name: string) => T, range: Range = {}): T[] | undefined {
    return this.has(field) ? this.array(field, each, range) : (this.take(field), undefined);
  }

  /** A flat object of string, number or boolean values (template variables, headers). */
  optRecord(field: string): Record<string, string | number | boolean> | undefined {
    const v = this.take(field);
    if (v === undefined) return undefined;
    if (!isObject(v)) throw invalidPayload('a JSON object', this.name(field), v);
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
        throw invalidPayload('string, number or boolean', `${this.name(field)}.${k}`, x);
      }
    }
    return v as Record<string, string | number | boolean>;
  }

  /** Refuse fields nobody read: a typo (`widht`) fails instead of being ignored. */
  done(): void {
    for (const k of Object.keys(this.obj)) {
      if (!this.seen.has(k)) {
        throw invalidPayload(`one of the fields ${[...this.seen].join(', ')}`, this.name(k), this.obj[k]);
      }
    }
  }
}

/** Read an array item that must itself be an object. */
export function itemFields(value: unknown, name: string): Fields {
  if (!isObject(value)) throw invalidPayload('a JSON object', name, value);
  return new Fields(value, name);
}

/** Read an array item that must be a non-empty string. */
export function itemString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) {
    throw invalidPayload('non-empty string of at most 4096 characters', name, value);
  }
  return value;
}
