// What the server is doing now: /api/v1/server, /queues, /workers, /events, and /metrics.

import Type, { type Static } from 'typebox';
import type { Api, RouteContext } from './context.js';
import { errorResponses } from './errors.js';
import { QueueViewSchema, queuesView, TotalsSchema, totals, WorkerViewSchema, workersView } from './views.js';

/** Workers listed in one events snapshot; GET /workers has them all. */
const SNAPSHOT_WORKERS = 200;

const NoQuery = Type.Object({}, { additionalProperties: false });

/** What an event stream sends in each `snapshot` event. */
export const SnapshotSchema = Type.Object(
  {
    time: Type.Integer({ description: 'ms since the epoch' }),
    queues: Type.Array(QueueViewSchema),
    totals: TotalsSchema,
    workers: Type.Array(WorkerViewSchema, { description: `The first ${SNAPSHOT_WORKERS} workers; GET /workers has them all.` }),
    workerCount: Type.Integer(),
    connections: Type.Integer(),
    history: Type.Optional(
      Type.Array(Type.Object({ t: Type.Integer(), completed: Type.Integer(), failed: Type.Integer() }, { additionalProperties: false }), {
        description: "The first snapshot of a stream only: the last 5 minutes of totals, oldest first (the dashboard's throughput chart).",
      }),
    ),
  },
  { additionalProperties: false },
);
export type Snapshot = Static<typeof SnapshotSchema>;

/** What an event stream sends; `first` adds the throughput history (GET /events, first event). */
export function snapshot(ctx: RouteContext, first = false): Snapshot {
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

const ServerAnswer = Type.Object(
  {
    version: Type.String(),
    pid: Type.Integer(),
    uptimeMs: Type.Integer(),
    gearman: Type.String({ description: 'host:port of the Gearman port' }),
    store: Type.String(),
    durable: Type.Boolean(),
    accepting: Type.Boolean(),
    features: Type.Object({ runs: Type.Boolean(), supervisor: Type.Boolean(), reload: Type.Boolean() }, { additionalProperties: false }),
    totals: TotalsSchema,
  },
  { additionalProperties: false },
);

export function registerOverviewRoutes(app: Api, ctx: RouteContext): void {
  const { host } = ctx;

  app.get(
    '/api/v1/server',
    { schema: { summary: 'What this server is and which providers it has', response: { 200: ServerAnswer, ...errorResponses } } },
    async () => {
      const gearman = host.address();
      return {
        version: host.version,
        pid: process.pid,
        uptimeMs: Math.round(Date.now() - host.stats.startedAt),
        gearman: `${gearman.host}:${gearman.port}`,
        store: host.store.name,
        durable: host.store.durable,
        accepting: host.accepting(),
        features: {
          runs: host.runsProvider !== null,
          supervisor: host.supervisorProvider !== null,
          reload: typeof host.supervisorProvider?.reload === 'function',
        },
        totals: totals(host.registry),
      };
    },
  );

  const queues = Type.Object({ queues: Type.Array(QueueViewSchema) }, { additionalProperties: false });
  app.get(
    '/api/v1/queues',
    { schema: { summary: 'Queued, scheduled and running jobs and totals per function', querystring: NoQuery, response: { 200: queues, ...errorResponses } } },
    async () => ({ queues: queuesView(host.registry) }),
  );

  const workersQuery = Type.Object(
    { all: Type.Optional(Type.Boolean({ default: false, description: 'Every connection, as the workers admin command lists them' })) },
    { additionalProperties: false },
  );
  const workers = Type.Object({ workers: Type.Array(WorkerViewSchema) }, { additionalProperties: false });
  app.get(
    '/api/v1/workers',
    { schema: { summary: 'Worker connections, their functions and running jobs', querystring: workersQuery, response: { 200: workers, ...errorResponses } } },
    async (req) => ({
      workers: workersView(host.connections(), req.query.all ?? false),
    }),
  );

  const stream = {
    description: 'Server-sent events: a `snapshot` event every eventsIntervalMs, its data a JSON Snapshot',
    content: { 'text/event-stream': { schema: Type.String() } },
  };
  app.get(
    '/api/v1/events',
    { schema: { summary: 'Server-sent snapshots of queues, totals and workers', querystring: NoQuery, response: { 200: stream, ...errorResponses } } },
    (req, reply) => {
      reply.hijack();
      // Quiet between snapshots when the interval is long; a stream that stops reading is
      // dropped by the hub instead.
      req.raw.socket.setTimeout(0);
      ctx.events.add(reply.raw);
    },
  );

  const metrics = { description: 'Prometheus text format', content: { 'text/plain': { schema: Type.String() } } };
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', response: { 200: metrics, ...errorResponses } } }, async (_req, reply) => {
    const text = await ctx.metrics.text();
    return reply.header('content-type', ctx.metrics.contentType).header('cache-control', 'no-store').send(text);
  });
}
