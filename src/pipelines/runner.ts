// Runs a pipeline through a Client against any Gearman server: steps start when the steps they
// need have settled, fan-out steps submit their items together (addTask/runTasks, bounded in
// flight), a failed item never stops its siblings, and the run record is saved as items finish
// so a run started again skips what is done.

import type { Client } from '../client/client.js';
import type { JobExceptionError, TaskResult } from '../client/types.js';
import { exceptionCode, exceptionText, gtError, isRetryable } from '../errors.js';
import { fingerprint } from '../shared/fingerprint.js';
import { ancestorsOf } from './define.js';
import { ExprError, evaluate, render } from './expr.js';
import { checkOptions, type FunctionChecks, functionChecks } from './functions.js';
import { outputConflicts } from './payloads.js';
import { preflight } from './preflight.js';
import type { RunStore } from './state.js';
import type { ItemRecord, ItemScope, PipelineDef, RunEvent, RunRecord, StepDef, StepRecord, StepScope, StepStatus, StepView } from './types.js';

export interface RunnerOptions {
  client: Client;
  store: RunStore;
  /** Tasks of one fan-out in flight at once, unless the step says otherwise. @defaultValue 4 */
  concurrency?: number;
  /** Stop: no new tasks; tasks waiting are abandoned (their items run again next time). */
  signal?: AbortSignal;
  onEvent?(e: RunEvent): void;
  /** Ignore what an earlier run recorded and submit every item again. @defaultValue false */
  force?: boolean;
}

export interface RunParams {
  id: string;
  /** What steps see as `input`. */
  input: unknown;
  /** What the record keeps as the input (a path, or the JSON). */
  inputSpec: unknown;
  out: string;
  options?: Record<string, unknown>;
  skippedInput?: RunRecord['skippedInput'];
}

interface Item {
  key: string;
  label: string;
  payload: unknown;
  fingerprint: string;
  /** Why this item fails without being submitted (it would overwrite another's output). */
  error?: string;
}

/** Saves the record at most every `ms`, and once more at the end. */
class Saver {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  constructor(
    private readonly store: RunStore,
    private readonly record: RunRecord,
    private readonly ms = 250,
  ) {}
  touch(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.ms);
  }
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.record.updatedAt = new Date().toISOString();
    const snapshot = JSON.parse(JSON.stringify(this.record)) as RunRecord;
    this.writing = this.writing.then(() => this.store.save(snapshot));
    return this.writing;
  }
}

