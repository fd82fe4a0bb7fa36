// The HTTP API (src/server/http): every endpoint against a real server on port 0, with real
// workers over Gearman, plus the hostile cases: no token, wrong token, bad JSON, oversized and
// non-JSON bodies, unknown functions and fields, foreign Host and Origin headers, and a
// non-loopback bind without a token.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { WorkFail } from '../../src/client/index.js';
import { GeartrainError } from '../../src/errors.js';
import type { ProcessesView, RunView, SupervisorProvider } from '../../src/server/http/providers.js';
import { backoffPolicy } from '../../src/server/retry.js';
import { GearmanServer } from '../../src/server/server.js';
import { startHttp, TOKEN } from '../helpers/http.js';
import { CLI } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const quickRetry = backoffPolicy({ maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 40 });

test('auth: every API route and /metrics need the bearer token; the dashboard page does not', async (t) => {
  const h = await startHttp(t);
  for (const path of ['/api/v1/server', '/api/v1/queues', '/api/v1/workers', '/api/v1/jobs', '/api/v1/runs', '/metrics', '/api/v1/nope']) {
    const missing = await h.api('GET', path, undefined, { token: null });
    assert.equal(missing.status, 401, path);
    assert.equal(missing.body.error.code, 'GT_HTTP_UNAUTHORIZED', path);
    assert.equal(missing.body.error.message, 'Missing bearer token: send the header Authorization: Bearer TOKEN');
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="geartrain"');
    const wrong = await h.api('GET', path, undefined, { token: 'not-the-token' });
    assert.equal(wrong.status, 401, path);
    assert.equal(wrong.body.error.message, 'Wrong bearer token: send the header Authorization: Bearer TOKEN');
  }
  const post = await h.api('POST', '/api/v1/jobs', { function: 'auth_fn' }, { token: null });
  assert.equal(post.status, 401);
  assert.equal(h.server.registry.functions.has('auth_fn'), false, 'nothing was submitted');
  const basic = await h.api('GET', '/api/v1/queues', undefined, { token: null, headers: { authorization: `Basic ${TOKEN}` } });
  assert.equal(basic.status, 401);

  assert.equal((await h.api('GET', '/api/v1/server')).status, 200);
  assert.equal((await h.api('GET', '/metrics')).status, 200);
  for (const path of ['/', '/dashboard.js', '/dashboard.css']) {
    const page = await h.api('GET', path, undefined, { token: null });
    assert.equal(page.status, 200, path);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  }
});

test('POST /jobs in the background: 202 with handle and log id; the worker gets the payload as JSON text', async (t) => {
  const h = await startHttp(t);
  const seen: string[] = [];
  await h.worker({ bg_echo: (job) => void seen.push(job.text()) });
  const r = await h.api('POST', '/api/v1/jobs', { function: 'bg_echo', payload: { a: [1, 2] }, priority: 'high' });
  assert.equal(r.status, 202);
  assert.match(r.body.handle, /^H:.+:\d+$/);
  assert.match(r.body.id, /^\w+-\d+$/);
  assert.equal(r.body.workers, 1);
  assert.equal(r.body.coalesced, false);
  assert.equal(r.body.warning, undefined);
  const s = await h.api('POST', '/api/v1/jobs', { function: 'bg_echo', payload: 'as it is' });
  assert.equal(s.status, 202);
  await until('the worker to get both payloads', () => seen.length === 2);
  assert.deepEqual(seen, ['{"a":[1,2]}', 'as it is']);
  await until(`job ${r.body.id} to be done`, async () => (await h.api('GET', `/api/v1/jobs/${r.body.id}`)).body.job.state === 'done');
  const entry = await h.api('GET', `/api/v1/jobs/${r.body.id}`);
  assert.equal(entry.body.job.function, 'bg_echo');
  assert.equal(entry.body.job.priority, 'high');
  assert.equal(entry.body.job.attempts, 1);
});

test('POST /jobs for a function no worker has: accepted, queued, and the answer says workers: 0', async (t) => {
  const h = await startHttp(t);
  const r = await h.api('POST', '/api/v1/jobs', { function: 'nobody_fn', payload: 1, priority: 'low' });
  assert.equal(r.status, 202);
  assert.equal(r.body.workers, 0);
  assert.equal(r.body.warning, 'No worker can run nobody_fn yet; the job waits in the queue until one registers it');
  const q = await h.api('GET', '/api/v1/queues');
  const row = q.body.queues.find((x: { function: string }) => x.function === 'nobody_fn');
  assert.deepEqual(row.queued, { high: 0, normal: 0, low: 1, total: 1 });
  assert.equal(row.workers, 0);
  assert.equal(row.running, 0);
  const st = await h.api('GET', `/api/v1/jobs/${encodeURIComponent(r.body.handle)}/status`);
  assert.deepEqual(st.body, { handle: r.body.handle, id: r.body.id, known: true, running: false, numerator: 0, denominator: 0 });
  const byId = await h.api('GET', `/api/v1/jobs/${r.body.id}/status`);
  assert.equal(byId.body.handle, r.body.handle);
  const unknown = await h.api('GET', '/api/v1/jobs/H:nowhere:1/status');
  assert.deepEqual(unknown.body, { handle: 'H:nowhere:1', known: false, running: false, numerator: 0, denominator: 0 });
});

test('POST /jobs with a unique id joins the queued job (coalesced)', async (t) => {
  const h = await startHttp(t);
  const a = await h.api('POST', '/api/v1/jobs', { function: 'uniq_fn', unique: 'same-key', payload: 'x' });
  const b = await h.api('POST', '/api/v1/jobs', { function: 'uniq_fn', unique: 'same-key', payload: 'y' });
  assert.equal(b.body.handle, a.body.handle);
  assert.equal(b.body.id, a.body.id);
  assert.equal(b.body.coalesced, true);
  assert.equal(h.server.registry.functions.get('uniq_fn')!.queued, 1);
});

