// One way to check JSON against a shape: a TypeBox schema gives the TypeScript type (Static),
// the runtime check (compiled once), the published JSON Schema and, through describe(), the
// words of the error. A failed check throws one GeartrainError naming the value by its full
// path: `Expected integer between 1 and 16384 for thumbnail.sizes[0].width but received 0 of type number`.

import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { type ErrorCode, describeValue, gtError } from '../errors.js';

/** The JSON Schema keywords describe() reads; TypeBox schemas are plain JSON Schema objects. */
interface SchemaNode {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  patternProperties?: Record<string, SchemaNode>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  /** geartrain's own annotation: the words for what a value must be, where the keywords say it badly (a pattern). */
  expected?: string;
  [key: string]: unknown;
}

/** The ajv-style error TypeBox reports. */
interface SchemaError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
}

function rangeText(kind: string, min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `${kind} between ${min} and ${max}`;
  if (min !== undefined) return min === 1 && kind === 'integer' ? 'positive integer' : `${kind} of at least ${min}`;
  if (max !== undefined) return `${kind} of at most ${max}`;
  return kind;
}

/** What a value must be, in words, read off its schema: `integer between 1 and 16384`, `one of cover, contain`. */
export function describe(s: SchemaNode): string {
  if (s.expected !== undefined) return s.expected;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum !== undefined) return `one of ${s.enum.map(String).join(', ')}`;
  const union = s.anyOf ?? s.oneOf;
  if (union !== undefined) {
    if (union.every((b) => b.const !== undefined)) return `one of ${union.map((b) => String(b.const)).join(', ')}`;
    return union.map(describe).join(' or ');
  }
  const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum : undefined);
  switch (s.type) {
    case 'integer':
      return rangeText('integer', s.exclusiveMinimum !== undefined && s.exclusiveMinimum === 0 ? 1 : min, s.maximum);
    case 'number':
      return rangeText('number', min, s.maximum);
    case 'string': {
      const empty = (s.minLength ?? 0) > 0 ? 'non-empty string' : 'string';
      return s.maxLength !== undefined ? `${empty} of at most ${s.maxLength} characters` : empty;
    }
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const lo = s.minItems ?? 0;
      const hi = s.maxItems;
      if (hi === undefined) return lo > 0 ? `array of at least ${lo} items` : 'array';
      return `array of ${lo === hi ? lo : `${lo} to ${hi}`} items`;
    }
    case 'object':
      return 'a JSON object';
    default:
      return Array.isArray(s.type) ? s.type.join(' or ') : 'a valid value';
  }
}

/** `/sizes/0/width` under `thumbnail` → `thumbnail.sizes[0].width`. */
export function pathName(root: string, pointer: string): string {
  let out = root;
  if (pointer === '') return out;
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

function at(root: SchemaNode, schemaPath: string): SchemaNode {
  let node: unknown = root;
  for (const raw of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue;
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = (node as Record<string, unknown>)[part];
  }
  return node as SchemaNode;
}

function valueAt(value: unknown, pointer: string): unknown {
  let v = value;
  if (pointer === '') return v;
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  }
  return v;
}

/** Whether `v` has the JSON type a schema's `type` names (false when it names none). */
function hasType(s: SchemaNode, v: unknown): boolean {
  switch (s.type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
    case 'number':
      return typeof v === 'number';
    case 'null':
      return v === null;
    case 'string':
    case 'boolean':
      return typeof v === s.type;
    default:
      return false;
  }
}

