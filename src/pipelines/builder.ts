// The typed pipeline builder: `pipeline(name, head).step(id, { fn, payload })…build()`. Each
// step adds its id and its function's result type to the builder's type, so a later step's
// functions see `s.steps.probe.result` as the probe result, a built-in function's payload must
// have that function's payload type, and a step that is not an ancestor is not in `s.steps` at
// all. build() runs the same checks as a pipeline file (define.ts).

import type { Static, TSchema, TUnknown } from 'typebox';
import type { PriorityName } from '../client/types.js';
import type { BuiltinFunctionName, BuiltinFunctions } from '../schema/workers.js';
import { checkPipeline } from './define.js';
import type { FanOutStep, FunctionSchemas, InputKind, InputOf, ItemScope, OptionDef, PipelineDef, SingleStep, StepDef, StepScope, Template } from './types.js';

/** What the builder knows of a step declared so far. */
interface KnownStep {
  result: unknown;
  fanOut: boolean;
  /** The ids of the steps it needs, directly or through others. */
  ancestors: string;
}

type KnownSteps = Record<string, KnownStep>;

/** A function's payload and result types. */
interface FunctionTypes {
  payload: unknown;
  result: unknown;
}

type Functions = Record<string, FunctionTypes>;

/** The value of each declared option: its schema's type (or unknown without one), undefined when it has no default. */
export type OptionValues<O> = {
  readonly [K in keyof O]: O[K] extends { schema: infer S extends TSchema } ? (O[K] extends { default: unknown } ? Static<S> : Static<S> | undefined) : unknown;
};

/** What a step sees of each step in `A`. */
export type StepViews<S extends KnownSteps, A extends keyof S> = {
  readonly [K in A]: S[K]['fanOut'] extends true ? FanOutStep<S[K]['result']> : SingleStep<S[K]['result']>;
};

/** The steps in `N` and everything they need. */
type AncestorsOf<S extends KnownSteps, N extends readonly (keyof S)[]> = N[number] | S[N[number]]['ancestors'];

/** The functions whose payload and result types are known: the built-in ones and those declared with fn(). */
type Typed<F extends Functions> = BuiltinFunctions & F;

/** A whole `${{ … }}` expression, which stands for a value of any type. */
export type Expression = `\${{${string}}}`;

/** A JSON template for a payload of type P: each value, or an expression in its place. */
export type TemplateOf<P> = unknown extends P
  ? Template
  : P extends string
    ? string
    : P extends number | boolean | null
      ? P | Expression
      : P extends readonly (infer E)[]
        ? TemplateOf<E>[] | Expression
        : P extends object
          ? { [K in keyof P]: TemplateOf<P[K]> } | Expression
          : Expression;

/** What a step of any kind takes besides its function, payload and list. */
interface StepOptions<Sc, N> {
  /** Steps that must settle first, declared earlier. @defaultValue the step before */
  needs?: N;
  /** Run only when true; otherwise the step is skipped with the condition as its reason. */
  when?: string | ((s: Sc) => boolean);
  /** Run only when a step it needs, directly or through others, failed. @defaultValue false */
  onFailure?: boolean;
  /** @defaultValue 'normal' */
  priority?: PriorityName;
  /** Extra attempts for a failure a retry can help. @defaultValue 0 */
  retry?: number;
  /** Longest wait for one task's result, in ms. @defaultValue none */
  timeoutMs?: number;
}

/** A single step as the builder takes it; its id is the first argument of step(). */
export interface SingleStepInput<Sc, Fn extends string, N, P> extends StepOptions<Sc, N> {
  /** The Gearman function called: a built-in one, or one declared with fn(). */
  fn: Fn;
  forEach?: undefined;
  /** The payload: a template with `${{ … }}` expressions, or a function of the scope. */
  payload: TemplateOf<P> | ((s: Sc) => P);
}

/** A fan-out step: one task per item of `forEach`, results gathered as `results`. */
export interface FanOutStepInput<Sc extends StepScope<unknown, unknown, unknown>, Fn extends string, N, T, P> extends StepOptions<Sc, N> {
  fn: Fn;
  /** The list: an expression, or a function whose element type is `item`'s type. */
  forEach: string | ((s: Sc) => readonly T[]);
  /** The payload of one item: a template, or a function of the scope with `item` and `index`. */
  payload: TemplateOf<P> | ((s: ItemScope<Sc['input'], Sc['options'], Sc['steps'], T>) => P);
  /** Most tasks in flight at once. @defaultValue the run's concurrency */
  concurrency?: number;
  /** An item's stable key for resuming. @defaultValue item.key ?? item.rel ?? item.path ?? JSON */
  itemKey?: (item: T, index: number) => string;
  /** An item's name in progress lines and the summary. @defaultValue the key */
  itemLabel?: (item: T) => string;
}

/** The scope of a step that needs N. */
type ScopeAfter<I, O, S extends KnownSteps, N extends readonly (keyof S)[]> = StepScope<I, O, StepViews<S, AncestorsOf<S, N>>>;

