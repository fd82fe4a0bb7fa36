// The OpenAPI document of the HTTP API: generated from the route schemas, served under the token
// at /api/v1/openapi.json, valid OpenAPI 3.1, and listing every API route the server registers
// (as fastify's onRoute hook reports them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { HttpApi } from '../../src/server/http/index.js';
import { startHttp } from '../helpers/http.js';

type Operation = { requestBody?: { required?: boolean; content: Record<string, { schema: Record<string, unknown> }> }; parameters?: { name: string; in: string }[]; responses: Record<string, unknown>; security?: unknown };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; security?: unknown; components?: Record<string, unknown> };

test('GET /api/v1/openapi.json: a valid OpenAPI 3.1 document, behind the token', async (t) => {
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
  writeFileSync('/tmp/openapi.json', JSON.stringify(doc, null, 2));
});

import { writeFileSync } from 'node:fs';
