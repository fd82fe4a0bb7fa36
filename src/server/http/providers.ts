// What the HTTP API shows but the job server does not own: pipeline runs and supervised worker
// processes. Whoever has them plugs an implementation in (ServerOptions.runs/supervisor, or
// GearmanServer.setRunsProvider()/setSupervisorProvider()); without one those routes answer
// 501 GT_HTTP_NOT_AVAILABLE. The shapes are structural on purpose: the server does not import
// the pipelines or the supervisor (they sit above it), and their own types already fit. They
// name the fields the API and the dashboard read and let every other field through: a
// provider's record is answered whole.

import Type, { type Static } from 'typebox';

const open = { additionalProperties: true } as const;

/** One step of a run, as the dashboard shows it. A pipelines StepRecord fits. */
export const RunStepViewSchema = Type.Object(
  {
    status: Type.String(),
    total: Type.Integer(),
    items: Type.Optional(
      Type.Record(Type.String(), Type.Object({ status: Type.String(), error: Type.Optional(Type.String()) }, open), {
        description: 'Items by key with at least their status (done, failed).',
      }),
    ),
    reused: Type.Optional(Type.Integer()),
    reason: Type.Optional(Type.String()),
  },
  open,
);
export type RunStepView = Static<typeof RunStepViewSchema>;

/** A pipeline run. A pipelines RunRecord fits. */
export const RunViewSchema = Type.Object(
  {
    id: Type.String(),
    pipeline: Type.String(),
    status: Type.String(),
    createdAt: Type.Optional(Type.String()),
    updatedAt: Type.Optional(Type.String()),
    steps: Type.Record(Type.String(), RunStepViewSchema),
  },
  open,
);
export type RunView = Static<typeof RunViewSchema>;

export interface RunsProvider {
  /** Runs, newest first. */
  list(limit: number): Promise<RunView[]>;
  /** One run, or undefined/null when there is none with this id. */
  get(id: string): Promise<RunView | undefined | null>;
}

/** A worker type under supervision. The supervisor's TypeStatus fits. */
export const ProcessTypeViewSchema = Type.Object(
  {
    type: Type.String(),
    processes: Type.Integer({ description: 'Processes wanted.' }),
    running: Type.Integer({ description: 'Processes running now.' }),
    concurrency: Type.Optional(Type.Integer()),
    state: Type.Optional(Type.String()),
  },
  open,
);
export type ProcessTypeView = Static<typeof ProcessTypeViewSchema>;

/** One supervised process. The supervisor's ProcessStatus fits. */
export const ProcessViewSchema = Type.Object(
  {
    type: Type.String(),
    name: Type.String(),
    pid: Type.Union([Type.Integer(), Type.Null()]),
    state: Type.String(),
    uptimeMs: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    restarts: Type.Optional(Type.Integer()),
    jobsDone: Type.Optional(Type.Integer()),
    jobsFailed: Type.Optional(Type.Integer()),
  },
  open,
);
export type ProcessView = Static<typeof ProcessViewSchema>;

/** The supervisor's PsResult fits. */
export const ProcessesViewSchema = Type.Object({ types: Type.Array(ProcessTypeViewSchema), processes: Type.Array(ProcessViewSchema) }, open);
export type ProcessesView = Static<typeof ProcessesViewSchema>;

export interface SupervisorProvider {
  /** What `pipeline ps` shows. */
  ps(): Promise<ProcessesView>;
  /** Set the number of processes of each type named; resolves with what the provider reports. */
  scale(counts: Record<string, number>): Promise<unknown>;
  /** Replace every process (`pipeline reload`); optional. */
  reload?(): Promise<unknown>;
}
