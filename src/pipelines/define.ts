// Checking a pipeline before anything runs, whether the builder (builder.ts) made it or it was
// loaded from a JSON or YAML file. Every message names the pipeline, the step and the field.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describeValue, GeartrainError, gtError } from '../errors.js';
import { checker } from '../schema/check.js';
import { parseYaml } from '../yaml.js';
import { checkExpression, type ExprContext, inputShape, itemShape } from './check-expr.js';
import { expressionBody, templateStrings } from './expr.js';
import { PipelineFile } from './schema.js';
import type { OptionDef, PipelineDef, StepDef } from './types.js';

function invalid(pipeline: string, message: string): GeartrainError {
  return gtError('GT_PIPELINE_INVALID', pipeline, message);
}

/** Check every expression of a step where it sits; the message names the step and the field. */
function checkStepExpressions(def: PipelineDef, i: number, ancestors: ReadonlySet<string>): void {
  const s = def.steps[i]!;
  const at = (field: string): string => `steps[${i}] (${s.id}).${field}`;
  const fanOutOf = new Map(def.steps.map((x) => [x.id, x.forEach !== undefined]));
  const ctx: ExprContext = {
    input: inputShape(def.input),
    options: Object.keys(def.options ?? {}),
    steps: new Map([...ancestors].map((id) => [id, fanOutOf.get(id)!])),
  };
  const check = (where: string, body: string, shown: string, c: ExprContext): void => {
    try {
      checkExpression(body, shown, c);
    } catch (err) {
      throw invalid(def.name, `${where}: ${(err as Error).message}`);
    }
  };
  if (typeof s.forEach === 'string') check(at('forEach'), expressionBody(s.forEach), s.forEach, ctx);
  if (typeof s.when === 'string') check(at('when'), expressionBody(s.when), s.when, ctx);
  if (typeof s.payload === 'function') return;
  const inner: ExprContext =
    s.forEach === undefined ? ctx : { ...ctx, item: typeof s.forEach === 'string' ? itemShape(expressionBody(s.forEach), ctx) : { kind: 'any' } };
  for (const t of templateStrings(s.payload, 'payload')) for (const e of t.expressions) check(at(t.where), e, t.text, inner);
}

