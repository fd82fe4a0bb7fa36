// The check a run gets before it submits anything: every step that calls a domain worker and
// whose payload comes from the input and the options alone (not from earlier results) has its
// payload, for its first item, checked as the worker will check it. A bad option is then one
// message before any job, not the same failure from every job.

import { GeartrainError, gtError } from '../errors.js';
import { evaluate, render } from './expr.js';
import { functionChecks } from './functions.js';
import { checkPayload } from './payloads.js';
import type { FanOutStep, PipelineDef, SingleStep, StepDef, StepScope, StepView } from './types.js';

/** What a step sees of an earlier step that has not run: nothing yet. */
const NOT_RUN: SingleStep & FanOutStep = { result: undefined, results: [], failed: 0, status: 'pending', failures: [] };

/**
 * A scope without earlier results that notes whether anything asked for them. Every step reads
 * as not run yet (a function reading `s.steps.probe.result` gets undefined, not a TypeError), so
 * a condition on an earlier result is told apart from one on the options alone.
 */
function probeScope(base: Omit<StepScope, 'steps'>, extra: { item?: unknown; index?: number } = {}): { scope: StepScope; readSteps(): boolean } {
  let read = false;
  const steps = new Proxy<Record<string, StepView>>({}, { get: () => NOT_RUN });
  const scope = { ...base, ...extra } as StepScope;
  Object.defineProperty(scope, 'steps', {
    enumerable: true,
    get() {
      read = true;
      return steps;
    },
  });
  return { scope, readSteps: () => read };
}

/** The first item's payload if it can be told from the input and options alone. */
function firstPayload(step: StepDef, base: Omit<StepScope, 'steps'>): { payload: unknown; label?: string } | undefined {
  const top = probeScope(base);
  if (step.when !== undefined) {
    const ok = typeof step.when === 'function' ? step.when(top.scope) : evaluate(step.when, top.scope);
    if (!ok && !top.readSteps()) return undefined; // the step will not run
  }
  let item: unknown;
  if (step.forEach !== undefined) {
    const list = typeof step.forEach === 'function' ? step.forEach(top.scope) : evaluate(step.forEach, top.scope);
    if (top.readSteps() || !Array.isArray(list) || list.length === 0) return undefined;
    item = list[0];
  }
  const p = probeScope(base, step.forEach === undefined ? {} : { item, index: 0 });
  const payload = typeof step.payload === 'function' ? step.payload(p.scope) : render(step.payload, p.scope);
  if (p.readSteps()) return undefined;
  if (step.forEach === undefined) return { payload };
  return { payload, label: step.itemLabel ? step.itemLabel(item) : describeItem(item) };
}

/** An item as the message names it: an input file by its path under the input, anything else as (short) JSON. */
function describeItem(item: unknown): string {
  const rel = (item as { rel?: unknown } | null)?.rel;
  if (typeof rel === 'string') return rel;
  const json = JSON.stringify(item) ?? String(item);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** Throws GT_PIPELINE_INVALID naming the step, the item and the worker's message for the first bad payload. */
export function preflight(def: PipelineDef, base: Omit<StepScope, 'steps'>): void {
  for (const step of def.steps) {
    let first: ReturnType<typeof firstPayload>;
    try {
      first = firstPayload(step, base);
    } catch {
      continue; // what cannot be computed yet fails the step when it runs, with its reason
    }
    if (!first) continue;
    // A declared function's payload schema (functions.ts) names the step itself.
    functionChecks(def).get(step.fn)?.payload(first.payload, step.id, first.label);
    try {
      checkPayload(step.fn, first.payload);
    } catch (err) {
      if (!(err instanceof GeartrainError) || err.code !== 'GT_PAYLOAD_INVALID') throw err;
      const where = first.label === undefined ? '' : ` (checked on its first item, ${first.label})`;
      throw gtError('GT_PIPELINE_INVALID', def.name, `step ${step.id}${where}: ${err.message}`);
    }
  }
}
