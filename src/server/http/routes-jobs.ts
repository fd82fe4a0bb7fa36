// /api/v1/jobs: submit, status, the job log, retry and cancel. Thin handlers: the rules live in
// the registry and the job log, as for the Gearman and admin protocols; the shapes of requests
// and answers are the route schemas below.

import Type from 'typebox';
import { GeartrainError, gtError } from '../../errors.js';
import { GEARMAN_MAX_UNIQUE_SIZE } from '../../protocol/commands.js';
import type { JobFilter } from '../../store/types.js';
import type { JobLog } from '../joblog.js';
import { PRIORITY_NAMES, type Priority } from '../registry.js';
import type { Api, RouteContext } from './context.js';
import { errorBody, errorResponses, JobErrorBodySchema } from './errors.js';
import { resultValue } from './json.js';
import { type HttpSubmission, submitBackground } from './submit.js';
import { JobStateSchema, JobViewSchema, liveJobView, recordView } from './views.js';

/** Longest a foreground call may wait, ms (a day). */
const MAX_TIMEOUT_MS = 24 * 3600_000;
/** How long a foreground call waits when the body names no timeoutMs. */
export const DEFAULT_FOREGROUND_TIMEOUT_MS = 30_000;
const MAX_LIST = 10_000;
/** gearmand's limit on a function name. */
const MAX_FUNCTION_BYTES = 512;

/** Text a Gearman packet carries as an argument: NUL would split it, and the limit is in UTF-8 bytes. */
function gearmanText(maxBytes: number, nonEmpty: boolean, description: string) {
  const expected = `${nonEmpty ? 'a non-empty string' : 'a string'} of at most ${maxBytes} bytes without NUL`;
  return Type.Refine(
    Type.String({
      ...(nonEmpty ? { minLength: 1 } : {}),
      maxLength: maxBytes,
      pattern: '^[^\\u0000]*$',
      expected,
      description: `${description} At most ${maxBytes} bytes in UTF-8.`,
    }),
    (s) => Buffer.byteLength(s) <= maxBytes,
  );
}

const FunctionName = gearmanText(MAX_FUNCTION_BYTES, true, 'The Gearman function name.');
const IdParams = Type.Object(
  { id: Type.String({ minLength: 1, description: 'A job log id, or the Gearman handle while this server holds the job' }) },
  { additionalProperties: false },
);
const JobAnswer = Type.Object({ job: JobViewSchema }, { additionalProperties: false });
/** Routes that take no fields: no body, `{}` or null. */
const NoFields = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]);

const SubmitBody = Type.Object(
  {
    function: FunctionName,
    payload: Type.Optional(Type.Unknown({ description: 'A string is sent as it is; any other JSON value as its JSON text (what the workers read).' })),
    priority: Type.Optional(Type.Enum(PRIORITY_NAMES, { default: 'normal' })),
    unique: Type.Optional(gearmanText(GEARMAN_MAX_UNIQUE_SIZE, false, 'Jobs of one function with the same unique id are coalesced.')),
    background: Type.Optional(Type.Boolean({ default: true })),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_TIMEOUT_MS,
        default: DEFAULT_FOREGROUND_TIMEOUT_MS,
        description: 'Foreground jobs only: how long to wait for the result.',
      }),
    ),
  },
  { additionalProperties: false },
);

const Submitted = Type.Object(
  {
    handle: Type.String(),
    id: Type.String(),
    function: Type.String(),
    coalesced: Type.Boolean({ description: 'It joined a job already queued or running with the same function and unique id.' }),
    workers: Type.Integer({ description: 'Workers that can run the function now.' }),
    warning: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const Finished = Type.Object(
  {
    handle: Type.String(),
    function: Type.String(),
    coalesced: Type.Boolean(),
    result: Type.Unknown({ description: "The result's JSON value when the worker answered JSON, else the text." }),
    resultText: Type.String({ description: 'The result exactly as the worker sent it.' }),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    state: Type.Optional(JobStateSchema),
    function: Type.Optional(Type.String()),
    since: Type.Optional(
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Only jobs updated at or after this time, ms since the epoch.' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_LIST, default: 100 })),
  },
  { additionalProperties: false },
);

const RetryDeadBody = Type.Union([
  Type.Object(
    {
      function: Type.Optional(gearmanText(MAX_FUNCTION_BYTES, false, 'Only dead jobs of this function.')),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 100_000 })),
    },
    { additionalProperties: false },
  ),
  Type.Null(),
]);

const StatusAnswer = Type.Object(
  {
    handle: Type.String(),
    id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    known: Type.Boolean(),
    running: Type.Boolean(),
    numerator: Type.Integer(),
    denominator: Type.Integer(),
  },
  { additionalProperties: false },
);