/** The steps each step depends on, directly or through others; throws on a cycle. */
export function ancestorsOf(name: string, steps: readonly StepDef[]): Map<string, Set<string>> {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const result = new Map<string, Set<string>>();
  const visiting: string[] = [];
  const visit = (id: string): Set<string> => {
    const done = result.get(id);
    if (done) return done;
    if (visiting.includes(id)) {
      const cycle = [...visiting.slice(visiting.indexOf(id)), id];
      throw invalid(name, `steps ${cycle.join(' → ')} form a cycle`);
    }
    visiting.push(id);
    const acc = new Set<string>();
    for (const need of byId.get(id)!.needs ?? []) {
      acc.add(need);
      for (const a of visit(need)) acc.add(a);
    }
    visiting.pop();
    result.set(id, acc);
    return acc;
  };
  for (const s of steps) visit(s.id);
  return result;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The file schema's check; its paths are rooted at the pipeline (`steps[2].retry`), which the message names first. */
const fileCheck = checker(PipelineFile, '');

/** Fields only the builder may give, as functions, and why a file cannot. */
function tsOnly(name: string, where: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') throw invalid(name, `${where} must be a function (TypeScript pipelines only)`);
}

/**
 * The definition as the file schema sees it: what the builder gives as functions (payload,
 * when, forEach) stands in as JSON, and its TypeScript-only fields (result, functions, itemKey,
 * itemLabel, option schemas) are checked here and left out, so one schema checks both.
 */
function jsonView(name: string, raw: Record<string, unknown>): Record<string, unknown> {
  tsOnly(name, 'result', raw.result);
  const { result: _result, functions, ...view } = raw;
  if (functions !== undefined) {
    if (!isObject(functions)) throw invalid(name, 'functions must be an object of {payload?, result?} schemas (TypeScript pipelines only)');
    for (const [fn, schemas] of Object.entries(functions)) {
      if (!isObject(schemas) || [schemas.payload, schemas.result].some((x) => x !== undefined && !isObject(x)))
        throw invalid(name, `functions.${fn} must be {payload?, result?} TypeBox schemas`);
    }
  }
  if (isObject(view.options)) {
    view.options = Object.fromEntries(
      Object.entries(view.options).map(([k, o]) => {
        if (!isObject(o)) return [k, o];
        const { schema, ...rest } = o;
        if (schema !== undefined && !isObject(schema)) throw invalid(name, `options.${k}.schema must be a TypeBox schema (TypeScript pipelines only)`);
        return [k, rest];
      }),
    );
  }
  if (Array.isArray(view.steps)) {
    view.steps = view.steps.map((step: unknown, i) => {
      if (!isObject(step)) return step;
      const { itemKey, itemLabel, ...s } = step;
      tsOnly(name, `steps[${i}].itemKey`, itemKey);
      tsOnly(name, `steps[${i}].itemLabel`, itemLabel);
      for (const field of ['forEach', 'when'] as const) if (typeof s[field] === 'function') s[field] = 'function';
      if (typeof s.payload === 'function') s.payload = null;
      return s;
    });
  }
  return view;
}

/**
 * Check a definition (from the builder or a file) and fill in defaults: `needs` defaults to the
 * step before. Throws GT_PIPELINE_INVALID naming the pipeline, then the step and field: the
 * file schema's message for a field of the wrong shape, the rules a schema cannot say
 * (references, cycles, expressions) after it.
 */
export function checkPipeline(raw: unknown, source = 'pipeline'): PipelineDef {
  if (!isObject(raw)) throw invalid(source, `Expected a JSON object for the pipeline but received ${describeValue(raw)}`);
  const name = typeof raw.name === 'string' ? raw.name : source;
  let file: PipelineFile;
  try {
    file = fileCheck.parse(jsonView(name, raw));
  } catch (err) {
    if (err instanceof GeartrainError && err.code === 'GT_PAYLOAD_INVALID') throw invalid(name, err.message);
    throw err;
  }
  const given = raw.steps as Record<string, unknown>[];
  const ids = new Set<string>();
  const steps = file.steps.map((s, i): StepDef => {
    if (ids.has(s.id)) throw invalid(name, `steps[${i}].id "${s.id}" is used by two steps`);
    ids.add(s.id);
    const g = given[i]!;
    const step: StepDef = { ...s, payload: g.payload as StepDef['payload'] };
    // The builder's functions, which the schema saw as stand-ins.
    for (const field of ['forEach', 'when', 'itemKey', 'itemLabel'] as const) if (typeof g[field] === 'function') Object.assign(step, { [field]: g[field] });
    return step;
  });
  steps.forEach((s, i) => {
    s.needs ??= i === 0 ? [] : [steps[i - 1]!.id];
    s.needs.forEach((need, j) => {
      if (!ids.has(need)) throw invalid(name, `steps[${i}] (${s.id}).needs[${j}]: unknown step "${need}" (steps: ${[...ids].join(', ')})`);
      if (need === s.id) throw invalid(name, `steps[${i}] (${s.id}).needs[${j}]: a step cannot need itself`);
    });
  });
  const ancestors = ancestorsOf(name, steps);
  const options = raw.options as Record<string, OptionDef> | undefined;
  const def: PipelineDef = {
    name: file.name,
    input: file.input,
    steps,
    ...(file.description ? { description: file.description } : {}),
    ...(file.extensions ? { extensions: file.extensions.map((e) => e.toLowerCase().replace(/^\.?/, '.')) } : {}),
    ...(file.options
      ? {
          options: Object.fromEntries(
            Object.entries(file.options).map(([k, o]) => [k, { ...o, ...(options?.[k]?.schema ? { schema: options[k].schema } : {}) }]),
          ),
        }
      : {}),
    ...(raw.functions ? { functions: raw.functions as PipelineDef['functions'] } : {}),
    ...(typeof raw.result === 'function' ? { result: raw.result as PipelineDef['result'] } : {}),
  };
  steps.forEach((st, i) => {
    checkStepExpressions(def, i, ancestors.get(st.id)!);
  });
  return def;
}

/** Load and check a pipeline from a .json, .yaml or .yml file. */
export async function loadPipelineFile(file: string): Promise<PipelineDef> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw gtError('GT_PIPELINE_NOT_FOUND', file, `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const ext = path.extname(file).toLowerCase();
  let raw: unknown;
  try {
    raw = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw invalid(path.basename(file), `not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  return checkPipeline(raw, path.basename(file));
}
