// cache-warm through a real job server against a local HTTP origin that counts requests: GET and
// HEAD, bodies read to the end, retries on 5xx and network errors but not 4xx, timeouts, bounded
// concurrency, progress, redirects checked like URLs, and refused URLs that are never requested.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import pino from 'pino';
import type { UrlResult } from '../../src/schema/payloads/cache-warm.js';
import { cacheWarmWorker } from '../../src/workers/cache-warm.js';
import { freePort } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

/** More than loopback socket buffers hold, so the origin finishes sending only if the worker reads it all. */
const BIG_CHUNKS = 512;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** The origin: request counts per path and method, the most requests in flight at once, bodies sent in full. */
async function origin(t: TestContext) {
  const hits = new Map<string, { GET: number; HEAD: number }>();
  const tries = new Map<string, number>();
  let inFlight = 0;
  let most = 0;
  let bodiesSent = 0;
  const server = http.createServer((req, res) => {
    const url = req.url!;
    const h = hits.get(url) ?? { GET: 0, HEAD: 0 };
    h[req.method as 'GET' | 'HEAD']++;
    hits.set(url, h);
    most = Math.max(most, ++inFlight);
    res.on('close', () => {
      inFlight--;
      if (url === '/big' && res.writableFinished) bodiesSent++;
    });
    const n = (tries.get(url) ?? 0) + 1;
    tries.set(url, n);
    if (url.startsWith('/missing')) return res.writeHead(404).end('no');
    if (url === '/broken') return res.writeHead(503).end('down');
    if (url.startsWith('/flaky')) return n === 1 ? res.writeHead(500).end('oops') : res.writeHead(200).end('ok');
    if (url === '/hang') return; // never answers
    if (url === '/big') {
      res.writeHead(200, { 'content-length': BIG_CHUNKS * CHUNK.length });
      return void Readable.from(
        (function* () {
          for (let i = 0; i < BIG_CHUNKS; i++) yield CHUNK;
        })(),
      ).pipe(res);
    }
    if (url === '/redirect-in') return res.writeHead(302, { location: '/page/target' }).end();
    if (url === '/redirect-out') return res.writeHead(301, { location: `http://localhost:${port}/secret` }).end();
    if (url === '/redirect-loop') return res.writeHead(302, { location: '/redirect-loop' }).end();
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(10_000)), 50);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { base: `http://127.0.0.1:${port}`, port, hits, most: () => most, bodiesSent: () => bodiesSent };
}

const pick = (results: UrlResult[], suffix: string) => {
  const r = results.find((x) => x.url.endsWith(suffix))!;
  return { status: r.status, attempts: r.attempts, error: r.error };
};

test('GETs every URL a few at a time, bodies read to the end; status, time and attempts per URL; progress', async (t) => {
  const o = await origin(t);
  const { call } = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  const urls = [...Array.from({ length: 10 }, (_, i) => `${o.base}/page/${i}`), `${o.base}/big`];
  const statuses: [number, number][] = [];
  const { results, ok, failed } = conforms(
    'cache-warm',
    await call<{ results: UrlResult[]; ok: number; failed: number }>('cache-warm', { urls, concurrency: 3 }, (n, d) => statuses.push([n, d])),
  );
  assert.deepEqual([ok, failed], [11, 0]);
  assert.deepEqual(
    results.map((r) => r.url),
    urls,
    'results in the order of the URLs',
  );
  for (const r of results) {
    assert.deepEqual([r.status, r.attempts, r.error], [200, 1, undefined]);
    assert.ok(Number.isInteger(r.ms) && r.ms >= 0);
  }
  for (let i = 0; i < 10; i++) assert.deepEqual(o.hits.get(`/page/${i}`), { GET: 1, HEAD: 0 });
  assert.equal(o.bodiesSent(), 1, 'the 32 MiB body was read to its end');
  assert.ok(o.most() <= 3, `at most three requests in flight (saw ${o.most()})`);
  assert.ok(o.most() >= 2, 'requests ran side by side');
  assert.deepEqual(statuses.at(-1), [11, 11]);
  assert.ok(
    statuses.some(([n]) => n > 0 && n < 11),
    'progress was sent before the end',
  );
  assert.ok(statuses.every(([, d]) => d === 11));
});

