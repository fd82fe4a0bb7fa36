// The JSON the HTTP API answers with, built from the registry, the job log and the providers.
// Each shape is a TypeBox schema: the route's response schema (fastify serializes with it and
// @fastify/swagger publishes it) and, through Static, the type the view functions build.

import Type, { type Static } from 'typebox';
import { JOB_STATES, type JobRecord } from '../../store/types.js';
import type { Connection } from '../connection.js';
import { type Job, type JobRegistry, PRIORITY_NAMES } from '../registry.js';
import { resultValue } from './json.js';
import type { RunStepView, RunView } from './providers.js';

const Nullable = <S extends Parameters<typeof Type.Union>[0][number]>(s: S) => Type.Union([s, Type.Null()]);
/** ms since the epoch */
const Time = Type.Integer({ description: 'ms since the epoch' });

export const PrioritySchema = Type.Enum(PRIORITY_NAMES);
export const JobStateSchema = Type.Enum(JOB_STATES);

export const JobViewSchema = Type.Object(
  {
    id: Nullable(Type.String()),
    handle: Nullable(Type.String({ description: 'The Gearman handle while this server holds the job.' })),
    function: Type.String(),
    unique: Type.String(),
    priority: PrioritySchema,
    state: JobStateSchema,
    background: Type.Boolean(),
    attempts: Type.Integer(),
    maxAttempts: Type.Integer(),
    runAt: Nullable(Time),
    createdAt: Nullable(Time),
    updatedAt: Nullable(Time),
    worker: Nullable(Type.String()),
    result: Type.Unknown({ description: "A done job's result: its JSON value when the worker answered JSON, else the text." }),
    resultText: Nullable(Type.String({ description: 'The result exactly as the worker sent it.' })),
    error: Nullable(Type.String()),
    payload: Nullable(Type.String({ description: 'The payload as text, up to 4096 bytes.' })),
    payloadBytes: Type.Integer(),
  },
  { additionalProperties: false },
);
export type JobView = Static<typeof JobViewSchema>;

/** Payloads up to this size are shown as text in job views. */
const PAYLOAD_TEXT_MAX = 4096;

function payloadText(data: Buffer | null): string | null {
  return data && data.length <= PAYLOAD_TEXT_MAX ? data.toString('utf8') : null;
}

/** A job log entry; `result` holds a done job's result, `error` the last failure's text. */
export function recordView(r: JobRecord, handle: string | null): JobView {
  const done = r.state === 'done';
  return {
    id: r.id,
    handle,
    function: r.fn,
    unique: r.unique,
    priority: PRIORITY_NAMES[r.priority],
    state: r.state,
    background: true,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    runAt: r.runAt,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    worker: r.worker,
    result: done && r.result !== null ? resultValue(r.result) : null,
    resultText: done ? r.result : null,
    error: done ? null : r.result,
    payload: payloadText(r.data),
    payloadBytes: r.data?.length ?? 0,
  };
}

/** A job the server holds that is not in the log (a foreground job). */
export function liveJobView(job: Job): JobView {
  return {
    id: job.id || null,
    handle: job.handle,
    function: job.fn.name,
    unique: job.unique,
    priority: PRIORITY_NAMES[job.priority],
    state: job.worker ? 'running' : 'queued',
    background: job.background,
    attempts: job.retries,
    maxAttempts: job.maxAttempts,
    runAt: job.runAt || null,
    createdAt: null,
    updatedAt: null,
    worker: job.worker ? `${job.worker.host} ${job.worker.clientId}` : null,
    result: null,
    resultText: null,
    error: null,
    payload: payloadText(job.data),
    payloadBytes: job.dataLength,
  };
}

export const QueueViewSchema = Type.Object(
  {
    function: Type.String(),
    queued: Type.Object({ high: Type.Integer(), normal: Type.Integer(), low: Type.Integer(), total: Type.Integer() }, { additionalProperties: false }),
    scheduled: Type.Integer({ description: 'Epoch jobs not yet due, retries waiting out their backoff.' }),
    running: Type.Integer(),
    workers: Type.Integer(),
    completed: Type.Integer(),
    failed: Type.Integer(),
    retried: Type.Integer(),
    dead: Type.Integer(),
  },
  { additionalProperties: false },
);
export type QueueView = Static<typeof QueueViewSchema>;

