// cache-warm against a local HTTP server that counts requests: GET and HEAD, retries on 5xx but
// not 4xx, timeouts, bounded concurrency, progress, and refused URLs that are never requested.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cacheWarmWorker } from '../../src/workers/cache-warm.js';
import { withWorkers } from '../helpers/workers.js';

async function origin(t: import('node:test').TestContext) {
  const hits = new Map<string, { GET: number; HEAD: number }>();
  let inFlight = 0;
  let most = 0;
  const flaky = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = req.url!;
    const h = hits.get(url) ?? { GET: 0, HEAD: 0 };
    h[req.method as 'GET' | 'HEAD']++;
    hits.set(url, h);
    most = Math.max(most, ++inFlight);
    res.on('close', () => inFlight--);
    if (url === '/missing') return res.writeHead(404).end('no');
    if (url === '/broken') return res.writeHead(503).end('down');
    if (url.startsWith('/flaky')) {
      const n = (flaky.get(url) ?? 0) + 1;
      flaky.set(url, n);
      return n === 1 ? res.writeHead(500).end('oops') : res.writeHead(200).end('ok');
    }
    if (url === '/hang') return; // never answers
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(100_000)), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, hits, most: () => most };
}

test('GETs every URL a few at a time and reports status, time and attempts per URL', async (t) => {
  const o = await origin(t);
  const { call } = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  const urls = Array.from({ length: 10 }, (_, i) => `${o.base}/page/${i}`);
  const statuses: [number, number][] = [];
  const { results, ok, failed } = await call('cache-warm', { urls, concurrency: 3 }, (n, d) => statuses.push([n, d]));
  assert.equal(ok, 10);
  assert.equal(failed, 0);
  assert.deepEqual(results.map((r: { url: string }) => r.url), urls, 'results in the order of the URLs');
  for (const r of results) {
    assert.equal(r.status, 200);
    assert.equal(r.attempts, 1);
    assert.ok(r.ms >= 0);
  }
  for (let i = 0; i < 10; i++) assert.deepEqual(o.hits.get(`/page/${i}`), { GET: 1, HEAD: 0 });
  assert.equal(o.most(), 3, 'three requests in flight at most');
  assert.deepEqual(statuses.at(-1), [10, 10]);
  assert.ok(statuses.some(([n]) => n > 0 && n < 10), 'intermediate progress was sent');
});

test('HEAD, retries on 5xx (not on 404), timeouts; the job completes with the failures listed', async (t) => {
  const o = await origin(t);
  const { call } = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  const { results, failed } = await call('cache-warm', {
    urls: [`${o.base}/flaky/1`, `${o.base}/missing`, `${o.base}/broken`, `${o.base}/hang`, `${o.base}/head`],
    method: 'HEAD',
    retries: 2,
    timeoutMs: 300,
  });
  const by = (p: string) => results.find((r: { url: string }) => r.url.endsWith(p));
  assert.deepEqual([by('/flaky/1').status, by('/flaky/1').attempts, by('/flaky/1').error], [200, 2, undefined]);
  assert.deepEqual([by('/missing').status, by('/missing').attempts, by('/missing').error], [404, 1, 'HTTP 404']);
  assert.deepEqual([by('/broken').status, by('/broken').attempts, by('/broken').error], [503, 3, 'HTTP 503']);
  assert.deepEqual([by('/hang').status, by('/hang').attempts, by('/hang').error], [0, 3, 'timed out after 300 ms']);
  assert.equal(failed, 3);
  assert.deepEqual(o.hits.get('/head'), { GET: 0, HEAD: 1 });
  assert.deepEqual(o.hits.get('/missing'), { GET: 0, HEAD: 1 });
});

test('refused URLs fail the job before any request; bad payloads name the field', async (t) => {
  const o = await origin(t);
  const { call, failure } = await withWorkers(t, [{ factory: cacheWarmWorker }], { cacheWarm: { allowedHosts: ['cdn.example.com'] } });
  assert.equal(
    await failure('cache-warm', { urls: [`http://cdn.example.com/a`, `${o.base}/secret`] }),
    `GT_URL_NOT_ALLOWED: URL ${o.base}/secret is not allowed: host ${o.base.slice(7)} is not in the allowed hosts (cdn.example.com)`,
  );
  assert.equal(o.hits.size, 0, 'nothing was requested');
  assert.equal(await failure('cache-warm', { urls: ['file:///etc/passwd'] }), 'GT_URL_NOT_ALLOWED: URL file:///etc/passwd is not allowed: only http and https are warmed (cache-warm.urls[0])');
  assert.equal(await failure('cache-warm', { urls: ['not a url'] }), 'GT_PAYLOAD_INVALID: Expected an absolute http(s) URL for cache-warm.urls[0] but received not a url of type string');
  assert.equal(await failure('cache-warm', { urls: [] }), 'GT_PAYLOAD_INVALID: Expected array of 1 to 10000 items for cache-warm.urls but received [] of type array');
  assert.equal(await failure('cache-warm', { urls: ['http://cdn.example.com/'], concurrency: 0 }), 'GT_PAYLOAD_INVALID: Expected integer between 1 and 64 for cache-warm.concurrency but received 0 of type number');
  assert.equal(await failure('cache-warm', 'not json'), 'GT_PAYLOAD_INVALID: Expected a JSON object for cache-warm payload but received not json of type string');

  const open = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  const r = await open.call('cache-warm', { urls: [`${o.base}/after`] });
  assert.equal(r.ok, 1, 'the worker goes on serving');
});

test('a job whose every URL fails is an error (retried later), not a result', async (t) => {
  const o = await origin(t);
  const { failure } = await withWorkers(t, [{ factory: cacheWarmWorker }]);
  assert.equal(await failure('cache-warm', { urls: [`${o.base}/broken`], retries: 0 }), `cache-warm: all 1 URLs failed (first: ${o.base}/broken: HTTP 503)`);
});
