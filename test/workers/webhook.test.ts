// webhook through a real job server against a local HTTP receiver that checks each request with
// the verification code docs/workers.md gives: signed deliveries, retries on 5xx but not 4xx,
// redirects refused, hosts outside the allowed list never contacted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { webhookWorker } from '../../src/workers/webhook.js';
import { documentedVerify, webhookReceiver as receiver, SECRET } from '../helpers/webhook.js';
import { withWorkers } from '../helpers/workers.js';
import { conforms } from './result-schema.js';

test('delivers a signed JSON body that the documented code verifies; a changed body, a wrong key or an old timestamp does not', async (t) => {
  const verify = await documentedVerify();
  const r = await receiver(t, verify);
  const { call } = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET } });
  const body = { run: 'r1', outputs: ['a-320w.webp'], note: 'ünïcode ✓' };
  const res = await call<{ status: number; attempts: number; deliveryId: string }>('webhook', {
    url: `${r.base}/hook`,
    body,
    event: 'run.done',
    deliveryId: 'run-r1',
  });
  conforms('webhook', res);
  assert.deepEqual([res.status, res.attempts, res.deliveryId], [204, 1, 'run-r1']);
  assert.equal(r.received.length, 1);
  const got = r.received[0]!;
  assert.equal(got.verified, true);
  assert.deepEqual(JSON.parse(got.body), body);
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.headers['geartrain-event'], 'run.done');
  assert.equal(got.headers['geartrain-delivery'], 'run-r1');
  const header = String(got.headers['geartrain-signature']);
  assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
  assert.equal(verify(`${got.body} `, header, SECRET), false);
  assert.equal(verify(got.body, header, 'another-secret-0123456789'), false);
  const sentAt = Number(/^t=(\d+)/.exec(header)![1]);
  assert.ok(Math.abs(sentAt - Date.now() / 1000) < 60, 'the timestamp is the time of sending');
  // A replay: the same request presented past the tolerance.
  assert.equal(verify(got.body, header, SECRET, -1), false);
});

test('a 500 then a 200 gives one delivery after one retry, with the same delivery id', async (t) => {
  const r = await receiver(t, await documentedVerify());
  const { call } = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET } });
  const res = await call<{ status: number; attempts: number }>('webhook', { url: `${r.base}/flaky`, body: { n: 1 } });
  assert.deepEqual([res.status, res.attempts], [200, 2]);
  assert.equal(r.hits('/flaky'), 2);
  const [first, second] = r.received;
  assert.equal(first!.headers['geartrain-delivery'], second!.headers['geartrain-delivery']);
  assert.ok(first!.verified && second!.verified);
});

test('5xx on every attempt fails with GT_WEBHOOK_FAILED after 1 + retries attempts', async (t) => {
  const r = await receiver(t, await documentedVerify());
  const { failure } = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET } });
  const text = await failure('webhook', { url: `${r.base}/down`, body: {}, retries: 1 });
  assert.equal(text, `GT_WEBHOOK_FAILED: Webhook ${r.base}/down failed: HTTP 503 (2 attempts)`);
  assert.equal(r.hits('/down'), 2);
});

test('a receiver that does not answer times out per attempt', async (t) => {
  const r = await receiver(t, await documentedVerify());
  const { failure } = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET } });
  const text = await failure('webhook', { url: `${r.base}/hang`, body: {}, timeoutMs: 300, retries: 0 });
  assert.equal(text, `GT_WEBHOOK_FAILED: Webhook ${r.base}/hang failed: timed out after 300 ms (1 attempt)`);
});

test('a 400 is not retried', async (t) => {
  const r = await receiver(t, await documentedVerify());
  const { failure } = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET } });
  const text = await failure('webhook', { url: `${r.base}/bad`, body: {} });
  assert.equal(text, `GT_WEBHOOK_REJECTED: Webhook ${r.base}/bad was refused: HTTP 400`);
  assert.equal(r.hits('/bad'), 1);
});

test('a redirect is not followed, and one to a host not allowed says so', async (t) => {
  const r = await receiver(t, await documentedVerify());
  const { failure } = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET }, cacheWarm: { allowedHosts: [r.host] } });
  const text = await failure('webhook', { url: `${r.base}/redirect`, body: {} });
  const port = r.host.split(':')[1];
  assert.equal(
    text,
    `GT_WEBHOOK_REJECTED: Webhook ${r.base}/redirect was refused: HTTP 302 redirects to http://localhost:${port}/elsewhere, which is not followed (host ` +
      `localhost:${port} is not in the allowed hosts (${r.host}))`,
  );
  assert.deepEqual(
    r.received.map((x) => x.path),
    ['/redirect'],
  );
});

test('a host outside the allowed list is refused before anything is sent', async (t) => {
  const r = await receiver(t, await documentedVerify());
  const { failure } = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET }, cacheWarm: { allowedHosts: ['hooks.example.com'] } });
  const text = await failure('webhook', { url: `${r.base}/hook`, body: {} });
  assert.equal(text, `GT_URL_NOT_ALLOWED: URL ${r.base}/hook is not allowed: host ${r.host} is not in the allowed hosts (hooks.example.com) (webhook.url)`);
  assert.equal(
    await failure('webhook', { url: 'file:///etc/passwd', body: {} }),
    'GT_URL_NOT_ALLOWED: URL file:///etc/passwd is not allowed: only http and https are called (webhook.url)',
  );
  assert.equal(r.received.length, 0);
});

test('without a signing secret nothing is sent; bad payloads are named', async (t) => {
  const r = await receiver(t, await documentedVerify());
  const saved = process.env.GEARTRAIN_WEBHOOK_SECRET;
  delete process.env.GEARTRAIN_WEBHOOK_SECRET;
  t.after(() => {
    if (saved !== undefined) process.env.GEARTRAIN_WEBHOOK_SECRET = saved;
  });
  const none = await withWorkers(t, [{ factory: webhookWorker }]);
  assert.equal(
    await none.failure('webhook', { url: `${r.base}/hook`, body: {} }),
    'GT_WEBHOOK_NO_SECRET: The webhook worker has no signing secret of at least 16 characters: start it with --webhook-secret or GEARTRAIN_WEBHOOK_SECRET',
  );
  const short = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: 'short' } });
  assert.match(await short.failure('webhook', { url: `${r.base}/hook`, body: {} }), /^GT_WEBHOOK_NO_SECRET: /);
  assert.equal(r.received.length, 0);

  const ok = await withWorkers(t, [{ factory: webhookWorker }], { webhook: { secret: SECRET } });
  assert.equal(await ok.failure('webhook', { url: `${r.base}/hook` }), 'GT_PAYLOAD_INVALID: Expected a JSON value for webhook.body but received undefined');
  assert.equal(
    await ok.failure('webhook', { url: `${r.base}/hook`, body: {}, event: 'bad event\n' }),
    'GT_PAYLOAD_INVALID: Expected letters, digits and . _ : - (at most 100) for webhook.event but received bad event\n of type string',
  );
  assert.equal(
    await ok.failure('webhook', { url: `http://me:pw@${r.host}/hook`, body: {} }),
    `GT_PAYLOAD_INVALID: Expected a URL without user:password@ (the signature authenticates the request) for webhook.url but received ` +
      `http://***@${r.host}/hook of type string`,
  );
  assert.match(
    await ok.failure('webhook', { url: `${r.base}/hook`, body: 'x'.repeat(1024 * 1024) }),
    /^GT_PAYLOAD_INVALID: Expected a body of at most 1048576 bytes as JSON for webhook.body/,
  );
  assert.equal(r.received.length, 0);
});
