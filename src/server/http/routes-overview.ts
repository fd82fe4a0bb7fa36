// What the server is doing now: /api/v1/server, /queues, /workers, /events, and /metrics.

import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.js';
import { checkQuery } from './validate.js';
import { queuesView, totals, workersView } from './views.js';

/** Workers listed in one events snapshot; GET /workers has them all. */
const SNAPSHOT_WORKERS = 200;

/** What an event stream sends; `first` adds the throughput history (GET /events, first event). */
export function snapshot(ctx: RouteContext, first = false): unknown {
  const { host } = ctx;
  const workers = workersView(host.connections(), false);
  let connections = 0;
  for (const _ of host.connections()) connections++;
  return {
    time: Date.now(),
    queues: queuesView(host.registry),
    totals: totals(host.registry),
    workers: workers.slice(0, SNAPSHOT_WORKERS),
    workerCount: workers.length,
    connections,
    ...(first ? { history: ctx.history.samples() } : {}),
  };
}

export function registerOverviewRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { host } = ctx;

  app.get('/api/v1/server', async () => {
    const gearman = host.address();
    return {
      version: host.version,
      pid: process.pid,
      uptimeMs: Math.round(Date.now() - host.stats.startedAt),
      gearman: `${gearman.host}:${gearman.port}`,
      store: host.store.name,
      durable: host.store.durable,
      accepting: host.accepting(),
      features: { runs: host.runsProvider !== null, supervisor: host.supervisorProvider !== null, reload: typeof host.supervisorProvider?.reload === 'function' },
      totals: totals(host.registry),
    };
  });

  app.get('/api/v1/queues', async (req) => {
    checkQuery(req.query, []);
    return { queues: queuesView(host.registry) };
  });

  app.get('/api/v1/workers', async (req) => {
    const q = checkQuery(req.query, ['all']);
    const all = q.all === '1' || q.all === 'true';
    return { workers: workersView(host.connections(), all) };
  });

  app.get('/api/v1/events', (req, reply) => {
    checkQuery(req.query, []);
    reply.hijack();
    // Quiet between snapshots when the interval is long; a stream that stops reading is
    // dropped by the hub instead.
    req.raw.socket.setTimeout(0);
    ctx.events.add(reply.raw);
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await ctx.metrics.text();
    return reply.header('content-type', ctx.metrics.contentType).header('cache-control', 'no-store').send(text);
  });
}