/** The steps known after adding step Id. */
type With<S extends KnownSteps, Id extends string, R, FanOut extends boolean, N extends readonly (keyof S)[]> = S & {
  [K in Id]: { result: R; fanOut: FanOut; ancestors: AncestorsOf<S, N> };
};

/** An id not used yet (a repeated one is a type error, and a build-time one). */
type NewId<Id extends string, S> = Id extends keyof S ? never : Id;

/** The head of a pipeline: everything but its name and steps. */
export interface PipelineHead<K extends InputKind, O extends Record<string, OptionDef>> {
  description?: string;
  /** How `pipeline run NAME INPUT` reads INPUT. */
  input: K;
  /** For a folder input: the file extensions that are items. */
  extensions?: string[];
  options?: O;
}

/**
 * The builder. Its type parameters record the input's type, the options' types, the declared
 * functions, the steps so far (id → result type, fan-out or not, ancestors) and the last step's
 * id (what a step without `needs` needs).
 */
export class PipelineBuilder<I, O extends Readonly<Record<string, unknown>>, F extends Functions, S extends KnownSteps, Last extends string> {
  private readonly steps: StepDef[] = [];
  private readonly functions: Record<string, FunctionSchemas> = {};
  private resultOf: PipelineDef['result'];

  constructor(private readonly head: Omit<PipelineDef, 'steps'>) {}

  /**
   * Declare a function that is not built in, so steps may call it: they get `Static<payload>` as
   * their payload type and `Static<result>` as their result type (unknown without a schema); the
   * runner checks each payload before it is submitted and each result when it comes back.
   */
  fn<const Name extends string, P extends TSchema = TUnknown, R extends TSchema = TUnknown>(
    name: Name extends BuiltinFunctionName ? never : Name,
    schemas: { payload?: P; result?: R } = {},
  ): PipelineBuilder<I, O, F & { [K in Name]: { payload: Static<P>; result: Static<R> } }, S, Last> {
    this.functions[name] = { ...(schemas.payload ? { payload: schemas.payload } : {}), ...(schemas.result ? { result: schemas.result } : {}) };
    return this as PipelineBuilder<I, O, F & { [K in Name]: { payload: Static<P>; result: Static<R> } }, S, Last>;
  }

  // A step calls a built-in function or one declared with fn(): the signatures index that table
  // by a name constrained to its keys, which keeps a payload's literal values ('webp') checked
  // against the payload type (a name resolved through a conditional type would widen them).

  /** Add a fan-out step calling a typed function: `forEach` gives the list, `s.item` the current item. */
  step<const Id extends string, Fn extends keyof Typed<F> & string, const N extends readonly (keyof S & string)[] = [Last], T = unknown>(
    id: NewId<Id, S>,
    step: FanOutStepInput<ScopeAfter<I, O, S, N>, Fn, N, T, Typed<F>[Fn]['payload']>,
  ): PipelineBuilder<I, O, F, With<S, Id, Typed<F>[Fn]['result'], true, N>, Id>;
  /** Add a step calling a typed function: one task. */
  step<const Id extends string, Fn extends keyof Typed<F> & string, const N extends readonly (keyof S & string)[] = [Last]>(
    id: NewId<Id, S>,
    step: SingleStepInput<ScopeAfter<I, O, S, N>, Fn, N, Typed<F>[Fn]['payload']>,
  ): PipelineBuilder<I, O, F, With<S, Id, Typed<F>[Fn]['result'], false, N>, Id>;
  step(id: string, step: object): unknown {
    // The overloads above are what type a step; stored, it is the runner's untyped StepDef.
    const { needs, ...rest } = step as Omit<StepDef, 'id' | 'needs'> & { needs?: readonly string[] };
    this.steps.push({ id, ...rest, ...(needs ? { needs: [...needs] } : {}) });
    return this;
  }

  /**
   * What a finished run's summary carries as `result`, from every step's outcome: the answer a
   * caller of `pipeline:NAME` gets beside the counts. `s.input` is the input as given (a path or
   * the JSON), not the resolved files.
   */
  result(fn: (s: StepScope<unknown, O, StepViews<S, keyof S>>) => unknown): this {
    this.resultOf = fn;
    return this;
  }

  /** Check the whole definition (unknown references, cycles, fields, expressions) and return it. */
  build(): PipelineDef {
    const functions = Object.keys(this.functions).length > 0 ? { functions: this.functions } : {};
    return checkPipeline({ ...this.head, ...functions, steps: this.steps, ...(this.resultOf ? { result: this.resultOf } : {}) }, this.head.name);
  }
}

/** Start a pipeline: `pipeline('upload', { input: 'file', options: { … } })`. */
export function pipeline<const K extends InputKind, O extends Record<string, OptionDef> = Record<never, OptionDef>>(
  name: string,
  head: PipelineHead<K, O>,
): PipelineBuilder<InputOf[K], OptionValues<O>, Record<never, FunctionTypes>, Record<never, KnownStep>, never> {
  return new PipelineBuilder({ name, ...head });
}