test('HEAD; retries on 5xx and network errors, not on 4xx; timeouts; the job completes with the failures listed', async (t) => {
  const o = await origin(t);
  const closed = `http://127.0.0.1:${await freePort()}/nothing-listens`;
  const { call } = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  const { results, ok, failed } = await call<{ results: UrlResult[]; ok: number; failed: number }>('cache-warm', {
    urls: [`${o.base}/flaky/1`, `${o.base}/missing`, `${o.base}/broken`, `${o.base}/hang`, `${o.base}/head`, closed],
    method: 'HEAD',
    retries: 2,
    timeoutMs: 300,
  });
  assert.deepEqual(pick(results, '/flaky/1'), { status: 200, attempts: 2, error: undefined });
  assert.deepEqual(pick(results, '/missing'), { status: 404, attempts: 1, error: 'HTTP 404' });
  assert.deepEqual(pick(results, '/broken'), { status: 503, attempts: 3, error: 'HTTP 503' });
  assert.deepEqual(pick(results, '/hang'), { status: 0, attempts: 3, error: 'timed out after 300 ms' });
  assert.deepEqual(pick(results, '/head'), { status: 200, attempts: 1, error: undefined });
  assert.deepEqual(pick(results, '/nothing-listens'), { status: 0, attempts: 3, error: 'ECONNREFUSED' });
  assert.deepEqual([ok, failed], [2, 4]);
  assert.deepEqual(o.hits.get('/flaky/1'), { GET: 0, HEAD: 2 });
  assert.deepEqual(o.hits.get('/missing'), { GET: 0, HEAD: 1 });
  assert.deepEqual(o.hits.get('/broken'), { GET: 0, HEAD: 3 });
  assert.deepEqual(o.hits.get('/hang'), { GET: 0, HEAD: 3 });
  assert.deepEqual(o.hits.get('/head'), { GET: 0, HEAD: 1 });
});

test('allowed hosts: a refused URL fails the job before any request; redirects are checked too; the worker goes on', async (t) => {
  const o = await origin(t);
  const { call, failure } = await withWorkers(t, [{ factory: cacheWarmWorker }], { cacheWarm: { allowedHosts: ['cdn.example.com', `127.0.0.1:${o.port}`] } });
  // localhost is the same origin under another name: zero hits proves nothing was fetched.
  assert.equal(
    await failure('cache-warm', { urls: [`${o.base}/page/1`, `http://localhost:${o.port}/secret`] }),
    `GT_URL_NOT_ALLOWED: URL http://localhost:${o.port}/secret is not allowed: host localhost:${o.port} is not in the allowed hosts (cdn.example.com, ` +
      `127.0.0.1:${o.port}) (cache-warm.urls[1])`,
  );
  assert.equal(o.hits.size, 0, 'nothing was requested');

  const { results, ok, failed } = await call<{ results: UrlResult[]; ok: number; failed: number }>('cache-warm', {
    urls: [`${o.base}/redirect-in`, `${o.base}/redirect-out`, `${o.base}/redirect-loop`],
  });
  assert.deepEqual(pick(results, '/redirect-in'), { status: 200, attempts: 1, error: undefined });
  assert.deepEqual(pick(results, '/redirect-out'), {
    status: 0,
    attempts: 1,
    error:
      `redirected to http://localhost:${o.port}/secret, which is not allowed: host localhost:${o.port} is not in the allowed hosts (cdn.example.com, ` +
      `127.0.0.1:${o.port})`,
  });
  assert.deepEqual(pick(results, '/redirect-loop'), { status: 0, attempts: 1, error: 'more than 5 redirects' });
  assert.deepEqual([ok, failed], [1, 2]);
  assert.deepEqual(o.hits.get('/page/target'), { GET: 1, HEAD: 0 });
  assert.deepEqual(o.hits.get('/redirect-loop'), { GET: 6, HEAD: 0 });
  assert.equal(o.hits.get('/secret'), undefined, 'the refused redirect target was never requested');
});

