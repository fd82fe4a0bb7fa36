// One way to check JSON against a shape: a TypeBox schema gives the TypeScript type (Static),
// the runtime check (compiled once), the published JSON Schema and, through describe(), the
// words of the error. A failed check throws one GeartrainError naming the value by its full
// path: `Expected integer between 1 and 16384 for thumbnail.sizes[0].width but received 0 of type number`.

import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { describeValue, type ErrorCode, gtError } from '../errors.js';

/** The JSON Schema keywords describe() reads; TypeBox schemas are plain JSON Schema objects. */
export interface SchemaNode {
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
export interface SchemaError {
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

/** The JSON type of a value, in JSON Schema's words. */
function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? 'number' : typeof v;
}

/** `anyOf/1` when `node` is a union and exactly its branch 1 is of the value's JSON type. */
function unionBranch(node: SchemaNode, v: unknown): string | undefined {
  const keyword = node.anyOf !== undefined ? 'anyOf' : node.oneOf !== undefined ? 'oneOf' : undefined;
  if (keyword === undefined) return undefined;
  const type = jsonType(v);
  const fits = (b: SchemaNode): boolean => {
    if (b.type === undefined) return true;
    const types = Array.isArray(b.type) ? b.type : [b.type];
    return types.includes(type) || (type === 'number' && types.includes('integer'));
  };
  const branches = node[keyword]!;
  const matching = branches.flatMap((b, i) => (fits(b) ? [i] : []));
  return matching.length === 1 ? `${keyword}/${matching[0]}` : undefined;
}

/** The value an error is about: a field that is unknown or missing is named, not its object. */
function pointerOf(e: SchemaError): string {
  const names = e.keyword === 'additionalProperties' ? e.params.additionalProperties : e.keyword === 'required' ? e.params.requiredProperties : undefined;
  const field = (names as string[] | undefined)?.[0];
  return field === undefined ? e.instancePath : `${e.instancePath}/${field.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/**
 * The one error worth showing of the many a JSON Schema check reports: the first, leaving out
 * the branches of a union (its own anyOf error says "one of …") and the duplicate that
 * `additionalProperties: false` adds.
 */
export function explain(schema: TSchema, value: unknown, errors: readonly SchemaError[]): { expected: string; path: string; received: unknown } {
  const root = schema as unknown as SchemaNode;
  const inBranch = (e: SchemaError, under = ''): boolean => /\/(anyOf|oneOf)\/\d+/.test(e.schemaPath.slice(under.length));
  const shown = errors.filter((e) => e.keyword !== 'boolean' && !inBranch(e));
  const first = shown[0] ?? errors[0];
  if (first === undefined) return { expected: 'a valid value', path: '', received: value };
  let e: SchemaError = first;
  // A union of branches of different JSON types (an object or null): the value's type picks the
  // branch, and that branch's own first error is the precise one. A union with `expected` keeps
  // its words unless that error is about something inside the value (`poster.format`, `to[1]`).
  for (let branch = unionBranch(at(root, e.schemaPath), valueAt(value, e.instancePath)); branch !== undefined; ) {
    const under: string = `${e.schemaPath}/${branch}`;
    const inner: SchemaError | undefined = errors.find(
      (x) => x.keyword !== 'boolean' && (x.schemaPath === under || x.schemaPath.startsWith(`${under}/`)) && !inBranch(x, under),
    );
    if (inner === undefined || (at(root, e.schemaPath).expected !== undefined && pointerOf(inner).length <= e.instancePath.length)) break;
    e = inner;
    branch = unionBranch(at(root, e.schemaPath), valueAt(value, e.instancePath));
  }
  const node = at(root, e.schemaPath);
  if (e.schemaPath.endsWith('/propertyNames')) {
    // The key is what was refused, not its value.
    return {
      expected: describe(node),
      path: e.instancePath,
      received: e.instancePath
        .slice(e.instancePath.lastIndexOf('/') + 1)
        .replace(/~1/g, '/')
        .replace(/~0/g, '~'),
    };
  }
  if (e.keyword === 'additionalProperties') {
    // Keys such as `$schema` are for editors, not settings: the message leaves them out.
    const known = Object.keys(node.properties ?? {}).filter((k) => !k.startsWith('$'));
    const pointer = pointerOf(e);
    return { expected: `one of the fields ${known.join(', ')}`, path: pointer, received: valueAt(value, pointer) };
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