test('GET /jobs/:id/status reports a running job and its progress', async (t) => {
  const h = await startHttp(t);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await h.worker({
    status_fn: async (job) => {
      job.status(3, 7);
      await gate;
      return 'ok';
    },
  });
  const r = await h.api('POST', '/api/v1/jobs', { function: 'status_fn' });
  const path = `/api/v1/jobs/${encodeURIComponent(r.body.handle)}/status`;
  await until(`${path} to report numerator 3`, async () => (await h.api('GET', path)).body.numerator === 3);
  assert.deepEqual((await h.api('GET', path)).body, { handle: r.body.handle, id: r.body.id, known: true, running: true, numerator: 3, denominator: 7 });
  release();
  await until(`${path} to report the job unknown`, async () => (await h.api('GET', path)).body.known === false);
});

test('POST /jobs in the foreground: waits for the result, or the failure, or the timeout', async (t) => {
  const h = await startHttp(t);
  await h.worker({
    fg_upper: (job) => job.text().toUpperCase(),
    fg_throw: () => {
      throw new Error('it broke');
    },
    fg_fail: () => {
      throw new WorkFail();
    },
  });
  const ok = await h.api('POST', '/api/v1/jobs', { function: 'fg_upper', payload: 'hello', background: false });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.result, 'HELLO');
  assert.equal(ok.body.function, 'fg_upper');
  assert.match(ok.body.handle, /^H:/);

  const ex = await h.api('POST', '/api/v1/jobs', { function: 'fg_throw', background: false });
  assert.equal(ex.status, 500);
  assert.equal(ex.body.error.code, 'GT_JOB_EXCEPTION');
  assert.match(ex.body.error.message, /^Job H:.+ raised: it broke$/);

  const fail = await h.api('POST', '/api/v1/jobs', { function: 'fg_fail', background: false });
  assert.equal(fail.status, 500);
  assert.equal(fail.body.error.code, 'GT_JOB_FAILED');

  const started = Date.now();
  const slow = await h.api('POST', '/api/v1/jobs', { function: 'fg_nobody', background: false, timeoutMs: 200 });
  assert.ok(Date.now() - started >= 190);
  assert.equal(slow.status, 504);
  assert.equal(slow.body.error.code, 'GT_TIMEOUT');
  assert.match(slow.body.error.message, /^Job H:.+ timed out after 200 ms$/);
  // Nobody waits for it any more and it never started: dropped, as for a Gearman client that left.
  assert.equal(h.server.registry.functions.get('fg_nobody')!.queued, 0);
  assert.equal(h.server.registry.jobs.size, 0);
});