test('bad payloads are refused naming the field; the worker goes on', async (t) => {
  const o = await origin(t);
  const { call, failure } = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  const cases: [unknown, string][] = [
    [{ urls: ['file:///etc/passwd'] }, 'GT_URL_NOT_ALLOWED: URL file:///etc/passwd is not allowed: only http and https are warmed (cache-warm.urls[0])'],
    [
      { urls: [`${o.base}/a`, 'ftp://example.com/x'] },
      'GT_URL_NOT_ALLOWED: URL ftp://example.com/x is not allowed: only http and https are warmed (cache-warm.urls[1])',
    ],
    [{ urls: ['not a url'] }, 'GT_PAYLOAD_INVALID: Expected an absolute http(s) URL for cache-warm.urls[0] but received not a url of type string'],
    [{ urls: [42] }, 'GT_PAYLOAD_INVALID: Expected non-empty string of at most 4096 characters for cache-warm.urls[0] but received 42 of type number'],
    [{ urls: [] }, 'GT_PAYLOAD_INVALID: Expected array of 1 to 10000 items for cache-warm.urls but received [] of type array'],
    [
      { urls: 'http://example.com/' },
      'GT_PAYLOAD_INVALID: Expected array of 1 to 10000 items for cache-warm.urls but received http://example.com/ of type string',
    ],
    [{ urls: [`${o.base}/a`], method: 'POST' }, 'GT_PAYLOAD_INVALID: Expected one of GET, HEAD for cache-warm.method but received POST of type string'],
    [
      { urls: [`${o.base}/a`], concurrency: 0 },
      'GT_PAYLOAD_INVALID: Expected integer between 1 and 64 for cache-warm.concurrency but received 0 of type number',
    ],
    [
      { urls: [`${o.base}/a`], concurrency: 65 },
      'GT_PAYLOAD_INVALID: Expected integer between 1 and 64 for cache-warm.concurrency but received 65 of type number',
    ],
    [
      { urls: [`${o.base}/a`], timeoutMs: 1.5 },
      'GT_PAYLOAD_INVALID: Expected integer between 1 and 600000 for cache-warm.timeoutMs but received 1.5 of type number',
    ],
    [{ urls: [`${o.base}/a`], retries: -1 }, 'GT_PAYLOAD_INVALID: Expected integer between 0 and 10 for cache-warm.retries but received -1 of type number'],
    [
      { urls: [`${o.base}/a`], url: 'typo' },
      'GT_PAYLOAD_INVALID: Expected one of the fields urls, method, concurrency, timeoutMs, retries for cache-warm.url but received typo of type string',
    ],
    ['not json', 'GT_PAYLOAD_INVALID: Expected a JSON object for cache-warm payload but received not json of type string'],
  ];
  for (const [payload, expected] of cases) assert.equal(await failure('cache-warm', payload), expected, JSON.stringify(payload));
  assert.equal(o.hits.size, 0, 'no bad payload requested anything');
  const r = await call('cache-warm', { urls: [`${o.base}/after`] });
  assert.equal(r.ok, 1, 'the worker goes on serving');
});

test('a job whose every URL fails is an error (a background job is retried later), not a result', async (t) => {
  const o = await origin(t);
  const { failure } = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  assert.equal(await failure('cache-warm', { urls: [`${o.base}/broken`], retries: 0 }), `cache-warm: all 1 URLs failed (${o.base}/broken: HTTP 503)`);
  assert.equal(
    await failure('cache-warm', { urls: [1, 2, 3, 4].map((i) => `${o.base}/missing/${i}`), retries: 0 }),
    `cache-warm: all 4 URLs failed (${o.base}/missing/1: HTTP 404; ${o.base}/missing/2: HTTP 404; ${o.base}/missing/3: HTTP 404; …)`,
  );
});

test('credentials in a URL are sent as Basic auth, never shown: results, errors and log lines carry ***@', async (t) => {
  const auths: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    auths.push(req.headers.authorization);
    if (req.url === '/elsewhere') return res.writeHead(302, { location: `http://other:pw2@localhost:${port}/missing` }).end();
    if (req.url === '/missing') return res.writeHead(404).end();
    res.writeHead(req.headers.authorization === `Basic ${Buffer.from('warmer:s3cret').toString('base64')}` ? 200 : 401).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const { call, failure } = await withWorkers(t, [{ factory: cacheWarmWorker }], { cacheWarm: { allowedHosts: [`127.0.0.1:${port}`] } }, logger);
  const base = `http://warmer:s3cret@127.0.0.1:${port}`;

  const r = await call('cache-warm', { urls: [`${base}/page`, `${base}/elsewhere`], retries: 0 });
  assert.deepEqual(
    r.results.map((x: { url: string; status: number }) => [x.url, x.status]),
    [
      [`http://***@127.0.0.1:${port}/page`, 200],
      [`http://***@127.0.0.1:${port}/elsewhere`, 0],
    ],
  );
  assert.equal(
    r.results[1].error,
    `redirected to http://***@localhost:${port}/missing, which is not allowed: host localhost:${port} is not in the allowed hosts (127.0.0.1:${port})`,
  );
  assert.equal(auths[0], `Basic ${Buffer.from('warmer:s3cret').toString('base64')}`, 'the credentials were sent');

  const allFailed = await failure('cache-warm', { urls: [`${base}/missing`], retries: 0 });
  assert.equal(allFailed, `cache-warm: all 1 URLs failed (http://***@127.0.0.1:${port}/missing: HTTP 404)`);
  const refused = await failure('cache-warm', { urls: [`http://warmer:s3cret@evil.example/`] });
  assert.equal(
    refused,
    `GT_URL_NOT_ALLOWED: URL http://***@evil.example/ is not allowed: host evil.example is not in the allowed hosts (127.0.0.1:${port}) (cache-warm.urls[0])`,
  );
  for (const text of [JSON.stringify(r), allFailed, refused, ...lines]) {
    assert.ok(!text.includes('s3cret') && !text.includes('warmer') && !text.includes('pw2'), text);
  }
  assert.ok(
    lines.some((l) => l.includes('all 1 URLs failed')),
    'the failure was logged',
  );
});
