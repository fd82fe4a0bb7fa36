// The checks a run makes with the schemas a TypeScript pipeline declares: each option's value
// before the run starts, and a declared function's payload before each task is submitted and
// its result when it comes back. Every message names the pipeline, the step and the path.

import type { TSchema } from 'typebox';
import { GeartrainError, gtError } from '../errors.js';
import { type Checker, checker } from '../schema/check.js';
import type { PipelineDef } from './types.js';

export interface FunctionChecks {
  /** The payload, unchanged, or GT_PIPELINE_INVALID naming the step, the item and the path. */
  payload(value: unknown, step: string, item?: string): unknown;
  /** The result, unchanged, or GT_PIPELINE_INVALID naming the step, the item and the path under `steps.ID.result`. */
  result(value: unknown, step: string, item?: string): unknown;
}

const where = (step: string, item: string | undefined): string => `step ${step}${item === undefined ? '' : `, item ${item}`}`;

/** Run a check; its error (GT_PAYLOAD_INVALID) becomes GT_PIPELINE_INVALID with `prefix` in front. */
function rethrown<T>(pipeline: string, prefix: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof GeartrainError && err.code === 'GT_PAYLOAD_INVALID') throw gtError('GT_PIPELINE_INVALID', pipeline, `${prefix}${err.message}`);
    throw err;
  }
}

const compiled = new WeakMap<PipelineDef, Map<string, FunctionChecks>>();

/** The checks of the functions `def` declares, compiled once per definition. */
export function functionChecks(def: PipelineDef): ReadonlyMap<string, FunctionChecks> {
  let checks = compiled.get(def);
  if (checks) return checks;
  checks = new Map();
  for (const [fn, schemas] of Object.entries(def.functions ?? {})) {
    const payload = schemas.payload && checker(schemas.payload, fn);
    const result = schemas.result;
    const results = new Map<string, Checker<TSchema>>();
    checks.set(fn, {
      payload: (value, step, item) => (payload ? rethrown(def.name, `${where(step, item)}: `, () => payload.parse(value)) : value),
      result(value, step, item) {
        if (!result) return value;
        let c = results.get(step);
        if (!c) results.set(step, (c = checker(result, `steps.${step}.result`)));
        const check = c;
        return rethrown(def.name, `${where(step, item)}: ${fn} answered a result its schema refuses: `, () => check.parse(value));
      },
    });
  }
  compiled.set(def, checks);
  return checks;
}

/** Check each option that declares a schema (its default or the value the run sets); unset options without a default pass. */
export function checkOptions(def: PipelineDef, options: Readonly<Record<string, unknown>>): void {
  for (const [name, o] of Object.entries(def.options ?? {})) {
    const value = options[name];
    if (o.schema === undefined || value === undefined) continue;
    const schema = o.schema;
    rethrown(def.name, '', () => checker(schema, `options.${name}`).parse(value));
  }
}