test('a foreground caller that disconnects leaves no job behind', async (t) => {
  const h = await startHttp(t);
  const ac = new AbortController();
  const pending = fetch(`${h.base}/api/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ function: 'gone_fn', background: false }),
    signal: ac.signal,
  }).catch((err: Error) => err);
  await until('one gone_fn job queued', () => h.server.registry.functions.get('gone_fn')?.queued === 1);
  ac.abort();
  assert.ok((await pending) instanceof Error);
  await until('the job to be dropped', () => h.server.registry.functions.get('gone_fn')!.queued === 0, 2000);
});

test('bodies are validated, each message naming the field', async (t) => {
  const h = await startHttp(t);
  const cases: [unknown, string][] = [
    [{ function: 'v_fn', priority: 'urgent' }, 'Expected one of high, normal, low for priority but received urgent of type string'],
    [{ payload: 1 }, 'Expected a non-empty string of at most 512 bytes without NUL for function but received undefined'],
    [{ function: '' }, 'Expected a non-empty string of at most 512 bytes without NUL for function but received  of type string'],
    [{ function: 'v\u0000fn' }, 'Expected a non-empty string of at most 512 bytes without NUL for function but received v\u0000fn of type string'],
    [
      { function: 'v_fn', unique: 'u'.repeat(65) },
      `Expected a string of at most 64 bytes without NUL for unique but received ${'u'.repeat(37)}... of type string`,
    ],
    [
      { function: '€'.repeat(200) },
      `Expected a non-empty string of at most 512 bytes without NUL for function but received ${'€'.repeat(37)}... of type string`,
    ],
    [{ function: 'v_fn', background: 'yes' }, 'Expected boolean for background but received yes of type string'],
    [{ function: 'v_fn', background: false, timeoutMs: -1 }, 'Expected integer between 1 and 86400000 for timeoutMs but received -1 of type number'],
    // A body is JSON: a number sent as text is refused, not read as a number.
    [{ function: 'v_fn', background: false, timeoutMs: '5' }, 'Expected integer between 1 and 86400000 for timeoutMs but received 5 of type string'],
    [{ function: 'v_fn', timeoutMs: 100 }, 'timeoutMs applies to foreground jobs only: send it with background: false'],
    [
      { function: 'v_fn', colour: 'red' },
      'Expected one of the fields function, payload, priority, unique, background, timeoutMs for colour but received red of type string',
    ],
    [[1, 2], 'Expected a JSON object for body but received [1,2] of type array'],
    ['text', 'Expected a JSON object for body but received text of type string'],
  ];
  for (const [body, message] of cases) {
    const r = await h.api('POST', '/api/v1/jobs', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.deepEqual(r.body, { error: { code: 'GT_INVALID_ARGUMENT', message } });
  }
  assert.equal(h.server.registry.functions.has('v_fn'), false, 'no invalid submission made a job');
  const q = await h.api('GET', '/api/v1/jobs?state=sleeping');
  assert.equal(q.status, 400);
  assert.equal(q.body.error.message, 'Expected one of queued, running, done, failed, dead, cancelled for state but received sleeping of type string');
  const lim = await h.api('GET', '/api/v1/jobs?limit=lots');
  assert.equal(lim.body.error.message, 'Expected integer between 0 and 10000 for limit but received lots of type string');
  const hex = await h.api('GET', '/api/v1/jobs?limit=0x10');
  assert.equal(hex.body.error.message, 'Expected integer between 0 and 10000 for limit but received 0x10 of type string');
  const twice = await h.api('GET', '/api/v1/jobs?limit=1&limit=2');
  assert.equal(twice.body.error.message, 'Expected integer between 0 and 10000 for limit but received ["1","2"] of type array');
  const extra = await h.api('GET', '/api/v1/jobs?colour=red');
  assert.deepEqual(extra.body.error, {
    code: 'GT_INVALID_ARGUMENT',
    message: 'Expected one of the fields state, function, since, limit for colour but received red of type string',
  });
  // Query strings are text: a decimal number is read as one, and an empty value counts as absent.
  const read = await h.api('GET', '/api/v1/jobs?limit=5&state=&function=');
  assert.equal(read.status, 200);
  const none = await h.api('GET', '/api/v1/queues?x=1');
  assert.equal(none.body.error.message, 'Expected no query parameters for x but received 1 of type string');
  const all = await h.api('GET', '/api/v1/workers?all=maybe');
  assert.equal(all.body.error.message, 'Expected boolean for all but received maybe of type string');
  const retryBody = await h.api('POST', '/api/v1/jobs/x-1/retry', { force: true });
  assert.equal(retryBody.body.error.message, 'Expected no fields for force but received true of type boolean');
});

test('bad JSON, an empty body, a body that is not JSON, and an oversized body get coded errors', async (t) => {
  const h = await startHttp(t);
  const json = { 'content-type': 'application/json' };
  const bad = await h.api('POST', '/api/v1/jobs', undefined, { raw: '{"function": "x",', headers: json });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'GT_BODY_INVALID');
  assert.match(bad.body.error.message, /^Request body is not valid: not JSON \(.+\)$/);

  const empty = await h.api('POST', '/api/v1/jobs', undefined, { raw: '', headers: json });
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error.message, 'Expected a JSON object for body but received undefined');

  const form = await h.api('POST', '/api/v1/jobs', undefined, { raw: 'function=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 400);
  assert.deepEqual(form.body.error, { code: 'GT_BODY_INVALID', message: 'Request body is not valid: expected Content-Type: application/json' });
  const text = await h.api('POST', '/api/v1/jobs', undefined, { raw: '{"function":"x"}', headers: { 'content-type': 'text/plain' } });
  assert.equal(text.body.error.code, 'GT_BODY_INVALID');

  // Default limit 1 MiB: a payload over it is refused before it is parsed.
  const big = await h.api('POST', '/api/v1/jobs', { function: 'big_fn', payload: 'x'.repeat(1024 * 1024) });
  assert.equal(big.status, 413);
  assert.deepEqual(big.body.error, { code: 'GT_BODY_TOO_LARGE', message: 'Request body exceeds the limit of 1048576 bytes' });
  assert.equal(h.server.registry.functions.has('big_fn'), false);
  const fits = await h.api('POST', '/api/v1/jobs', { function: 'big_fn', payload: 'x'.repeat(1000 * 1000) });
  assert.equal(fits.status, 202);
});

test('deeply nested JSON is refused with 400 GT_BODY_INVALID, not a 500 and an error-level log', async (t) => {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const h = await startHttp(t, { logger });
  const json = { 'content-type': 'application/json' };
  // 100,000 levels fit in the body limit; JSON.parse builds them, JSON.stringify overflows the stack.
  const arrays = await h.api('POST', '/api/v1/jobs', undefined, {
    raw: `{"function":"deep_fn","payload":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    headers: json,
  });
  assert.equal(arrays.status, 400);
  assert.deepEqual(arrays.body.error, { code: 'GT_BODY_INVALID', message: 'Request body is not valid: JSON nested deeper than 64 levels' });
  const objects = await h.api('POST', '/api/v1/jobs/retry-dead', undefined, { raw: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`, headers: json });
  assert.equal(objects.status, 400);
  assert.equal(objects.body.error.code, 'GT_BODY_INVALID');
  assert.equal(h.server.registry.functions.has('deep_fn'), false);
  // Brackets inside strings do not count, and 64 levels are accepted.
  const inString = await h.api('POST', '/api/v1/jobs', { function: 'deep_fn', payload: { text: '['.repeat(1000) + '{"'.repeat(100) } });
  assert.equal(inString.status, 202);
  let nested: unknown = 1;
  for (let i = 0; i < 62; i++) nested = [nested];
  const fits = await h.api('POST', '/api/v1/jobs', { function: 'deep_fn', payload: nested });
  assert.equal(fits.status, 202);
  assert.deepEqual(
    lines.filter((l) => l.level >= 50).map((l) => l.msg),
    [],
  );
});

/** A raw HTTP peer: writes what the test gives it, collects what comes back, notes when the server closes. */
async function rawHttp(base: string): Promise<{ send(s: string): boolean; received(): string; closed: Promise<number>; destroy(): void }> {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  const start = Date.now();
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - start)));
  return { send: (s) => !socket.destroyed && socket.write(s), received: () => text, closed, destroy: () => socket.destroy() };
}

/** Send `body` one byte every `everyMs` until the server closes or the body is all sent. */
function trickle(peer: { send(s: string): boolean }, body: string, everyMs: number, t: { after(f: () => void): void }): void {
  let i = 0;
  const timer = setInterval(() => {
    if (i >= body.length || !peer.send(body[i++]!)) clearInterval(timer);
  }, everyMs);
  t.after(() => clearInterval(timer));
}

test('a body trickled byte by byte is cut at http.requestTimeoutMs with 408', { timeout: 20_000 }, async (t) => {
  const h = await startHttp(t, { http: { port: 0, requestTimeoutMs: 1000 } });
  const peer = await rawHttp(h.base);
  t.after(() => peer.destroy());
  const body = JSON.stringify({ function: 'trickle_fn', payload: 'x'.repeat(200) });
  peer.send(
    `POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ` +
      `${body.length}\r\n\r\n`,
  );
  trickle(peer, body, 50, t);
  // The whole body would take over 11 s; the server closes after about 1 s (checked every second).
  const ms = await peer.closed;
  assert.ok(ms < 6000, `closed after ${ms} ms`);
  assert.match(peer.received(), /^HTTP\/1\.1 408 /);
  assert.equal(h.server.registry.functions.has('trickle_fn'), false);
});

test('a 401 or 413 answer closes the connection: the rest of a trickled body is not waited for', { timeout: 20_000 }, async (t) => {
  const h = await startHttp(t);
  const body = JSON.stringify({ function: 'trickle401_fn', payload: 'x'.repeat(200) });
  const noToken = await rawHttp(h.base);
  t.after(() => noToken.destroy());
  noToken.send(`POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  trickle(noToken, body, 50, t);
  const ms = await noToken.closed;
  assert.ok(ms < 3000, `closed after ${ms} ms`);
  assert.match(noToken.received(), /^HTTP\/1\.1 401 [\s\S]*connection: close/i);

  const tooLarge = await rawHttp(h.base);
  t.after(() => tooLarge.destroy());
  tooLarge.send(
    `POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ` +
      `${2 * 1024 * 1024}\r\n\r\n`,
  );
  trickle(tooLarge, body, 50, t);
  const ms2 = await tooLarge.closed;
  assert.ok(ms2 < 3000, `closed after ${ms2} ms`);
  assert.match(tooLarge.received(), /^HTTP\/1\.1 413 [\s\S]*GT_BODY_TOO_LARGE/);
});

test('a connection that sends nothing is closed at http.connectionTimeoutMs; a long foreground call and an event stream are not', {
  timeout: 20_000,
}, async (t) => {
  const quiet = await startHttp(t, { http: { port: 0, connectionTimeoutMs: 500 } });
  const idle = await rawHttp(quiet.base);
  t.after(() => idle.destroy());
  const ms = await idle.closed;
  assert.ok(ms < 4000, `closed after ${ms} ms`);

  // The request timeout covers receiving the request, not waiting for the answer: shorter than the job here.
  const h = await startHttp(t, { http: { port: 0, connectionTimeoutMs: 500, requestTimeoutMs: 500, eventsIntervalMs: 1500 } });

  await h.worker({ slow_fg_fn: () => new Promise((r) => setTimeout(() => r('late'), 1500)) });
  const fg = await h.api('POST', '/api/v1/jobs', { function: 'slow_fg_fn', background: false });
  assert.equal(fg.status, 200);
  assert.equal(fg.body.result, 'late');

  const ac = new AbortController();
  t.after(() => ac.abort());
  const res = await fetch(`${h.base}/api/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let seen = '';
  while ((seen.match(/event: snapshot/g) ?? []).length < 2) {
    const { value, done } = await reader.read();
    assert.equal(done, false, 'the stream stays open between snapshots');
    seen += value;
  }
});

test('http.bodyLimit sets the limit', async (t) => {
  const h = await startHttp(t, { http: { port: 0, bodyLimit: 2048 } });
  const r = await h.api('POST', '/api/v1/jobs', { function: 'lim_fn', payload: 'x'.repeat(3000) });
  assert.equal(r.status, 413);
  assert.equal(r.body.error.message, 'Request body exceeds the limit of 2048 bytes');
});

test('the job log: list with filters, one entry with its error, retry, retry-dead, cancel', async (t) => {
  const h = await startHttp(t, { retry: quickRetry });
  let failures = 0;
  await h.worker({
    log_ok: () => 'fine',
    log_bad: () => {
      failures++;
      throw new Error('always broken');
    },
  });
  const ok = await h.api('POST', '/api/v1/jobs', { function: 'log_ok', payload: 'a' });
  const bad = await h.api('POST', '/api/v1/jobs', { function: 'log_bad', payload: { n: 1 } });
  await until('the job to die', async () => (await h.api('GET', `/api/v1/jobs/${bad.body.id}`)).body.job.state === 'dead', 5000);
  assert.equal(failures, 2);

  const dead = await h.api('GET', '/api/v1/jobs?state=dead&function=log_bad');
  assert.equal(dead.status, 200);
  assert.deepEqual(
    dead.body.jobs.map((j: { id: string }) => j.id),
    [bad.body.id],
  );
  const entry = (await h.api('GET', `/api/v1/jobs/${bad.body.id}`)).body.job;
  assert.equal(entry.state, 'dead');
  assert.equal(entry.attempts, 2);
  assert.equal(entry.maxAttempts, 2);
  assert.equal(entry.error, 'WORK_EXCEPTION: always broken');
  assert.equal(entry.result, null);
  assert.equal(entry.resultText, null);
  assert.equal(entry.payload, '{"n":1}');
  assert.equal(entry.handle, null, 'a dead job is no longer held');
  await until(`job ${ok.body.id} to be done`, async () => (await h.api('GET', `/api/v1/jobs/${ok.body.id}`)).body.job.state === 'done');
  const done = (await h.api('GET', `/api/v1/jobs/${ok.body.id}`)).body.job;
  assert.equal(done.result, 'fine');
  assert.equal(done.error, null);
  const all = await h.api('GET', '/api/v1/jobs?limit=1');
  assert.equal(all.body.jobs.length, 1);
  const since = await h.api('GET', `/api/v1/jobs?since=${Date.now() + 60_000}`);
  assert.deepEqual(since.body.jobs, []);

  const conflict = await h.api('POST', `/api/v1/jobs/${ok.body.id}/retry`);
  assert.equal(conflict.status, 409);
  assert.deepEqual(conflict.body.error, {
    code: 'GT_JOB_STATE_CONFLICT',
    message: `Job ${ok.body.id} is done: its payload is no longer kept, so it cannot run again`,
  });
  const missing = await h.api('POST', '/api/v1/jobs/nope-1/retry');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body.error, { code: 'GT_JOB_NOT_FOUND', message: 'No job nope-1 in the job log' });
  assert.equal((await h.api('GET', '/api/v1/jobs/nope-1')).status, 404);

  const retried = await h.api('POST', `/api/v1/jobs/${bad.body.id}/retry`);
  assert.equal(retried.status, 200);
  assert.equal(retried.body.job.state, 'queued');
  assert.equal(retried.body.job.attempts, 0);
  await until('the retried job to die again', async () => (await h.api('GET', `/api/v1/jobs/${bad.body.id}`)).body.job.state === 'dead', 5000);
  assert.equal(failures, 4);

  const all2 = await h.api('POST', '/api/v1/jobs/retry-dead', { function: 'log_bad' });
  assert.deepEqual(all2.body, { retried: 1, ids: [bad.body.id] });
  await until('the third run to die', async () => (await h.api('GET', `/api/v1/jobs/${bad.body.id}`)).body.job.state === 'dead', 5000);
  const none = await h.api('POST', '/api/v1/jobs/retry-dead', { function: 'other_fn' });
  assert.deepEqual(none.body, { retried: 0, ids: [] });
  const badBody = await h.api('POST', '/api/v1/jobs/retry-dead', { fn: 'log_bad' });
  assert.equal(badBody.body.error.message, 'Expected one of the fields function, limit for fn but received log_bad of type string');

  const cancelled = await h.api('POST', `/api/v1/jobs/${bad.body.id}/cancel`);
  assert.equal(cancelled.status, 200);
  assert.equal(cancelled.body.job.state, 'cancelled');
  const again = await h.api('POST', `/api/v1/jobs/${bad.body.id}/cancel`);
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, 'GT_JOB_STATE_CONFLICT');
});

test('a JSON result is returned as JSON, its text as resultText; other results stay text', async (t) => {
  const h = await startHttp(t);
  const made = { input: 'a.jpg', outputs: [{ path: 'a-320w.webp', width: 320 }] };
  await h.worker({
    json_result: () => JSON.stringify(made),
    text_result: () => 'plain words',
    deep_result: () => '['.repeat(5000) + ']'.repeat(5000),
  });
  const fg = await h.api('POST', '/api/v1/jobs', { function: 'json_result', background: false });
  assert.equal(fg.status, 200);
  assert.deepEqual(fg.body.result, made);
  assert.equal(fg.body.resultText, JSON.stringify(made));

  const bg = await h.api('POST', '/api/v1/jobs', { function: 'json_result' });
  const text = await h.api('POST', '/api/v1/jobs', { function: 'text_result' });
  const deep = await h.api('POST', '/api/v1/jobs', { function: 'deep_result' });
  for (const id of [bg.body.id, text.body.id, deep.body.id]) {
    await until(`job ${id} done`, async () => (await h.api('GET', `/api/v1/jobs/${id}`)).body.job.state === 'done', 5000);
  }
  const entry = (await h.api('GET', `/api/v1/jobs/${bg.body.id}`)).body.job;
  assert.deepEqual(entry.result, made);
  assert.equal(entry.resultText, JSON.stringify(made));
  const listed = (await h.api('GET', '/api/v1/jobs?function=json_result')).body.jobs[0];
  assert.deepEqual(listed.result, made);
  const plain = (await h.api('GET', `/api/v1/jobs/${text.body.id}`)).body.job;
  assert.equal(plain.result, 'plain words');
  assert.equal(plain.resultText, 'plain words');
  // Too deep to be sent back as JSON safely: kept as its text.
  const tooDeep = await h.api('GET', `/api/v1/jobs/${deep.body.id}`);
  assert.equal(tooDeep.status, 200);
  assert.equal(tooDeep.body.job.result, tooDeep.body.job.resultText);
});

test('cancel: a queued background job leaves the queue, a foreground one answers its caller', async (t) => {
  const h = await startHttp(t);
  const bg = await h.api('POST', '/api/v1/jobs', { function: 'cx_fn', payload: 'x' });
  assert.equal(h.server.registry.functions.get('cx_fn')!.queued, 1);
  const byHandle = await h.api('POST', `/api/v1/jobs/${encodeURIComponent(bg.body.handle)}/cancel`);
  assert.equal(byHandle.status, 200);
  assert.equal(byHandle.body.job.state, 'cancelled');
  assert.equal(byHandle.body.job.id, bg.body.id);
  assert.equal(h.server.registry.functions.get('cx_fn')!.queued, 0);
  const retryQueued = await h.api('POST', '/api/v1/jobs', { function: 'cx_fn', payload: 'y' });
  const conflict = await h.api('POST', `/api/v1/jobs/${retryQueued.body.id}/retry`);
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.error.message, `Job ${retryQueued.body.id} is queued: only failed, dead or cancelled jobs can be retried`);

  const fg = h.api('POST', '/api/v1/jobs', { function: 'cx_fg', background: false });
  await until('one cx_fg job queued', () => h.server.registry.functions.get('cx_fg')?.queued === 1);
  const handle = [...h.server.registry.jobs.values()].find((j) => j.fn.name === 'cx_fg')!.handle;
  const live = await h.api('GET', `/api/v1/jobs/${encodeURIComponent(handle)}`);
  assert.equal(live.body.job.background, false);
  assert.equal(live.body.job.state, 'queued');
  const c = await h.api('POST', `/api/v1/jobs/${encodeURIComponent(handle)}/cancel`);
  assert.equal(c.status, 200);
  const answer = await fg;
  assert.equal(answer.status, 500);
  assert.equal(answer.body.error.code, 'GT_JOB_FAILED');
});

test('GET /queues and GET /workers show functions, priorities, running jobs and workers', async (t) => {
  const h = await startHttp(t);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await h.worker({ qw_slow: () => gate.then(() => 'ok') }, { clientId: 'slow-worker' });
  for (const priority of ['high', 'normal', 'normal', 'low']) await h.api('POST', '/api/v1/jobs', { function: 'qw_slow', priority });
  await until('one qw_slow job running', () => h.server.registry.functions.get('qw_slow')!.running === 1);
  const q = (await h.api('GET', '/api/v1/queues')).body.queues.find((x: { function: string }) => x.function === 'qw_slow');
  // The high job runs; normal, normal, low wait.
  assert.deepEqual(q, {
    function: 'qw_slow',
    queued: { high: 0, normal: 2, low: 1, total: 3 },
    scheduled: 0,
    running: 1,
    workers: 1,
    completed: 0,
    failed: 0,
    retried: 0,
    dead: 0,
  });
  const w = (await h.api('GET', '/api/v1/workers')).body.workers;
  assert.equal(w.length, 1);
  assert.equal(w[0].clientId, 'slow-worker');
  assert.deepEqual(w[0].functions, ['qw_slow']);
  assert.equal(w[0].running.length, 1);
  assert.equal(w[0].running[0].function, 'qw_slow');
  assert.equal(w[0].host, '127.0.0.1');
  const extra = await h.api('GET', '/api/v1/queues?x=1');
  assert.equal(extra.status, 400);
  release();
  await until('no qw_slow job left', () => h.server.registry.functions.get('qw_slow')!.total === 0);
  const after = (await h.api('GET', '/api/v1/queues')).body.queues.find((x: { function: string }) => x.function === 'qw_slow');
  assert.equal(after.completed, 4);
});

test('GET /workers?all=1 lists every connection, as the workers admin command does', async (t) => {
  const h = await startHttp(t);
  await h.worker({ all_fn: () => 'x' });
  const net = await import('node:net');
  const sock = net.connect(Number(h.gearman.split(':')[1]), '127.0.0.1');
  h.defer(() => sock.destroy());
  await new Promise((r) => sock.once('connect', r));
  await until('two workers listed', async () => (await h.api('GET', '/api/v1/workers?all=1')).body.workers.length === 2);
  assert.equal((await h.api('GET', '/api/v1/workers')).body.workers.length, 1);
});

test('GET /server says what this server is and which providers it has', async (t) => {
  const h = await startHttp(t);
  const r = await h.api('GET', '/api/v1/server');
  assert.equal(r.status, 200);
  assert.equal(r.body.gearman, h.gearman);
  assert.equal(r.body.store, 'memory');
  assert.equal(r.body.accepting, true);
  assert.deepEqual(r.body.features, { runs: false, supervisor: false, reload: false });
  assert.equal(r.headers.get('cache-control'), 'no-store');
});

test('GET /events streams snapshots (server-sent events)', async (t) => {
  const h = await startHttp(t, { http: { port: 0, eventsIntervalMs: 100 } });
  await h.api('POST', '/api/v1/jobs', { function: 'ev_fn', priority: 'high' });
  const ac = new AbortController();
  const res = await fetch(`${h.base}/api/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  // biome-ignore lint/suspicious/noExplicitAny: the event stream's JSON snapshots; the assertions below check their fields
  const snapshots: any[] = [];
  while (snapshots.length < 3) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = /^data: (.*)$/m.exec(block);
      if (/^event: snapshot$/m.test(block) && data) snapshots.push(JSON.parse(data[1]!));
    }
  }
  ac.abort();
  assert.equal(snapshots.length, 3);
  const q = snapshots[2].queues.find((x: { function: string }) => x.function === 'ev_fn');
  assert.equal(q.queued.high, 1);
  assert.deepEqual(Object.keys(snapshots[2].totals), ['completed', 'failed', 'retried', 'dead']);
  assert.ok(snapshots[2].time > snapshots[0].time);
  // The first snapshot carries the throughput history (samples of the totals, oldest first); later ones do not.
  assert.ok(Array.isArray(snapshots[0].history) && snapshots[0].history.length >= 1);
  assert.deepEqual(Object.keys(snapshots[0].history[0]), ['t', 'completed', 'failed']);
  assert.equal(snapshots[1].history, undefined);
  const noToken = await h.api('GET', '/api/v1/events', undefined, { token: null });
  assert.equal(noToken.status, 401);
});

test('runs, processes and scale answer 501 with a stable code without a provider', async (t) => {
  const h = await startHttp(t);
  for (const [method, path, body] of [
    ['GET', '/api/v1/runs'],
    ['GET', '/api/v1/runs/abc'],
    ['GET', '/api/v1/processes'],
    ['POST', '/api/v1/processes', { action: 'reload' }],
    ['POST', '/api/v1/scale', { counts: { thumbnail: 2 } }],
  ] as const) {
    const r = await h.api(method, path, body);
    assert.equal(r.status, 501, path);
    assert.equal(r.body.error.code, 'GT_HTTP_NOT_AVAILABLE', path);
    // The answer says what to configure, never where the code lives.
    assert.doesNotMatch(r.body.error.message, /src\/|\.ts\b/, path);
  }
  const runs = await h.api('GET', '/api/v1/runs');
  assert.equal(
    runs.body.error.message,
    'No pipeline runs here: give the server the output folders the runs write to (pipeline server --runs DIR, or server.http.runs in the pipeline up config)',
  );
});

test('runs: a RunsProvider plugged in is listed with per-step progress', async (t) => {
  const h = await startHttp(t);
  const run: RunView = {
    id: 'run-1',
    pipeline: 'thumbnails',
    status: 'running',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:01.000Z',
    steps: {
      thumbs: { status: 'running', total: 3, items: { a: { status: 'done' }, b: { status: 'failed', error: 'GT_MEDIA_INVALID: b.jpg is not a valid image' } } },
      notify: { status: 'pending', total: 0 },
    },
  };
  const asked: number[] = [];
  h.server.setRunsProvider({
    list: async (limit) => {
      asked.push(limit);
      return [run];
    },
    get: async (id) => (id === 'run-1' ? run : undefined),
  });
  const list = await h.api('GET', '/api/v1/runs?limit=5');
  assert.equal(list.status, 200);
  assert.deepEqual(asked, [5]);
  assert.deepEqual(list.body.runs, [
    {
      id: 'run-1',
      pipeline: 'thumbnails',
      status: 'running',
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:01.000Z',
      steps: [
        { id: 'thumbs', status: 'running', total: 3, done: 1, failed: 1, reused: 0, reason: null },
        { id: 'notify', status: 'pending', total: 0, done: 0, failed: 0, reused: 0, reason: null },
      ],
    },
  ]);
  const one = await h.api('GET', '/api/v1/runs/run-1');
  assert.deepEqual(one.body.run.steps[0].failures, [{ key: 'b', error: 'GT_MEDIA_INVALID: b.jpg is not a valid image' }]);
  assert.deepEqual(one.body.record, run);
  const missing = await h.api('GET', '/api/v1/runs/run-2');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body.error, { code: 'GT_HTTP_NOT_FOUND', message: 'No pipeline run run-2' });
  assert.deepEqual((await h.api('GET', '/api/v1/server')).body.features, { runs: true, supervisor: false, reload: false });
});