export function queuesView(registry: JobRegistry): QueueView[] {
  const out: QueueView[] = [];
  for (const f of registry.functions.values()) {
    const [h, n, l] = f.queues;
    out.push({
      function: f.name,
      queued: { high: h.size, normal: n.size, low: l.size, total: f.queued },
      scheduled: f.scheduled,
      running: f.running,
      workers: f.workers.size,
      completed: f.stats.completed,
      failed: f.stats.failed,
      retried: f.stats.retried,
      dead: f.stats.dead,
    });
  }
  return out.sort((a, b) => (a.function < b.function ? -1 : a.function > b.function ? 1 : 0));
}

export const WorkerViewSchema = Type.Object(
  {
    id: Type.Integer({ description: 'The connection id, as in the `workers` admin command.' }),
    host: Type.String(),
    clientId: Type.String(),
    functions: Type.Array(Type.String()),
    sleeping: Type.Boolean(),
    running: Type.Array(Type.Object({ handle: Type.String(), id: Nullable(Type.String()), function: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type WorkerView = Static<typeof WorkerViewSchema>;

/** Connections with registered functions (every connection with `all`), as `workers` lists them. */
export function workersView(conns: Iterable<Connection>, all: boolean): WorkerView[] {
  const out: WorkerView[] = [];
  for (const c of conns) {
    if (!all && c.abilities.size === 0 && c.held.size === 0) continue;
    out.push({
      id: c.id,
      host: c.host,
      clientId: c.clientId,
      functions: [...c.abilities.keys()].map((f) => f.name),
      sleeping: c.wakeState === 1,
      running: [...c.held].map((j) => ({ handle: j.handle, id: j.id || null, function: j.fn.name })),
    });
  }
  return out;
}

export const TotalsSchema = Type.Object(
  { completed: Type.Integer(), failed: Type.Integer(), retried: Type.Integer(), dead: Type.Integer() },
  { additionalProperties: false },
);
export type Totals = Static<typeof TotalsSchema>;

export function totals(registry: JobRegistry): Totals {
  const t: Totals = { completed: 0, failed: 0, retried: 0, dead: 0 };
  for (const s of registry.stats.values()) {
    t.completed += s.completed;
    t.failed += s.failed;
    t.retried += s.retried;
    t.dead += s.dead;
  }
  return t;
}

export const StepSummarySchema = Type.Object(
  {
    id: Type.String(),
    status: Type.String(),
    total: Type.Integer(),
    done: Type.Integer(),
    failed: Type.Integer(),
    reused: Type.Integer(),
    reason: Nullable(Type.String()),
    failures: Type.Optional(
      Type.Array(Type.Object({ key: Type.String(), error: Nullable(Type.String()) }, { additionalProperties: false }), {
        description: 'Failed items with their errors (GET /runs/:id only).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type StepSummary = Static<typeof StepSummarySchema>;

export const RunSummarySchema = Type.Object(
  {
    id: Type.String(),
    pipeline: Type.String(),
    status: Type.String(),
    createdAt: Nullable(Type.String()),
    updatedAt: Nullable(Type.String()),
    steps: Type.Array(StepSummarySchema),
  },
  { additionalProperties: false },
);
export type RunSummary = Static<typeof RunSummarySchema>;

function stepSummary(id: string, s: RunStepView, detail: boolean): StepSummary {
  let done = 0;
  let failed = 0;
  const failures: { key: string; error: string | null }[] = [];
  for (const [key, item] of Object.entries(s.items ?? {})) {
    if (item.status === 'done') done++;
    else if (item.status === 'failed') {
      failed++;
      if (detail) failures.push({ key, error: item.error ?? null });
    }
  }
  const out: StepSummary = { id, status: s.status, total: s.total, done, failed, reused: s.reused ?? 0, reason: s.reason ?? null };
  if (detail) out.failures = failures;
  return out;
}

export function runSummary(r: RunView, detail = false): RunSummary {
  return {
    id: r.id,
    pipeline: r.pipeline,
    status: r.status,
    createdAt: r.createdAt ?? null,
    updatedAt: r.updatedAt ?? null,
    steps: Object.entries(r.steps ?? {}).map(([id, s]) => stepSummary(id, s, detail)),
  };
}
