// The JSON the HTTP API answers with, built from the registry, the job log and the providers.

import type { JobRecord } from '../../store/types.js';
import type { Connection } from '../connection.js';
import { PRIORITY_NAMES, type Job, type JobRegistry } from '../registry.js';
import { resultValue } from './json.js';
import type { RunStepView, RunView } from './providers.js';

/** Payloads up to this size are shown as text in job views. */
const PAYLOAD_TEXT_MAX = 4096;

export interface JobView {
  id: string | null;
  /** The Gearman handle while this server holds the job. */
  handle: string | null;
  function: string;
  unique: string;
  priority: (typeof PRIORITY_NAMES)[number];
  state: string;
  background: boolean;
  attempts: number;
  maxAttempts: number;
  /** ms since the epoch */
  runAt: number | null;
  createdAt: number | null;
  updatedAt: number | null;
  worker: string | null;
  /** A done job's result: its JSON value when the worker answered JSON, else the text. */
  result: unknown;
  /** The result exactly as the worker sent it. */
  resultText: string | null;
  error: string | null;
  payload: string | null;
  payloadBytes: number;
}

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

export interface QueueView {
  function: string;
  queued: { high: number; normal: number; low: number; total: number };
  /** Epoch jobs not yet due, retries waiting out their backoff. */
  scheduled: number;
  running: number;
  workers: number;
  completed: number;
  failed: number;
  retried: number;
  dead: number;
}

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

export interface WorkerView {
  /** The connection id, as in the `workers` admin command. */
  id: number;
  host: string;
  clientId: string;
  functions: string[];
  sleeping: boolean;
  running: { handle: string; id: string | null; function: string }[];
}

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

export interface Totals {
  completed: number;
  failed: number;
  retried: number;
  dead: number;
}

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

export interface StepSummary {
  id: string;
  status: string;
  total: number;
  done: number;
  failed: number;
  reused: number;
  reason: string | null;
  /** Failed items with their errors (GET /runs/:id only). */
  failures?: { key: string; error: string | null }[];
}

export interface RunSummary {
  id: string;
  pipeline: string;
  status: string;
  createdAt: string | null;
  updatedAt: string | null;
  steps: StepSummary[];
}

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