/** A stand-in supervisor that records what it is asked (a real one plugs in the same way). */
function recordingSupervisor(): SupervisorProvider & { scaled: Record<string, number>[]; reloads: number } {
  const counts: Record<string, number> = { thumbnail: 2, email: 1 };
  const sup = {
    scaled: [] as Record<string, number>[],
    reloads: 0,
    async ps(): Promise<ProcessesView> {
      const types = Object.entries(counts).map(([type, n]) => ({ type, processes: n, running: n, state: 'ok' }));
      const processes = types.flatMap((tp) =>
        Array.from({ length: tp.processes }, (_, i) => ({
          type: tp.type,
          name: `worker:${tp.type}#${i + 1}`,
          pid: 1000 + i,
          state: 'running',
          uptimeMs: 5000,
          restarts: 0,
        })),
      );
      return { types, processes };
    },
    async scale(c: Record<string, number>) {
      sup.scaled.push(c);
      Object.assign(counts, c);
      return { scaled: Object.keys(c) };
    },
    async reload() {
      sup.reloads++;
      return { replaced: [] };
    },
  };
  return sup;
}

test('processes and scale: a SupervisorProvider plugged in is called with the counts', async (t) => {
  const sup = recordingSupervisor();
  const h = await startHttp(t, { supervisor: sup });
  const ps = await h.api('GET', '/api/v1/processes');
  assert.equal(ps.status, 200);
  assert.equal(ps.body.types.length, 2);
  assert.equal(ps.body.processes.length, 3);
  const s = await h.api('POST', '/api/v1/scale', { counts: { thumbnail: 4 } });
  assert.equal(s.status, 200);
  assert.deepEqual(s.body, { result: { scaled: ['thumbnail'] } });
  assert.deepEqual(sup.scaled, [{ thumbnail: 4 }]);
  const r = await h.api('POST', '/api/v1/processes', { action: 'reload' });
  assert.equal(r.status, 200);
  assert.equal(sup.reloads, 1);
  for (const [body, message] of [
    [{ counts: { thumbnail: -1 } }, 'Expected integer between 0 and 1024 for counts.thumbnail but received -1 of type number'],
    [{ counts: { thumbnail: 1.5 } }, 'Expected integer between 0 and 1024 for counts.thumbnail but received 1.5 of type number'],
    [{ counts: { thumbnail: '2' } }, 'Expected integer between 0 and 1024 for counts.thumbnail but received 2 of type string'],
    [{ counts: {} }, 'Expected an object of worker type → process count, e.g. {"thumbnail": 3} for counts but received {} of type object'],
    [
      { counts: { ['t'.repeat(101)]: 1 } },
      `Expected a worker type name of 1 to 100 characters for counts.${'t'.repeat(101)} but received ${'t'.repeat(37)}... of type string`,
    ],
    [{ thumbnail: 3 }, 'Expected an object of worker type → process count, e.g. {"thumbnail": 3} for counts but received undefined'],
    [{ counts: { thumbnail: 3 }, wait: true }, 'Expected one of the fields counts for wait but received true of type boolean'],
  ] as const) {
    const bad = await h.api('POST', '/api/v1/scale', body);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.message, message);
  }
  const badAction = await h.api('POST', '/api/v1/processes', { action: 'restart' });
  assert.equal(badAction.body.error.message, 'Expected one of reload for action but received restart of type string');
  assert.equal(sup.scaled.length, 1, 'invalid requests never reached the provider');
  // A provider's own refusal (a GeartrainError) keeps its code and status.
  h.server.setSupervisorProvider({
    ps: sup.ps,
    scale: async () => {
      throw new GeartrainError('GT_INVALID_ARGUMENT', 'Unknown worker type nope');
    },
  });
  const refused = await h.api('POST', '/api/v1/scale', { counts: { nope: 1 } });
  assert.equal(refused.status, 400);
  assert.deepEqual(refused.body.error, { code: 'GT_INVALID_ARGUMENT', message: 'Unknown worker type nope' });
  const noReload = await h.api('POST', '/api/v1/processes', { action: 'reload' });
  assert.equal(noReload.status, 501);
  // Anything else a provider throws is a logged 500, not a crash.
  h.server.setSupervisorProvider({ ps: () => Promise.reject(new Error('socket gone')), scale: sup.scale });
  const broken = await h.api('GET', '/api/v1/processes');
  assert.equal(broken.status, 500);
  assert.deepEqual(broken.body.error, { code: 'GT_INTERNAL', message: 'Internal error: socket gone' });
});

