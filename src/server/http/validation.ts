// fastify's validator compiler for the API's route schemas: TypeBox's compiled check, the engine
// of src/schema/check.ts, so a request is refused in the words payloads and config files use:
// `Expected one of high, normal, low for priority but received urgent of type string`
// (400 GT_INVALID_ARGUMENT). Nothing is removed from a request: a field or query parameter the
// schema does not list is refused. Only query strings and path parameters, which are text, have
// their numbers and booleans read from the text; a body is JSON and keeps its types (`"5"` is
// not a number).

import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { describeValue, type GeartrainError, gtError } from '../../errors.js';
import { explain, pathName, type SchemaError, type SchemaNode } from '../../schema/check.js';

/**
 * Query parameters and path parameters are text: a decimal integer or number where the schema
 * wants one, and true/false/1/0 where it wants a boolean, are read as such; an empty value
 * counts as absent (what a form sends for an empty field). Anything else stays text and fails
 * the check naming the text received.
 */
export function fromText(schema: SchemaNode, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === '') continue;
    const type = schema.properties?.[k]?.type;
    if (typeof v !== 'string') out[k] = v;
    // At most 16 digits: every such integer is read exactly (Number.MAX_SAFE_INTEGER has 16).
    else if (type === 'integer' && /^-?\d{1,16}$/.test(v)) out[k] = Number(v);
    else if (type === 'number' && /^-?\d{1,16}(\.\d{1,16})?$/.test(v)) out[k] = Number(v);
    else if (type === 'boolean' && /^(true|1|false|0)$/.test(v)) out[k] = v === 'true' || v === '1';
    else out[k] = v;
  }
  return out;
}

/** What an object with no fields of its own refuses, by request part. */
const NOTHING: Record<string, string> = { body: 'no fields', query: 'no query parameters', params: 'no path parameters' };

/** The one error for a request part that failed its schema. Fields are named by their path alone (`counts.thumbnail`); the part names the whole (`body`). */
export function requestError(schema: TSchema, value: unknown, errors: readonly SchemaError[], part: string): GeartrainError {
  const { expected, path, received } = explain(schema, value, errors);
  const words = expected === 'one of the fields ' ? (NOTHING[part] ?? expected) : expected;
  // fastify hands an absent body over as null; null and an empty body both mean "no body".
  const shown = part === 'body' && path === '' && value === null ? undefined : received;
  return gtError('GT_INVALID_ARGUMENT', words, pathName('', path) || part, describeValue(shown));
}

/** The validator compiler: one compiled check per route part, run on every request. */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const part = httpPart === 'querystring' ? 'query' : (httpPart ?? 'body');
  const check = Compile(schema);
  const text = part !== 'body';
  return (data: unknown) => {
    const value = text ? fromText(schema as SchemaNode, data) : data;
    if (check.Check(value)) return { value };
    return { error: requestError(schema, value, [...check.Errors(value)] as SchemaError[], part) };
  };
};
