// The JSON shapes of src/pipelines, each declared once as a TypeBox schema: a pipeline file
// (published as schemas/pipeline.json for editors) and the job a `pipeline:NAME` worker takes.

import Type, { type Static } from 'typebox';

const StepId = Type.String({
  pattern: '^[A-Za-z][A-Za-z0-9_-]*$',
  maxLength: 64,
  expected: 'a step id: a letter, then letters, digits, "-" and "_" (at most 64)',
});

const Expression = (what: string) => Type.String({ minLength: 1, description: `${what}: an expression, with or without \${{ }}` });

export const PipelineStep = Type.Object(
  {
    id: StepId,
    fn: Type.String({ minLength: 1, maxLength: 255, description: 'the Gearman function called' }),
    needs: Type.Optional(Type.Array(StepId, { maxItems: 200, description: 'steps that must settle first; default: the step before ([] for the first)' })),
    forEach: Type.Optional(Expression('a list: one task per item, submitted together')),
    when: Type.Optional(Expression('run only when true; otherwise the step is skipped')),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the description shows the DSL's `${{ }}` syntax
    payload: Type.Unknown({ expected: 'a JSON payload template', description: 'the JSON payload, with ${{ }} expressions in its strings' }),
    onFailure: Type.Optional(Type.Boolean({ default: false, description: 'run only when a step it needs, directly or through others, failed' })),
    priority: Type.Optional(Type.Union([Type.Literal('high'), Type.Literal('normal'), Type.Literal('low')], { default: 'normal' })),
    retry: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 0, description: 'extra attempts for a failure a retry can help' })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: "longest wait for one task's result, in ms" })),
    concurrency: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: "most tasks of this fan-out in flight at once; default: the run's concurrency" }),
    ),
  },
  { additionalProperties: false },
);

export const PipelineOption = Type.Object(
  {
    description: Type.String(),
    default: Type.Optional(Type.Unknown({ description: 'the value when the run does not set it' })),
  },
  { additionalProperties: false },
);

/** A pipeline file (`.json`, `.yaml`, `.yml`): the structure the builder makes, with expressions where the builder uses functions. */
export const PipelineFile = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'the JSON Schema of this file, for editors' })),
    name: Type.String({
      pattern: '^[a-z][a-z0-9-]*$',
      maxLength: 64,
      expected: 'a pipeline name: a lower-case letter, then lower-case letters, digits and "-" (at most 64)',
    }),
    description: Type.Optional(Type.String()),
    input: Type.Union([Type.Literal('folder'), Type.Literal('file'), Type.Literal('json')], { description: 'how `pipeline run NAME INPUT` reads INPUT' }),
    extensions: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { minItems: 1, description: 'for a folder input: the file extensions that are items' }),
    ),
    options: Type.Optional(Type.Record(Type.String(), PipelineOption)),
    steps: Type.Array(PipelineStep, { minItems: 1, maxItems: 200 }),
  },
  { additionalProperties: false, title: 'geartrain pipeline' },
);

export type PipelineFile = Static<typeof PipelineFile>;

/** The payload of a `pipeline:NAME` job. */
export const PipelineJob = Type.Object(
  {
    input: Type.String({ minLength: 1, maxLength: 4096, description: 'a path, or the JSON of a json-input pipeline' }),
    out: Type.String({ minLength: 1, maxLength: 4096, description: 'the output folder' }),
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    runId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

export type PipelineJob = Static<typeof PipelineJob>;