test('a dashboard file missing from the installation is a 404 that names no path on the server', async (t) => {
  const { default: Fastify } = await import('fastify');
  const { registerDashboard } = await import('../../src/server/http/dashboard.js');
  const { errorHandler } = await import('../../src/server/http/errors.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { pathToFileURL } = await import('node:url');
  const os = await import('node:os');
  const empty = mkdtempSync(`${os.tmpdir()}/gt-no-dashboard-`);
  const app = Fastify();
  t.after(async () => {
    await app.close();
    rmSync(empty, { recursive: true, force: true });
  });
  app.setErrorHandler(errorHandler(pino({ level: 'silent' }), 1024 * 1024));
  registerDashboard(app, pathToFileURL(`${empty}/`));
  const r = await app.inject({ method: 'GET', url: '/' });
  assert.equal(r.statusCode, 404);
  assert.deepEqual(r.json().error, {
    code: 'GT_HTTP_NOT_FOUND',
    message: 'Dashboard file index.html is missing from this installation of geartrain: reinstall it, or run npm run build in a clone',
  });
});

test('unknown routes are JSON 404s with a code', async (t) => {
  const h = await startHttp(t);
  const r = await h.api('GET', '/api/v1/nothing?x=1');
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { error: { code: 'GT_HTTP_NOT_FOUND', message: 'No route GET /api/v1/nothing' } });
  assert.equal((await h.api('DELETE', '/api/v1/jobs')).status, 404);
});

