// A pipeline is a graph of steps; each step calls one Gearman function with a payload built
// from the run's input, options and earlier results. The same structure is written with the
// typed builder (builder.ts) or in a JSON/YAML file (define.ts, schema.ts); only the builder
// may use functions where files use `${{ … }}` expressions.

import type { TSchema } from 'typebox';
import type { PriorityName } from '../client/types.js';

export type StepStatus = 'pending' | 'running' | 'done' | 'partial' | 'failed' | 'skipped';
export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled';

/** One failed item of a step: its name and the error. */
export interface Failure {
  item: string;
  error: string;
}

interface StepOutcome {
  /** Items that failed. */
  failed: number;
  status: StepStatus;
  failures: Failure[];
}

/** What a later step sees of a single step: its result, undefined when it was skipped or failed. */
export interface SingleStep<R = unknown> extends StepOutcome {
  result: R | undefined;
}

/** What a later step sees of a fan-out step: the results of its items that succeeded, in item order. */
export interface FanOutStep<R = unknown> extends StepOutcome {
  results: R[];
}

export type StepView = SingleStep | FanOutStep;

/** One file of a run's input: what `item` is in a fan-out over `input.files`. */
export interface InputFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the input folder (for a single file, its base name). */
  rel: string;
  /** Folder of `rel` ('' at the top), so outputs mirror the input's tree. */
  dir: string;
  /** Base name without extension. */
  name: string;
  /** Lower-case extension with the dot. */
  ext: string;
  /**
   * The base of this file's output names: `name`, or the whole base name (`cover.jpg`) when
   * another file in the same folder has the same name without extension, ignoring case
   * (`cover.png`, `COVER.jpeg`), so their outputs never overwrite each other.
   */
  outputBase: string;
  size: number;
  mtimeMs: number;
}

export type InputKind = 'folder' | 'file' | 'json';

/** A folder input as steps see it. */
export interface FolderInput {
  dir: string;
  files: InputFile[];
}

/** What `input` is for each kind of input. */
export interface InputOf {
  folder: FolderInput;
  file: InputFile;
  json: unknown;
}

/**
 * What a step's payload, condition and list are computed from. The builder narrows each part:
 * `input` by the input kind, `options` by the declared options, `steps` to the steps it needs
 * (directly or through others), each with its function's result type.
 */
export interface StepScope<I = unknown, O = Readonly<Record<string, unknown>>, S = Readonly<Record<string, StepView>>> {
  /** The run's input as resolved (input.ts): a folder's files, one file, or JSON. */
  input: I;
  /** The run's options (`--set key=value`, the pipeline's option defaults). */
  options: O;
  run: { id: string; out: string };
  /** Earlier steps: `result` of a single step, `results` (in item order, failed ones left out) of a fan-out. */
  steps: S;
}

/** The scope of one item of a fan-out step. */
export interface ItemScope<I = unknown, O = Readonly<Record<string, unknown>>, S = Readonly<Record<string, StepView>>, T = unknown> extends StepScope<I, O, S> {
  /** The current item and its position. */
  item: T;
  index: number;
}

/** JSON with `${{ … }}` expressions in its strings. */
export type Template = string | number | boolean | null | Template[] | { [key: string]: Template };

/**
 * A function stored in an untyped definition. Written as a method so that the builder's
 * functions, which take a narrower scope, can be stored here: the builder's types are what
 * keep each one to the scope it gets.
 */
type Fn<A, R> = { call(arg: A): R }['call'];

export type Computed<T> = string | Fn<StepScope, T>;

/** A step as the runner takes it: what the builder and a file both produce. */
export interface StepDef {
  /** Unique within the pipeline: letters, digits, `-` and `_`. */
  id: string;
  /** The Gearman function called. */
  fn: string;
  /** Steps that must settle first. @defaultValue the step before it in the list ([] for the first) */
  needs?: string[];
  /** A list (expression or function): one task per item, submitted together, results gathered. */
  forEach?: Computed<unknown[]>;
  /** The JSON payload: a template with `${{ … }}` expressions, or a function of the scope (an ItemScope in a fan-out). */
  payload: Template | Fn<StepScope, unknown>;
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
  itemKey?: { call(item: unknown, index: number): string }['call'];
  /** A fan-out item's name in progress lines and the summary. @defaultValue the key */
  itemLabel?: Fn<unknown, string>;
}

export interface OptionDef {
  description: string;
  default?: unknown;
  /**
   * The option's shape (TypeScript only): types `s.options.NAME` in the builder, and the value
   * (default or `--set`) is checked against it before the run starts. @defaultValue any JSON, typed unknown
   */
  schema?: TSchema;
}

/** A function that is not built in, with the schemas of what it takes and returns (TypeScript only). */
export interface FunctionSchemas {
  /** Checked before each task is submitted. @defaultValue any JSON */
  payload?: TSchema;
  /** Checked when each task's result comes back; a result that does not match fails its item. @defaultValue any JSON */
  result?: TSchema;
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
  /** Functions that are not built in, with their schemas (TypeScript only). */
  functions?: Record<string, FunctionSchemas>;
  steps: StepDef[];
  /**
   * What a finished run's summary carries as `result`, from the steps' results (TypeScript
   * only): the answer a caller of `pipeline:NAME` gets beside the counts. Its scope's `input` is
   * the input as given (the run record's), not the resolved files. @defaultValue none
   */
  result?: Fn<StepScope, unknown>;
}

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
