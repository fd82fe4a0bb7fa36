// Checking a pipeline before anything runs, the TypeScript builder, and loading the same
// structure from a JSON or YAML file. Every message names the pipeline, the step and the field.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GeartrainError, gtError } from '../errors.js';
import { Fields, itemFields, itemString } from '../workers/validate.js';
import { parseYaml } from '../yaml.js';
import { checkExpression, inputShape, itemShape, type ExprContext } from './check-expr.js';
import { expressionBody, templateStrings } from './expr.js';
import type { InputKind, PipelineDef, StepDef } from './types.js';

const NAME = /^[a-z][a-z0-9-]*$/;
const STEP_ID = /^[A-Za-z][A-Za-z0-9_-]*$/;
const INPUTS: readonly InputKind[] = ['folder', 'file', 'json'];
const PRIORITIES = ['high', 'normal', 'low'] as const;

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
  if (s.payload === undefined) throw invalid(def.name, `${at('payload')}: missing (a JSON template or a function)`);
  const inner: ExprContext = s.forEach === undefined ? ctx : { ...ctx, item: typeof s.forEach === 'string' ? itemShape(expressionBody(s.forEach), ctx) : { kind: 'any' } };
  for (const t of templateStrings(s.payload, 'payload')) for (const e of t.expressions) check(at(t.where), e, t.text, inner);
}

/** The steps each step depends on, directly or through others; throws on a cycle. */
function ancestorsOf(name: string, steps: readonly StepDef[]): Map<string, Set<string>> {
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

/**
 * Check a definition (from the builder or a file) and fill in defaults: `needs` defaults to the
 * step before. Throws GT_PIPELINE_INVALID naming the step and field.
 */
export function checkPipeline(raw: unknown, source = 'pipeline'): PipelineDef {
  let def: PipelineDef;
  const name = typeof (raw as PipelineDef | null)?.name === 'string' ? (raw as PipelineDef).name : source;
  try {
    const f = Fields.of(raw, name);
    const pname = f.string('name', { maxLength: 64 });
    if (!NAME.test(pname)) throw invalid(source, `name must be lower-case letters, digits and "-" (received "${pname}")`);
    const input = f.oneOf('input', INPUTS);
    const description = f.optString('description');
    const extensions = f.optArray('extensions', (v, n) => itemString(v, n).toLowerCase().replace(/^\.?/, '.'), { min: 1 });
    const opts = f.optObject('options');
    const options: PipelineDef['options'] = {};
    if (opts) {
      for (const key of Object.keys((raw as PipelineDef).options ?? {})) {
        const o = opts.object(key);
        options[key] = { description: o.string('description'), default: o.raw('default') };
        o.done();
      }
      opts.done();
    }
    const ids = new Set<string>();
    const steps = f.array(
      'steps',
      (v, n): StepDef => {
        const s = itemFields(v, n);
        const id = s.string('id', { maxLength: 64 });
        if (!STEP_ID.test(id)) throw invalid(name, `${n}.id must be letters, digits, "-" and "_" (received "${id}")`);
        if (ids.has(id)) throw invalid(name, `${n}.id "${id}" is used by two steps`);
        ids.add(id);
        const step = v as StepDef;
        const out: StepDef = { id, fn: s.string('fn', { maxLength: 255 }), payload: s.raw('payload') as StepDef['payload'] };
        if (step.needs !== undefined) out.needs = s.array('needs', itemString);
        if (step.forEach !== undefined) out.forEach = typeof step.forEach === 'function' ? (s.raw('forEach') as StepDef['forEach']) : s.string('forEach');
        if (step.when !== undefined) out.when = typeof step.when === 'function' ? (s.raw('when') as StepDef['when']) : s.string('when');
        if (step.onFailure !== undefined) out.onFailure = s.bool('onFailure', false);
        if (step.priority !== undefined) out.priority = s.oneOf('priority', PRIORITIES);
        if (step.retry !== undefined) out.retry = s.int('retry', { min: 0, max: 10 });
        if (step.timeoutMs !== undefined) out.timeoutMs = s.int('timeoutMs', { min: 1 });
        if (step.concurrency !== undefined) out.concurrency = s.int('concurrency', { min: 1, max: 1000 });
        for (const fnField of ['itemKey', 'itemLabel'] as const) {
          if (step[fnField] === undefined) continue;
          if (typeof step[fnField] !== 'function') throw invalid(name, `${n}.${fnField} must be a function (TypeScript pipelines only)`);
          out[fnField] = s.raw(fnField) as never;
        }
        s.done();
        return out;
      },
      { min: 1, max: 200 },
    );
    const result = f.raw('result');
    if (result !== undefined && typeof result !== 'function') throw invalid(name, 'result must be a function (TypeScript pipelines only)');
    f.done();
    steps.forEach((s, i) => {
      s.needs ??= i === 0 ? [] : [steps[i - 1]!.id];
      s.needs.forEach((need, j) => {
        if (!ids.has(need)) throw invalid(name, `steps[${i}] (${s.id}).needs[${j}]: unknown step "${need}" (steps: ${[...ids].join(', ')})`);
        if (need === s.id) throw invalid(name, `steps[${i}] (${s.id}).needs[${j}]: a step cannot need itself`);
      });
    });
    const ancestors = ancestorsOf(name, steps);
    def = { name: pname, input, steps, ...(description ? { description } : {}), ...(extensions ? { extensions } : {}), ...(opts ? { options } : {}), ...(result ? { result: result as PipelineDef['result'] } : {}) };
    steps.forEach((st, i) => checkStepExpressions(def, i, ancestors.get(st.id)!));
  } catch (err) {
    if (err instanceof GeartrainError && err.code === 'GT_PAYLOAD_INVALID') throw invalid(name, err.message);
    throw err;
  }
  return def;
}

/** The TypeScript builder: `pipeline('upload', {input: 'file'}).step('probe', {...}).build()`. */
export class PipelineBuilder {
  private readonly steps: StepDef[] = [];
  constructor(private readonly head: Omit<PipelineDef, 'steps'>) {}

  step(id: string, step: Omit<StepDef, 'id'>): this {
    this.steps.push({ id, ...step });
    return this;
  }

  /** Check the whole definition (unknown references, cycles, fields) and return it. */
  build(): PipelineDef {
    return checkPipeline({ ...this.head, steps: this.steps }, this.head.name);
  }
}

export function pipeline(name: string, head: Omit<PipelineDef, 'steps' | 'name'>): PipelineBuilder {
  return new PipelineBuilder({ name, ...head });
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