// biome-ignore lint/suspicious/noExplicitAny: the HTTP API's JSON answers, of many shapes; each test asserts the fields it reads
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('without a token: only loopback Host names, and no cross-origin writes (DNS rebinding, CSRF)', async (t) => {
  const h = await startHttp(t, { token: null });
  const port = Number(new URL(h.base).port);
  const ok = await h.api('GET', '/api/v1/queues', undefined, { token: null });
  assert.equal(ok.status, 200);
  for (const host of [`localhost:${port}`, `[::1]:${port}`, `127.0.0.1:${port}`]) {
    assert.equal((await rawRequest(port, 'GET', '/api/v1/queues', { host })).status, 200, host);
  }
  const rebound = await rawRequest(port, 'GET', '/api/v1/queues', { host: `evil.example:${port}` });
  assert.equal(rebound.status, 403);
  assert.equal(rebound.body.error.code, 'GT_HTTP_FORBIDDEN');
  assert.match(rebound.body.error.message, /^Host evil\.example:\d+ refused/);
  const csrf = await rawRequest(
    port,
    'POST',
    '/api/v1/jobs',
    { host: `127.0.0.1:${port}`, origin: 'http://evil.example', 'content-type': 'application/json' },
    JSON.stringify({ function: 'csrf_fn' }),
  );
  assert.equal(csrf.status, 403);
  assert.deepEqual(csrf.body.error, { code: 'GT_HTTP_FORBIDDEN', message: 'Cross-origin POST from http://evil.example refused' });
  assert.equal(h.server.registry.functions.has('csrf_fn'), false);
  const sameOrigin = await rawRequest(
    port,
    'POST',
    '/api/v1/jobs',
    { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json' },
    JSON.stringify({ function: 'csrf_fn' }),
  );
  assert.equal(sameOrigin.status, 202);
});

test('a non-loopback HTTP host without a token is refused before anything listens', async () => {
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
    assert.throws(
      () => new GearmanServer({ port: 0, http: { port: 0, host } }),
      (err: GeartrainError) => {
        assert.equal(err.code, 'GT_INVALID_ARGUMENT');
        assert.equal(
          err.message,
          `Refusing to serve the HTTP API on ${host} without a token: anyone who can reach it could submit, cancel and retry jobs. Set http.token ` +
            `(--http-token or GEARTRAIN_HTTP_TOKEN), or listen on a loopback address such as 127.0.0.1`,
        );
        return true;
      },
    );
  }
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) assert.doesNotThrow(() => new GearmanServer({ port: 0, http: { port: 0, host } }), host);
  assert.throws(
    () => new GearmanServer({ port: 0, http: { port: 0, token: 'has space' } }),
    /Expected a non-empty token of printable characters without spaces for http\.token/,
  );
  assert.throws(
    () => new GearmanServer({ port: 0, http: { port: 70000 } }),
    /Expected integer port between 0 and 65535 for http\.port but received 70000 of type number/,
  );
  assert.throws(() => new GearmanServer({ port: 0, http: { port: 0, bodyLimit: 10 } }), /for http\.bodyLimit/);
});

