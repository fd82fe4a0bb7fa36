// /api/v1/jobs: submit, status, the job log, retry and cancel. Thin handlers: the rules live in
// the registry and the job log, as for the Gearman and admin protocols.

import type { FastifyInstance } from 'fastify';
import { GeartrainError, gtError } from '../../errors.js';
import { GEARMAN_MAX_UNIQUE_SIZE } from '../../protocol/commands.js';
import { JOB_STATES, type JobFilter, type JobState } from '../../store/types.js';
import type { JobLog } from '../joblog.js';
import { PRIORITY_NAMES, type Priority } from '../registry.js';
import type { RouteContext } from './context.js';
import { errorBody } from './errors.js';
import { resultValue } from './json.js';
import { submitBackground, type HttpSubmission } from './submit.js';
import { booleanField, checkQuery, intField, objectBody, oneOf, queryInt, stringField } from './validate.js';
import { liveJobView, recordView } from './views.js';

/** Longest a foreground call may wait, ms (a day). */
const MAX_TIMEOUT_MS = 24 * 3600_000;
/** How long a foreground call waits when the body names no timeoutMs. */
export const DEFAULT_FOREGROUND_TIMEOUT_MS = 30_000;
const MAX_LIST = 10_000;
const SUBMIT_FIELDS = ['function', 'payload', 'priority', 'unique', 'background', 'timeoutMs'] as const;

type IdParams = { Params: { id: string } };

