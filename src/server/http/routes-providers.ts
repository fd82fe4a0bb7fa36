// Routes served by a provider plugged into the server: pipeline runs (RunsProvider) and worker
// processes (SupervisorProvider). Without one they answer 501 GT_HTTP_NOT_AVAILABLE.

import Type from 'typebox';
import { gtError } from '../../errors.js';
import type { Api, RouteContext } from './context.js';
import { errorResponses } from './errors.js';
import { ProcessesViewSchema, type RunsProvider, RunViewSchema, type SupervisorProvider } from './providers.js';
import { RunSummarySchema, runSummary } from './views.js';

/** The supervisor refuses more itself; this only bounds what reaches it. */
const MAX_PROCESSES = 1024;

const RunsQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 50 })) }, { additionalProperties: false });
const RunParams = Type.Object({ id: Type.String({ minLength: 1 }) }, { additionalProperties: false });
const RunAnswer = Type.Object({ run: RunSummarySchema, record: RunViewSchema }, { additionalProperties: false });
const ProcessesBody = Type.Object({ action: Type.Enum(['reload']) }, { additionalProperties: false });
const ScaleBody = Type.Object(
  {
    counts: Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: MAX_PROCESSES }), {
      minProperties: 1,
      propertyNames: { minLength: 1, maxLength: 100, expected: 'a worker type name of 1 to 100 characters' },
      expected: 'an object of worker type → process count, e.g. {"thumbnail": 3}',
    }),
  },
  { additionalProperties: false },
);
const ProviderResult = Type.Object({ result: Type.Unknown({ description: 'What the supervisor reports' }) }, { additionalProperties: false });

export function registerProviderRoutes(app: Api, ctx: RouteContext): void {
  const { host } = ctx;
  const runs = (): RunsProvider => {
    const p = host.runsProvider;
    if (!p)
      throw gtError(
        'GT_HTTP_NOT_AVAILABLE',
        'No pipeline runs here: give the server the output folders the runs write to (pipeline server --runs DIR, or server.http.runs in the pipeline up ' +
          'config)',
      );
    return p;
  };
  const supervisor = (): SupervisorProvider => {
    const p = host.supervisorProvider;
    if (!p) throw gtError('GT_HTTP_NOT_AVAILABLE', 'No worker processes here: this server runs without a supervisor (start it with `pipeline up`)');
    return p;
  };

  const runList = Type.Object({ runs: Type.Array(RunSummarySchema) }, { additionalProperties: false });
  app.get(
    '/api/v1/runs',
    { schema: { summary: 'Pipeline runs with per-step progress', querystring: RunsQuery, response: { 200: runList, ...errorResponses } } },
    async (req) => {
      const list = await runs().list(req.query.limit ?? 50);
      return { runs: list.map((r) => runSummary(r)) };
    },
  );

  app.get(
    '/api/v1/runs/:id',
    { schema: { summary: 'One pipeline run: its summary and its whole record', params: RunParams, response: { 200: RunAnswer, ...errorResponses } } },
    async (req) => {
      const r = await runs().get(req.params.id);
      if (!r) throw gtError('GT_HTTP_NOT_FOUND', `No pipeline run ${req.params.id}`);
      return { run: runSummary(r, true), record: r };
    },
  );

  app.get(
    '/api/v1/processes',
    { schema: { summary: 'Supervised worker processes, as pipeline ps', response: { 200: ProcessesViewSchema, ...errorResponses } } },
    async () => supervisor().ps(),
  );

  app.post(
    '/api/v1/processes',
    { schema: { summary: 'Replace every worker process, as pipeline reload', body: ProcessesBody, response: { 200: ProviderResult, ...errorResponses } } },
    async () => {
      const p = supervisor();
      if (typeof p.reload !== 'function') throw gtError('GT_HTTP_NOT_AVAILABLE', 'This supervisor cannot reload');
      return { result: await p.reload() };
    },
  );

  app.post(
    '/api/v1/scale',
    { schema: { summary: 'Set the process count of worker types, as pipeline scale', body: ScaleBody, response: { 200: ProviderResult, ...errorResponses } } },
    async (req) => ({
      result: await supervisor().scale(req.body.counts),
    }),
  );
}