test('a non-loopback HTTP host with a token listens', async (t) => {
  const h = await startHttp(t, { http: { port: 0, host: '0.0.0.0' } });
  assert.equal(h.server.httpAddress()!.host, '0.0.0.0');
  assert.equal((await h.api('GET', '/api/v1/queues')).status, 200);
  assert.equal((await h.api('GET', '/api/v1/queues', undefined, { token: null })).status, 401);
});

test('pipeline server --http-host 0.0.0.0 without a token exits 2 with the reason', {
  skip: existsSync(CLI) ? false : 'needs the build (npm run build)',
}, () => {
  const env = { ...process.env, GEARTRAIN_HTTP_TOKEN: '' };
  const r = spawnSync(process.execPath, [CLI, 'server', '--port', '0', '--store', 'memory:', '--http-port', '0', '--http-host', '0.0.0.0'], {
    encoding: 'utf8',
    env,
    timeout: 10_000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Refusing to serve the HTTP API on 0\.0\.0\.0 without a token.*\(GT_INVALID_ARGUMENT\)/);
  const lone = spawnSync(process.execPath, [CLI, 'server', '--port', '0', '--store', 'memory:', '--http-token', 'abc'], {
    encoding: 'utf8',
    env,
    timeout: 10_000,
  });
  assert.equal(lone.status, 2);
  assert.match(lone.stderr, /--http-token needs --http-port/);
});

test('pipeline server --http-port serves the API with the token from GEARTRAIN_HTTP_TOKEN', {
  skip: existsSync(CLI) ? false : 'needs the build (npm run build)',
}, async (t) => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [CLI, '--log-level', 'info', 'server', '--port', '0', '--store', 'memory:', '--http-port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GEARTRAIN_HTTP_TOKEN: 'env-token' },
  });
  t.after(() => {
    child.kill('SIGTERM');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no listening line: ${buf}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /^.*"msg":"listening".*$/m.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
  });
  const http = /"http":"([^"]+)"/.exec(line)![1]!;
  const res = await fetch(`http://${http}/api/v1/queues`, { headers: { authorization: 'Bearer env-token' } });
  assert.equal(res.status, 200);
  const no = await fetch(`http://${http}/api/v1/queues`);
  assert.equal(no.status, 401);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
});

test('close(): a waiting foreground call is answered GT_SHUTTING_DOWN, and close is idempotent', async (t) => {
  const h = await startHttp(t, { shutdownGraceMs: 100 });
  const pending = h.api('POST', '/api/v1/jobs', { function: 'sd_fn', background: false });
  await until('one sd_fn job queued', () => h.server.registry.functions.get('sd_fn')?.queued === 1);
  const closing = h.server.close({ graceful: true });
  const r = await pending;
  assert.equal(r.status, 503);
  assert.equal(r.body.error.code, 'GT_SHUTTING_DOWN');
  await closing;
  await h.server.close();
  await assert.rejects(fetch(`${h.base}/api/v1/queues`));
});

test('two servers in one process each serve their own metrics', async (t) => {
  const a = await startHttp(t);
  const b = await startHttp(t);
  await a.api('POST', '/api/v1/jobs', { function: 'only_on_a' });
  const ma = await a.api('GET', '/metrics');
  const mb = await b.api('GET', '/metrics');
  assert.match(ma.body, /geartrain_jobs_queued\{function="only_on_a",priority="normal"\} 1/);
  assert.doesNotMatch(mb.body, /only_on_a/);
});