export function registerJobRoutes(app: Api, ctx: RouteContext): void {
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

  const submitSchema = {
    summary: 'Submit a job: in the background (202 once logged), or in the foreground (200 with its result)',
    body: SubmitBody,
    response: { 200: Finished, 202: Submitted, '4xx': JobErrorBodySchema, '5xx': JobErrorBodySchema },
  };
  app.post('/api/v1/jobs', { schema: submitSchema }, async (req, reply) => {
    const { function: fn, payload, priority = 'normal', unique = '', background = true, timeoutMs } = req.body;
    // A string is sent as it is; any other JSON value as its JSON text (what the workers read).
    const data = Buffer.from(payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
    if (background && timeoutMs !== undefined) {
      throw new GeartrainError('GT_INVALID_ARGUMENT', 'timeoutMs applies to foreground jobs only: send it with background: false');
    }
    const s: HttpSubmission = { fn, data, priority: PRIORITY_NAMES.indexOf(priority) as Priority, unique };
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

  app.get(
    '/api/v1/jobs',
    {
      schema: {
        summary: 'The job log, newest first, with filters',
        querystring: ListQuery,
        response: { 200: Type.Object({ jobs: Type.Array(JobViewSchema) }, { additionalProperties: false }), ...errorResponses },
      },
    },
    async (req) => {
      const q = req.query;
      const f: JobFilter = { limit: q.limit ?? 100 };
      if (q.state !== undefined) f.state = q.state;
      if (q.function !== undefined) f.fn = q.function;
      if (q.since !== undefined) f.since = q.since;
      const log = joblog();
      // The journal writes updates behind (a few ms): what the operator reads includes them.
      await log.sync();
      const records = await log.store.list(f);
      return { jobs: records.map((r) => recordView(r, handleOf(r.id))) };
    },
  );

  const retryDeadResponse = Type.Object({ retried: Type.Integer(), ids: Type.Array(Type.String()) }, { additionalProperties: false });
  app.post(
    '/api/v1/jobs/retry-dead',
    { schema: { summary: 'Run dead jobs again', body: RetryDeadBody, response: { 200: retryDeadResponse, ...errorResponses } } },
    async (req) => {
      const { function: fn, limit = 100_000 } = req.body ?? {};
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
    },
  );

  app.get(
    '/api/v1/jobs/:id',
    { schema: { summary: 'One job log entry, by log id or handle', params: IdParams, response: { 200: JobAnswer, ...errorResponses } } },
    async (req) => {
      const param = req.params.id;
      const live = registry.jobs.get(param);
      if (live && !live.logged) return { job: liveJobView(live) };
      const log = joblog();
      await log.sync();
      const id = idOf(param);
      const r = await log.store.get(id);
      if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${param} in the job log or the queue`);
      return { job: recordView(r, handleOf(id)) };
    },
  );

  app.get(
    '/api/v1/jobs/:id/status',
    { schema: { summary: 'GET_STATUS of a job, by handle or log id', params: IdParams, response: { 200: StatusAnswer, ...errorResponses } } },
    async (req) => {
      // GET_STATUS: a handle this server holds; a log id is accepted too.
      const param = req.params.id;
      const job = registry.jobs.get(param) ?? registry.findById(param);
      if (!job) return { handle: param, known: false, running: false, numerator: 0, denominator: 0 };
      return { handle: job.handle, id: job.id || null, known: true, running: job.worker !== null, numerator: job.numerator, denominator: job.denominator };
    },
  );

  app.post(
    '/api/v1/jobs/:id/retry',
    { schema: { summary: 'Run a failed, dead or cancelled job again', params: IdParams, body: NoFields, response: { 200: JobAnswer, ...errorResponses } } },
    async (req) => {
      const log = joblog();
      await log.sync();
      const id = idOf(req.params.id);
      const r = await log.store.get(id);
      if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${req.params.id} in the job log`);
      if (r.state === 'queued' || r.state === 'running')
        throw gtError('GT_JOB_STATE_CONFLICT', id, r.state, 'only failed, dead or cancelled jobs can be retried');
      if (r.data === null) throw gtError('GT_JOB_STATE_CONFLICT', id, r.state, 'its payload is no longer kept, so it cannot run again');
      const updated = await log.retry(id);
      return { job: recordView(updated, handleOf(id)) };
    },
  );

  const cancelled = Type.Object({ job: Type.Union([JobViewSchema, Type.Null()]) }, { additionalProperties: false });
  app.post(
    '/api/v1/jobs/:id/cancel',
    { schema: { summary: 'Cancel a queued, running, failed or dead job', params: IdParams, body: NoFields, response: { 200: cancelled, ...errorResponses } } },
    async (req) => {
      const param = req.params.id;
      const live = registry.jobs.get(param);
      if (live && !live.logged) {
        // A foreground job: not in the log; its waiting clients get WORK_FAIL.
        const view = liveJobView(live);
        registry.cancel(live.handle);
        return { job: { ...view, state: 'cancelled' as const } };
      }
      const log = joblog();
      const id = idOf(param);
      if (!registry.findById(id)) {
        await log.sync();
        const r = await log.store.get(id);
        if (!r) throw gtError('GT_JOB_NOT_FOUND', `No job ${param} in the job log or the queue`);
        if (r.state === 'done' || r.state === 'cancelled')
          throw gtError('GT_JOB_STATE_CONFLICT', id, r.state, 'only queued, running, failed or dead jobs can be cancelled');
      }
      await log.cancel(id);
      await log.sync();
      const r = await log.store.get(id);
      return { job: r ? recordView(r, null) : null };
    },
  );
}