export function registerJobRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { host, calls } = ctx;
  const { registry } = host;

  const joblog = (): JobLog => {
    const j = host.joblog;
    if (!j) throw gtError('GT_CLOSED', 'Job log');
    return j;
  };
  /** Handles name a job while this server holds it; log ids for ever. Either is accepted. */
  const idOf = (w: string): string => registry.jobs.get(w)?.id || w;
  const handleOf = (id: string): string | null => registry.findById(id)?.handle ?? null;

  app.post('/api/v1/jobs', async (req, reply) => {
    const b = objectBody(req.body, SUBMIT_FIELDS);
    const fn = stringField(b, 'function', { required: true, nonEmpty: true, maxBytes: 512 })!;
    const payload = b.payload;
    // A string is sent as it is; any other JSON value as its JSON text (what the workers read).
    const data = Buffer.from(payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
    const priorityName = b.priority === undefined ? 'normal' : oneOf(b.priority, 'priority', PRIORITY_NAMES);
    const unique = stringField(b, 'unique', { maxBytes: GEARMAN_MAX_UNIQUE_SIZE }) ?? '';
    const background = booleanField(b, 'background', true);
    const timeoutMs = intField(b, 'timeoutMs', 1, MAX_TIMEOUT_MS);
    if (background && timeoutMs !== undefined) {
      throw new GeartrainError('GT_INVALID_ARGUMENT', 'timeoutMs applies to foreground jobs only: send it with background: false');
    }
    const s: HttpSubmission = { fn, data, priority: PRIORITY_NAMES.indexOf(priorityName) as Priority, unique };
    if (background) {
      const { job, coalesced } = await submitBackground(host, s);
      const workers = job.fn.workers.size;
      return reply.code(202).send({
        handle: job.handle,
        id: job.id,
        function: fn,
        coalesced,
        workers,
        ...(workers === 0 ? { warning: `No worker can run ${fn} yet; the job waits in the queue until one registers it` } : {}),
      });
    }
    const waitMs = timeoutMs ?? DEFAULT_FOREGROUND_TIMEOUT_MS;
    // The socket is silent while the job runs: the idle timeout starts again after the wait.
    req.raw.socket.setTimeout(waitMs + ctx.opts.connectionTimeoutMs);
    const call = calls.run(host, s, waitMs, req.ip, (stop) => {
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) stop();
      });
    });
    const o = await call.outcome;
    if (!o.ok) {
      const body = errorBody(o.error);
      return reply.code(o.error.httpStatus).send({ ...body, handle: call.job.handle });
    }
    const text = o.result.toString('utf8');
    return reply.code(200).send({ handle: o.job.handle, function: fn, coalesced: call.coalesced, result: resultValue(text), resultText: text });
  });

  app.get('/api/v1/jobs', async (req) => {
    const q = checkQuery(req.query, ['state', 'function', 'since', 'limit']);
    const f: JobFilter = { limit: queryInt(q, 'limit', MAX_LIST) ?? 100 };
    if (q.state) f.state = oneOf(q.state, 'state', JOB_STATES) as JobState;
    if (q.function) f.fn = q.function;
    const since = queryInt(q, 'since', Number.MAX_SAFE_INTEGER);
    if (since !== undefined) f.since = since;
    const log = joblog();
    // The journal writes updates behind (a few ms): what the operator reads includes them.
    await log.sync();
    const records = await log.store.list(f);
    return { jobs: records.map((r) => recordView(r, handleOf(r.id))) };
  });

  app.post('/api/v1/jobs/retry-dead', async (req) => {
    const b = objectBody(req.body, ['function', 'limit'], true);
    const fn = stringField(b, 'function', { maxBytes: 512 });
    const limit = intField(b, 'limit', 1, 100_000) ?? 100_000;
    const log = joblog();
    await log.sync();
    const dead = await log.store.list({ state: 'dead', limit, ...(fn ? { fn } : {}) });
    const ids: string[] = [];
    for (const r of dead) {
      if (r.data === null) continue;
      await log.retry(r.id);
      ids.push(r.id);
    }
    return { retried: ids.length, ids };
  });

  app.get<IdParams>('/api/v1/jobs/:id', async (req) => {
    const param = req.params.id;
    const live = registry.jobs.get(param);
    if (live && !live.logged) return { job: liveJobView(live) };
    const log = joblog();
    await log.sync();
    const id = idOf(param);
    const r = await log.store.get(id);
    if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${param} in the job log or the queue`);
    return { job: recordView(r, handleOf(id)) };
  });

  app.get<IdParams>('/api/v1/jobs/:id/status', async (req) => {
    // GET_STATUS: a handle this server holds; a log id is accepted too.
    const param = req.params.id;
    const job = registry.jobs.get(param) ?? registry.findById(param);
    if (!job) return { handle: param, known: false, running: false, numerator: 0, denominator: 0 };
    return { handle: job.handle, id: job.id || null, known: true, running: job.worker !== null, numerator: job.numerator, denominator: job.denominator };
  });

  app.post<IdParams>('/api/v1/jobs/:id/retry', async (req) => {
    objectBody(req.body, [], true);
    const log = joblog();
    await log.sync();
    const id = idOf(req.params.id);
    const r = await log.store.get(id);
    if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${req.params.id} in the job log`);
    if (r.state === 'queued' || r.state === 'running') throw gtError('GT_JOB_STATE_CONFLICT', id, r.state, 'only failed, dead or cancelled jobs can be retried');
    if (r.data === null) throw gtError('GT_JOB_STATE_CONFLICT', id, r.state, 'its payload is no longer kept, so it cannot run again');
    const updated = await log.retry(id);
    return { job: recordView(updated, handleOf(id)) };
  });

  app.post<IdParams>('/api/v1/jobs/:id/cancel', async (req) => {
    objectBody(req.body, [], true);
    const param = req.params.id;
    const live = registry.jobs.get(param);
    if (live && !live.logged) {
      // A foreground job: not in the log; its waiting clients get WORK_FAIL.
      const view = liveJobView(live);
      registry.cancel(live.handle);
      return { job: { ...view, state: 'cancelled' } };
    }
    const log = joblog();
    const id = idOf(param);
    if (!registry.findById(id)) {
      await log.sync();
      const r = await log.store.get(id);
      if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${param} in the job log or the queue`);
      if (r.state === 'done' || r.state === 'cancelled') throw gtError('GT_JOB_STATE_CONFLICT', id, r.state, 'only queued, running, failed or dead jobs can be cancelled');
    }
    await log.cancel(id);
    await log.sync();
    const r = await log.store.get(id);
    return { job: r ? recordView(r, null) : null };
  });
}