/** The value an error is about: a field that is unknown or missing is named, not its object. */
function pointerOf(e: SchemaError): string {
  const names = e.keyword === 'additionalProperties' ? e.params.additionalProperties : e.keyword === 'required' ? e.params.requiredProperties : undefined;
  const field = (names as string[] | undefined)?.[0];
  return field === undefined ? e.instancePath : `${e.instancePath}/${field.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/**
 * The error to show among those under `prefix` (a schema path): the first, leaving out the
 * branches of unions below it (a union's own error says "one of …") and the duplicate that
 * `additionalProperties: false` adds.
 */
function firstShown(errors: readonly SchemaError[], prefix: string): SchemaError | undefined {
  const under = prefix === '' ? errors : errors.filter((e) => e.schemaPath === prefix || e.schemaPath.startsWith(`${prefix}/`));
  return under.find((e) => e.keyword !== 'boolean' && !/\/(anyOf|oneOf)\/\d+/.test(e.schemaPath.slice(prefix.length)));
}

/**
 * The one error worth showing of the many a JSON Schema check reports. A union whose value has
 * the type of exactly one of its branches (an object where `true or a JSON object` is
 * expected) gives way to that branch's error when that error is about something inside the
 * value (`poster.format`, `to[1]`); otherwise the union's own words are shown.
 */
export function explain(schema: TSchema, value: unknown, errors: readonly SchemaError[]): { expected: string; path: string; received: unknown } {
  const root = schema as unknown as SchemaNode;
  let e = firstShown(errors, '') ?? errors[0];
  if (e === undefined) return { expected: 'a valid value', path: '', received: value };
  while (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
    const union = at(root, e.schemaPath);
    const v = valueAt(value, e.instancePath);
    const fits = (union[e.keyword] ?? []).flatMap((b, k) => (b.const === undefined && hasType(b, v) ? [k] : []));
    if (fits.length !== 1) break;
    const inner = firstShown(errors, `${e.schemaPath}/${e.keyword}/${fits[0]}`);
    if (inner === undefined || pointerOf(inner).length <= e.instancePath.length) break;
    e = inner;
  }
  const node = at(root, e.schemaPath);
  if (e.keyword === 'additionalProperties') {
    const pointer = pointerOf(e);
    return { expected: `one of the fields ${Object.keys(node.properties ?? {}).join(', ')}`, path: pointer, received: valueAt(value, pointer) };
  }
  if (e.keyword === 'required') {
    const missing = String((e.params.requiredProperties as string[] | undefined)?.[0] ?? '');
    return { expected: describe(node.properties?.[missing] ?? {}), path: pointerOf(e), received: undefined };
  }
  return { expected: describe(node), path: e.instancePath, received: valueAt(value, e.instancePath) };
}

export interface Checker<S extends TSchema> {
  readonly schema: S;
  /** The value, typed, when it matches; else throws the checker's error naming the path. */
  parse(value: unknown, name?: string): Static<S>;
  /** True when the value matches, without building an error. */
  check(value: unknown): value is Static<S>;
}

/**
 * A compiled check for `schema`. `name` roots the paths in messages (`thumbnail` →
 * `thumbnail.sizes[0].width`); `code` is the error's code (GT_PAYLOAD_INVALID for job payloads,
 * GT_INVALID_ARGUMENT for requests and files).
 */
export function checker<S extends TSchema>(schema: S, name: string, code: ErrorCode = 'GT_PAYLOAD_INVALID'): Checker<S> {
  let compiled: { Check(v: unknown): boolean; Errors(v: unknown): Iterable<unknown> } | undefined;
  const validator = (): { Check(v: unknown): boolean; Errors(v: unknown): Iterable<unknown> } => (compiled ??= Compile(schema as TSchema));
  return {
    schema,
    check: (value: unknown): value is Static<S> => validator().Check(value),
    parse(value: unknown, as = name): Static<S> {
      const v = validator();
      if (v.Check(value)) return value as Static<S>;
      const { expected, path, received } = explain(schema, value, [...v.Errors(value)] as SchemaError[]);
      throw gtError(code, expected, pathName(as, path), describeValue(received));
    },
  };
}

/** Fill the defaults a schema declares (`default:`) into a copy of `value`. */
export function withDefaults<S extends TSchema>(schema: S, value: unknown): unknown {
  return Value.Default(schema, Value.Clone(value));
}
