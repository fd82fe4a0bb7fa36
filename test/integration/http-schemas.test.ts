// The HTTP API's route schemas: the OpenAPI document generated from them (served under the
// token at /api/v1/openapi.json, valid OpenAPI 3.1, listing every API route the server
// registers as fastify's onRoute hook reports them), and answers that keep every field they
// carry once serialized through the response schemas.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { HttpApi } from '../../src/server/http/index.js';
import type { RunView } from '../../src/server/http/providers.js';
import { recordView } from '../../src/server/http/views.js';
import type { PsResult } from '../../src/supervisor/supervisor.js';
import { startHttp } from '../helpers/http.js';
import { until } from '../helpers/wait.js';

type Operation = { requestBody?: { required?: boolean; content: Record<string, { schema: Record<string, unknown> }> }; responses: Record<string, unknown> };
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  security?: unknown;
  components?: { securitySchemes?: unknown; schemas?: Record<string, unknown> };
};

/** `/api/v1/jobs/:id` → `/api/v1/jobs/{id}` */
const openapiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}');

test('GET /api/v1/openapi.json: valid OpenAPI 3.1, behind the token, with every API route the server registers', async (t) => {
  const h = await startHttp(t);
  assert.equal((await h.api('GET', '/api/v1/openapi.json', undefined, { token: null })).status, 401);
  const r = await h.api<Doc>('GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200);
  const doc = r.body;
  const result = await new Validator().validate(doc as never);
  assert.deepEqual(result.errors, undefined);
  assert.equal(result.valid, true);
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(doc.security, [{ bearer: [] }]);
  assert.deepEqual(doc.components?.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } });

  // The routes as fastify registered them (its onRoute hook), less the dashboard's files and
  // the HEAD twins fastify adds to GET routes.
  const all = (h.server as unknown as { http: HttpApi }).http.routes.filter((x) => x.method !== 'HEAD');
  const routes = all.filter((x) => !x.hidden);
  const registered = routes.map((x) => `${x.method} ${openapiPath(x.url)}`).sort();
  const documented = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  assert.deepEqual(documented, registered);
  for (const expected of ['POST /api/v1/jobs', 'GET /api/v1/jobs/{id}', 'POST /api/v1/scale', 'GET /api/v1/openapi.json', 'GET /metrics'])
    assert.ok(registered.includes(expected), expected);
  assert.ok(routes.every((x) => x.url.startsWith('/api/v1/') || x.url === '/metrics'));
  assert.deepEqual(
    all.filter((x) => x.hidden).map((x) => x.url),
    ['/', '/index.html', '/dashboard.js', '/dashboard.css'],
    'the dashboard page and its files are left out',
  );

  // A body schema that takes null: the body may be left out.
  assert.equal(doc.paths['/api/v1/jobs']!.post!.requestBody!.required, true);
  assert.equal(doc.paths['/api/v1/jobs/retry-dead']!.post!.requestBody!.required, false);
  assert.equal(doc.paths['/api/v1/jobs/{id}/cancel']!.post!.requestBody!.required, false);
  const submit = doc.paths['/api/v1/jobs']!.post!.requestBody!.content['application/json']!.schema;
  assert.deepEqual(submit.required, ['function']);
  assert.equal(submit.additionalProperties, false);
  assert.ok(doc.components?.schemas?.Snapshot, 'the event stream snapshot is described');
});

test('without a token the document declares no security scheme', async (t) => {
  const h = await startHttp(t, { token: null });
  const doc = (await h.api<Doc>('GET', '/api/v1/openapi.json')).body;
  assert.equal(doc.security, undefined);
  assert.equal(doc.components?.securitySchemes, undefined);
  assert.equal((await new Validator().validate(doc as never)).valid, true);
});

