// A pipeline is a graph of steps; each step calls one Gearman function with a payload built
// from the run's input, options and earlier results. The same structure is written with the
// TypeScript builder or in a JSON/YAML file (both in define.ts); only the builder may use
// functions where files use `${{ … }}` expressions.

import type { PriorityName } from '../client/types.js';

/** What a step's payload, condition and list are computed from. */
export interface StepScope {
  /** The run's input as resolved (input.ts): a folder's files, one file, or JSON. */
  input: any;
  /** The run's options (`--set key=value`, the pipeline's option defaults). */
  options: Record<string, any>;
  run: { id: string; out: string };
  /** Earlier steps: `result` of a single step, `results` (in item order, failed ones left out) of a fan-out. */
  steps: Record<string, { result?: any; results?: any[]; failed?: number; status?: StepStatus; failures?: { item: string; error: string }[] }>;
  /** The current item of a fan-out step, and its position. */
  item?: any;
  index?: number;
}

/** JSON with `${{ … }}` expressions in its strings. */
export type Template = string | number | boolean | null | Template[] | { [key: string]: Template };

export type Computed<T> = string | ((scope: StepScope) => T);

export interface StepDef {
  /** Unique within the pipeline: letters, digits, `-` and `_`. */
  id: string;
  /** The Gearman function called. */
  fn: string;
  /** Steps that must settle first. @defaultValue the step before it in the list ([] for the first) */
  needs?: string[];
  /** A list (expression or function): one task per item, submitted together, results gathered. */
  forEach?: Computed<unknown[]>;
  /** The JSON payload: a template with `${{ … }}` expressions, or a function of the scope. */
  payload: Template | ((scope: StepScope) => unknown);
  /** Run only when true; otherwise the step is skipped with the condition as its reason. */
  when?: Computed<boolean>;
  /**
   * Run only when a step it needs, directly or through others, failed (wholly or partly): the
   * step that tells someone about a failure. Otherwise it is skipped. @defaultValue false
   */
  onFailure?: boolean;
  /** @defaultValue 'normal' */
  priority?: PriorityName;
  /** Extra attempts the runner makes when a task fails in a way a retry can help. @defaultValue 0 */
  retry?: number;
  /** Longest wait for one task's result, in ms. @defaultValue none */
  timeoutMs?: number;
  /** Most tasks of this fan-out in flight at once. @defaultValue the run's concurrency */
  concurrency?: number;
  /** A fan-out item's stable key for resuming (TypeScript only). @defaultValue item.key ?? item.rel ?? item.path ?? JSON */
  itemKey?: (item: any, index: number) => string;
  /** A fan-out item's name in progress lines and the summary. @defaultValue the key */
  itemLabel?: (item: any) => string;
}

export type InputKind = 'folder' | 'file' | 'json';

export interface OptionDef {
  description: string;
  default?: unknown;
}

export interface PipelineDef {
  /** Letters, digits and `-`; the pipeline worker serves it as the function `pipeline:NAME`. */
  name: string;
  description?: string;
  /** How `pipeline run NAME INPUT` reads INPUT. */
  input: InputKind;
  /** For a folder input: the file extensions that are items (others are listed as skipped). */
  extensions?: string[];
  options?: Record<string, OptionDef>;
  steps: StepDef[];
  /**
   * What a finished run's summary carries as `result`, from the steps' results (TypeScript
   * only): the answer a caller of `pipeline:NAME` gets beside the counts. Its scope's `input` is
   * the input as given (the run record's), not the resolved files. @defaultValue none
   */
  result?: (scope: StepScope) => unknown;
}

export type StepStatus = 'pending' | 'running' | 'done' | 'partial' | 'failed' | 'skipped';
export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface ItemRecord {
  label: string;
  status: 'done' | 'failed';
  /** Fingerprint of the item and its payload: a changed file or option runs it again. */
  fingerprint: string;
  result?: unknown;
  error?: string;
  ms?: number;
}

export interface StepRecord {
  status: StepStatus;
  reason?: string;
  total: number;
  /** Items by key; a single step has one item, key `-`. */
  items: Record<string, ItemRecord>;
  /** Items found done by an earlier run and not submitted again. */
  reused?: number;
}

export interface SkippedInput {
  path: string;
  reason: string;
}

/** Everything a run knows, saved after each change so a run started again resumes. */
export interface RunRecord {
  id: string;
  pipeline: string;
  input: unknown;
  out: string;
  options: Record<string, unknown>;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  /** Input entries that were not items (not media, unreadable), with why. */
  skippedInput: SkippedInput[];
  steps: Record<string, StepRecord>;
}

export type RunEvent =
  | { type: 'step-start'; step: string; total: number; reused: number }
  | { type: 'item-done'; step: string; key: string; label: string; ms: number; reused: boolean }
  | { type: 'item-failed'; step: string; key: string; label: string; error: string }
  | { type: 'item-progress'; step: string; key: string; numerator: number; denominator: number }
  | { type: 'step-end'; step: string; status: StepStatus; reason?: string }
  | { type: 'run-end'; record: RunRecord };
