// Routes served by a provider plugged into the server: pipeline runs (RunsProvider) and worker
// processes (SupervisorProvider). Without one they answer 501 GT_HTTP_NOT_AVAILABLE.

import type { FastifyInstance } from 'fastify';
import { GeartrainError, gtError, invalidArgument } from '../../errors.js';
import type { RouteContext } from './context.js';
import type { RunsProvider, SupervisorProvider } from './providers.js';
import { checkQuery, objectBody, oneOf, queryInt } from './validate.js';
import { runSummary } from './views.js';

/** The supervisor refuses more itself; this only bounds what reaches it. */
const MAX_PROCESSES = 1024;

export function registerProviderRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { host } = ctx;
  const runs = (): RunsProvider => {
    const p = host.runsProvider;
    if (!p) throw gtError('GT_HTTP_NOT_AVAILABLE', 'No pipeline runs here: give the server the output folders the runs write to (pipeline server --runs DIR, or server.http.runs in the pipeline up config)');
    return p;
  };
  const supervisor = (): SupervisorProvider => {
    const p = host.supervisorProvider;
    if (!p) throw gtError('GT_HTTP_NOT_AVAILABLE', 'No worker processes here: this server runs without a supervisor (start it with `pipeline up`)');
    return p;
  };

  app.get('/api/v1/runs', async (req) => {
    const q = checkQuery(req.query, ['limit']);
    const list = await runs().list(queryInt(q, 'limit', 1000) ?? 50);
    return { runs: list.map((r) => runSummary(r)) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/runs/:id', async (req) => {
    const r = await runs().get(req.params.id);
    if (!r) throw gtError('GT_HTTP_NOT_FOUND', `No pipeline run ${req.params.id}`);
    return { run: runSummary(r, true), record: r };
  });

  app.get('/api/v1/processes', async () => supervisor().ps());

  app.post('/api/v1/processes', async (req) => {
    const b = objectBody(req.body, ['action']);
    oneOf(b.action, 'action', ['reload'] as const);
    const p = supervisor();
    if (typeof p.reload !== 'function') throw gtError('GT_HTTP_NOT_AVAILABLE', 'This supervisor cannot reload');
    return { result: await p.reload() };
  });

  app.post('/api/v1/scale', async (req) => {
    const b = objectBody(req.body, ['counts']);
    const counts = b.counts;
    if (typeof counts !== 'object' || counts === null || Array.isArray(counts) || Object.keys(counts).length === 0) {
      throw invalidArgument('an object of worker type → process count, e.g. {"thumbnail": 3}', 'counts', counts);
    }
    const checked: Record<string, number> = {};
    for (const [type, n] of Object.entries(counts as Record<string, unknown>)) {
      if (type === '' || type.length > 100) throw new GeartrainError('GT_INVALID_ARGUMENT', `Expected a worker type name for a key of counts but received "${type.slice(0, 40)}"`);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_PROCESSES) throw invalidArgument(`an integer from 0 to ${MAX_PROCESSES}`, `counts.${type}`, n);
      checked[type] = n;
    }
    return { result: await supervisor().scale(checked) };
  });
}