function parseResult(data: Buffer | undefined): unknown {
  const text = data?.toString('utf8') ?? '';
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A result checked against its function's result schema: the value, or the error text naming the step and item. */
function checkedResult(check: FunctionChecks | undefined, value: unknown, step: StepDef, it: Item): { value: unknown; error?: string } {
  if (!check) return { value };
  try {
    return { value: check.result(value, step.id, step.forEach === undefined ? undefined : it.label) };
  } catch (err) {
    return { value, error: exceptionText(err) };
  }
}

function errorText(r: TaskResult): string {
  const err = r.error;
  if (!err) return 'failed';
  return (err as Partial<JobExceptionError>).exception ?? err.message;
}

function retryable(r: TaskResult): boolean {
  const code = (r.error as Partial<JobExceptionError> | undefined)?.exception;
  if (code !== undefined) {
    const c = exceptionCode(code);
    return c === undefined || isRetryable(c);
  }
  return true;
}

function defaultKey(item: unknown, index: number): string {
  if (item && typeof item === 'object') {
    const o = item as Record<string, unknown>;
    for (const k of ['key', 'rel', 'path', 'url', 'id']) if (typeof o[k] === 'string') return o[k] as string;
  }
  return typeof item === 'string' ? item : `${index}:${fingerprint(item)}`;
}

/**
 * What a step's functions and expressions read: the run, and of the steps only `visible` (the
 * step's ancestors; every step for the pipeline's result). A step that is not an ancestor is
 * absent, as the builder's types say, never there or not depending on timing.
 */
export function stepScope(record: RunRecord, def: PipelineDef, input: unknown, visible?: ReadonlySet<string>): StepScope {
  const steps: Record<string, StepView> = {};
  for (const s of def.steps) {
    if (visible && !visible.has(s.id)) continue;
    const rec = record.steps[s.id];
    if (!rec) continue;
    const items = Object.values(rec.items);
    const done = items.filter((i) => i.status === 'done');
    const failed = items.length - done.length;
    const failures = items.filter((i) => i.status === 'failed').map((i) => ({ item: i.label, error: i.error ?? 'failed' }));
    steps[s.id] =
      s.forEach === undefined
        ? { result: rec.items['-']?.result, failed, status: rec.status, failures }
        : { results: done.map((i) => i.result), failed, status: rec.status, failures };
  }
  return { input, options: record.options, run: { id: record.id, out: record.out }, steps };
}

/** Run (or resume) a pipeline; resolves with the final record, never rejects for failed items. */
export async function runPipeline(def: PipelineDef, params: RunParams, opts: RunnerOptions): Promise<RunRecord> {
  const { client, store, signal } = opts;
  const emit = (e: RunEvent): void => opts.onEvent?.(e);
  const now = new Date().toISOString();
  const options = { ...Object.fromEntries(Object.entries(def.options ?? {}).map(([k, o]) => [k, o.default])), ...params.options };
  checkOptions(def, options);
  const declared = functionChecks(def);
  preflight(def, { input: params.input, options, run: { id: params.id, out: params.out } });
  const previous = opts.force ? undefined : await store.load(params.id);
  const record: RunRecord = {
    id: params.id,
    pipeline: def.name,
    input: params.inputSpec,
    out: params.out,
    options,
    status: 'running',
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
    skippedInput: params.skippedInput ?? [],
    steps: {},
  };
  const saver = new Saver(store, record);
  await saver.flush();

  const byId = new Map(def.steps.map((s) => [s.id, s]));
  const ancestry = ancestorsOf(def.name, def.steps);
  const settled = new Map<string, Promise<StepStatus>>();
  const settle = (id: string): Promise<StepStatus> => {
    let p = settled.get(id);
    if (!p) {
      p = runStep(byId.get(id)!);
      settled.set(id, p);
    }
    return p;
  };

  const finishStep = (step: StepDef, rec: StepRecord, status: StepStatus, reason?: string): StepStatus => {
    rec.status = status;
    if (reason !== undefined) rec.reason = reason;
    saver.touch();
    emit({ type: 'step-end', step: step.id, status, ...(reason !== undefined ? { reason } : {}) });
    return status;
  };

  // The step that failed behind each step that is skipped because of it: what needs a broken
  // step is skipped too, so nothing downstream of a failure runs as if all went well.
  const brokenBy = new Map<string, string>();
  /** Steps this one needs, directly or through others, that failed wholly or partly. */
  const failedBefore = (step: StepDef, seen = new Set<string>()): string[] =>
    (step.needs ?? []).flatMap((n) => {
      if (seen.has(n)) return [];
      seen.add(n);
      const st = record.steps[n]?.status;
      return [...(st === 'failed' || st === 'partial' ? [n] : []), ...failedBefore(byId.get(n)!, seen)];
    });

  async function runStep(step: StepDef): Promise<StepStatus> {
    const needs = await Promise.all((step.needs ?? []).map((n) => settle(n).then((s) => [n, s] as const)));
    const rec: StepRecord = { status: 'pending', total: 0, items: {} };
    record.steps[step.id] = rec;
    if (step.onFailure) {
      if (failedBefore(step).length === 0) return finishStep(step, rec, 'skipped', 'nothing it needs failed');
    } else {
      const broken = needs.find(([n, s]) => s === 'failed' || brokenBy.has(n));
      if (broken) {
        const cause = broken[1] === 'failed' ? broken[0] : brokenBy.get(broken[0])!;
        brokenBy.set(step.id, cause);
        return finishStep(step, rec, 'skipped', `needs ${cause}, which failed`);
      }
    }
    if (signal?.aborted) return finishStep(step, rec, 'skipped', 'run stopped');
    const scope = stepScope(record, def, params.input, ancestry.get(step.id));
    try {
      if (step.when !== undefined) {
        const ok = typeof step.when === 'function' ? step.when(scope) : evaluate(step.when, scope);
        if (!ok) return finishStep(step, rec, 'skipped', typeof step.when === 'string' ? `condition is false: ${step.when}` : 'condition is false');
      }
      const items = buildItems(step, scope);
      const conflicts = outputConflicts(step.fn, items);
      for (const it of items) {
        const err = conflicts.get(it.key);
        if (err) it.error = exceptionText(err);
      }
      rec.total = items.length;
      rec.status = 'running';
      return await runItems(step, rec, items);
    } catch (err) {
      // A payload or list that cannot be computed fails this step, not the run.
      rec.items['-'] = { label: step.id, status: 'failed', fingerprint: '', error: exceptionText(err) };
      return finishStep(step, rec, 'failed', (err as Error).message);
    }
  }

  function buildItems(step: StepDef, scope: StepScope): Item[] {
    const check = declared.get(step.fn);
    const payloadOf = (s: StepScope, item?: string): unknown => {
      let payload: unknown;
      if (typeof step.payload === 'function') payload = step.payload(s);
      else {
        try {
          payload = render(step.payload, s);
        } catch (err) {
          if (!(err instanceof ExprError)) throw err;
          throw gtError('GT_PIPELINE_INVALID', def.name, `step ${step.id}${item === undefined ? '' : `, item ${item}`}: ${err.message}`);
        }
      }
      return check ? check.payload(payload, step.id, item) : payload;
    };
    if (step.forEach === undefined) {
      const payload = payloadOf(scope);
      return [{ key: '-', label: step.id, payload, fingerprint: fingerprint([step.fn, payload]) }];
    }
    const list = typeof step.forEach === 'function' ? step.forEach(scope) : evaluate(step.forEach, scope);
    if (!Array.isArray(list)) throw new Error(`forEach of step ${step.id} gave ${typeof list}, expected an array`);
    const seen = new Set<string>();
    return list.map((item, index) => {
      let key = step.itemKey ? step.itemKey(item, index) : defaultKey(item, index);
      if (seen.has(key)) key = `${key}#${index}`;
      seen.add(key);
      const label = step.itemLabel ? step.itemLabel(item) : key;
      const itemScope: ItemScope = { ...scope, item, index };
      const payload = payloadOf(itemScope, label);
      return { key, label, payload, fingerprint: fingerprint([step.fn, item, payload]) };
    });
  }

  async function runItems(step: StepDef, rec: StepRecord, items: Item[]): Promise<StepStatus> {
    const check = declared.get(step.fn);
    const before = previous?.steps[step.id]?.items ?? {};
    let pending: Item[] = [];
    let reused = 0;
    const refused: Item[] = [];
    for (const it of items) {
      const old = before[it.key];
      if (it.error !== undefined) refused.push(it);
      else if (old?.status === 'done' && old.fingerprint === it.fingerprint) {
        rec.items[it.key] = old;
        reused++;
      } else pending.push(it);
    }
    emit({ type: 'step-start', step: step.id, total: items.length, reused });
    for (const it of items) if (rec.items[it.key]) emit({ type: 'item-done', step: step.id, key: it.key, label: it.label, ms: 0, reused: true });
    for (const it of refused) {
      rec.items[it.key] = { label: it.label, status: 'failed', fingerprint: it.fingerprint, error: it.error! };
      emit({ type: 'item-failed', step: step.id, key: it.key, label: it.label, error: it.error! });
    }
    const attempts = 1 + (step.retry ?? 0);
    for (let attempt = 1; attempt <= attempts && pending.length > 0 && !signal?.aborted; attempt++) {
      const again: Item[] = [];
      const started = pending.map((it) => {
        const t0 = performance.now();
        const task = client.addTask(step.fn, JSON.stringify(it.payload), {
          priority: step.priority ?? 'normal',
          // The same item of the same run coalesces with its job still queued or running
          // (a resumed run attaches to the work its crashed predecessor started).
          unique: `gt:${fingerprint([params.id, step.id, it.key])}`,
          ...(step.timeoutMs !== undefined ? { timeoutMs: step.timeoutMs } : {}),
          ...(signal ? { signal } : {}),
          onStatus: (numerator, denominator) => emit({ type: 'item-progress', step: step.id, key: it.key, numerator, denominator }),
        });
        return task.result.then((r) => {
          if (signal?.aborted && !r.ok) return; // abandoned, not failed: runs again next time
          const ms = Math.round(performance.now() - t0);
          const result = r.ok ? checkedResult(check, parseResult(r.data), step, it) : undefined;
          if (r.ok && result?.error === undefined) {
            rec.items[it.key] = { label: it.label, status: 'done', fingerprint: it.fingerprint, result: result?.value, ms };
            emit({ type: 'item-done', step: step.id, key: it.key, label: it.label, ms, reused: false });
          } else if (result?.error !== undefined) {
            // The function answered with something its result schema refuses: a retry would get the same.
            rec.items[it.key] = { label: it.label, status: 'failed', fingerprint: it.fingerprint, error: result.error, ms };
            emit({ type: 'item-failed', step: step.id, key: it.key, label: it.label, error: result.error });
          } else {
            const error = errorText(r);
            const item: ItemRecord = { label: it.label, status: 'failed', fingerprint: it.fingerprint, error, ms };
            rec.items[it.key] = item;
            if (attempt < attempts && retryable(r)) again.push(it);
            else emit({ type: 'item-failed', step: step.id, key: it.key, label: it.label, error });
          }
          saver.touch();
        });
      });
      // addTask … runTasks in one synchronous block: runTasks takes exactly these tasks, even
      // while other steps of the run use the same client.
      const run = client.runTasks({ concurrency: step.concurrency ?? opts.concurrency ?? 4 });
      await Promise.all([run, ...started]);
      pending = again;
    }
    // Items finish in any order (and reused ones first): keep the record in item order, which
    // is the order a fan-in sees the results in.
    rec.items = Object.fromEntries(items.filter((it) => rec.items[it.key]).map((it) => [it.key, rec.items[it.key]!]));
    const values = Object.values(rec.items);
    const failed = values.filter((i) => i.status === 'failed').length;
    const done = values.length - failed;
    if (signal?.aborted && values.length < items.length) return finishStep(step, rec, done + failed === 0 ? 'skipped' : 'partial', 'run stopped');
    const status: StepStatus = failed === 0 ? 'done' : done === 0 && step.forEach === undefined ? 'failed' : failed === items.length ? 'failed' : 'partial';
    rec.reused = reused;
    return finishStep(step, rec, status);
  }

  await Promise.all(def.steps.map((s) => settle(s.id)));
  const statuses = Object.values(record.steps).map((s) => s.status);
  record.status = signal?.aborted ? 'cancelled' : statuses.some((s) => s === 'failed' || s === 'partial') ? 'failed' : 'done';
  await saver.flush();
  emit({ type: 'run-end', record });
  return record;
}

export interface RunSummary {
  id: string;
  pipeline: string;
  status: RunRecord['status'];
  steps: { id: string; fn: string; status: StepStatus; reason?: string; total: number; done: number; failed: number; reused: number }[];
  failures: { step: string; item: string; error: string }[];
  skipped: { step?: string; item: string; reason: string }[];
  /** What the pipeline's `result` makes of a finished run's steps. */
  result?: unknown;
}

export function summarize(def: PipelineDef, record: RunRecord): RunSummary {
  const steps: RunSummary['steps'] = [];
  const failures: RunSummary['failures'] = [];
  const skipped: RunSummary['skipped'] = record.skippedInput.map((s) => ({ item: s.path, reason: s.reason }));
  for (const s of def.steps) {
    const rec = record.steps[s.id];
    if (!rec) continue;
    const items = Object.values(rec.items);
    const failed = items.filter((i) => i.status === 'failed');
    for (const f of failed) failures.push({ step: s.id, item: f.label, error: f.error ?? 'failed' });
    if (rec.status === 'skipped') skipped.push({ step: s.id, item: s.id, reason: rec.reason ?? 'skipped' });
    steps.push({
      id: s.id,
      fn: s.fn,
      status: rec.status,
      ...(rec.reason ? { reason: rec.reason } : {}),
      total: rec.total,
      done: items.length - failed.length,
      failed: failed.length,
      reused: rec.reused ?? 0,
    });
  }
  const result = def.result && record.status === 'done' ? { result: def.result(stepScope(record, def, record.input)) } : {};
  return { id: record.id, pipeline: record.pipeline, status: record.status, steps, failures, skipped, ...result };
}