test('answers carry every field the views build: job entries, the server, submissions', async (t) => {
  const h = await startHttp(t);
  const made = { input: 'a.jpg', outputs: [{ path: 'a-320w.webp', width: 320, extra: { nested: [1, null, 'x'] } }], meta: null };
  await h.worker({ full_fn: () => JSON.stringify(made) });
  const bg = await h.api('POST', '/api/v1/jobs', { function: 'full_fn', payload: { a: 1 }, unique: 'u-1' });
  assert.deepEqual(Object.keys(bg.body).sort(), ['coalesced', 'function', 'handle', 'id', 'workers']);
  await until(`job ${bg.body.id} to be done`, async () => (await h.api('GET', `/api/v1/jobs/${bg.body.id}`)).body.job.state === 'done');
  const entry = await h.api('GET', `/api/v1/jobs/${bg.body.id}`);
  // What recordView builds from the log entry is what arrives: the schema dropped nothing.
  await h.server.joblog!.sync();
  const record = await h.server.joblog!.store.get(bg.body.id);
  assert.deepEqual(entry.body, JSON.parse(JSON.stringify({ job: recordView(record!, null) })));
  assert.deepEqual(entry.body.job.result, made);
  assert.equal(Object.keys(entry.body.job).length, 18);
  const listed = await h.api('GET', '/api/v1/jobs?function=full_fn');
  assert.deepEqual(listed.body.jobs, [entry.body.job]);

  const fg = await h.api('POST', '/api/v1/jobs', { function: 'full_fn', background: false });
  assert.deepEqual(fg.body, { handle: fg.body.handle, function: 'full_fn', coalesced: false, result: made, resultText: JSON.stringify(made) });
  const failed = await h.api('POST', '/api/v1/jobs', { function: 'nobody_full', background: false, timeoutMs: 50 });
  assert.deepEqual(Object.keys(failed.body).sort(), ['error', 'handle']);

  const server = await h.api('GET', '/api/v1/server');
  assert.deepEqual(Object.keys(server.body), ['version', 'pid', 'uptimeMs', 'gearman', 'store', 'durable', 'accepting', 'features', 'totals']);
  assert.deepEqual(Object.keys(server.body.totals), ['completed', 'failed', 'retried', 'dead']);
  const workers = await h.api('GET', '/api/v1/workers');
  assert.deepEqual(Object.keys(workers.body.workers[0]), ['id', 'host', 'clientId', 'functions', 'sleeping', 'running']);
});

test("a provider's records are answered whole, fields the API does not name included", async (t) => {
  const h = await startHttp(t);
  const run = {
    id: 'run-9',
    pipeline: 'thumbnails',
    status: 'done',
    createdAt: '2025-01-01T00:00:00.000Z',
    input: { files: ['a.jpg'] },
    steps: { thumbs: { status: 'done', total: 1, items: { a: { status: 'done', result: { outputs: [{ width: 320 }] }, attempts: 1 } }, startedAt: 't' } },
  } as RunView;
  h.server.setRunsProvider({ list: async () => [run], get: async () => run });
  const one = await h.api('GET', '/api/v1/runs/run-9');
  assert.deepEqual(one.body.record, run);
  assert.deepEqual(Object.keys(one.body.run.steps[0]), ['id', 'status', 'total', 'done', 'failed', 'reused', 'reason', 'failures']);

  // The supervisor's PsResult carries more than the dashboard reads.
  const ps: PsResult = {
    pid: 4242,
    startedAt: '2025-01-01T00:00:00.000Z',
    uptimeMs: 1000,
    servers: ['127.0.0.1:4730'],
    config: null,
    types: [{ type: 'thumbnail', processes: 1, running: 1, concurrency: 2, state: 'ok', crashesAtStart: 0, exec: ['x'] }],
    processes: [
      {
        type: 'thumbnail',
        name: 'worker:thumbnail#1',
        pid: 99,
        state: 'running',
        startedAt: 't',
        uptimeMs: 5,
        restarts: 0,
        jobsDone: 3,
        jobsFailed: 0,
        nextStartInMs: 10,
      },
    ],
  };
  h.server.setSupervisorProvider({
    ps: async () => ps,
    scale: async (c) => ({ scaled: Object.entries(c).map(([type, to]) => ({ type, from: 1, to })), notReady: [] }),
  });
  assert.deepEqual((await h.api('GET', '/api/v1/processes')).body, ps);
  const scaled = await h.api('POST', '/api/v1/scale', { counts: { thumbnail: 2 } });
  assert.deepEqual(scaled.body, { result: { scaled: [{ type: 'thumbnail', from: 1, to: 2 }], notReady: [] } });
});
