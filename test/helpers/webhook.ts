// A webhook receiver for tests: a local HTTP server that records each request and checks its
// signature with the verification code docs/workers.md gives, loaded from the page itself.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';

export const SECRET = 'test-secret-0123456789abcdef';

export type Verify = (rawBody: string, header: unknown, secret: string, toleranceSeconds?: number) => boolean;

/** The `verifyWebhook` function exactly as docs/workers.md prints it. */
export async function documentedVerify(): Promise<Verify> {
  const doc = await readFile(new URL('../../docs/workers.md', import.meta.url), 'utf8');
  const m = /<!-- webhook-verify -->\s*```js\n([\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/workers.md has the webhook-verify snippet');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-webhook-'));
  try {
    const file = path.join(dir, 'verify.mjs');
    await writeFile(file, m[1]!);
    return ((await import(pathToFileURL(file).href)) as { verifyWebhook: Verify }).verifyWebhook;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface Received {
  path: string;
  body: string;
  headers: http.IncomingHttpHeaders;
  verified: boolean;
}

/** The receiver: answers by path, records every request and whether its signature verified. */
export async function webhookReceiver(t: TestContext, verify: Verify) {
  const received: Received[] = [];
  const tries = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = req.url!;
      received.push({ path: url, body, headers: req.headers, verified: verify(body, req.headers['geartrain-signature'], SECRET) });
      const n = (tries.get(url) ?? 0) + 1;
      tries.set(url, n);
      if (url === '/flaky') return res.writeHead(n === 1 ? 500 : 200).end();
      if (url === '/down') return res.writeHead(503).end('down');
      if (url === '/bad') return res.writeHead(400).end('no');
      if (url === '/hang') return; // never answers
      if (url === '/redirect') return res.writeHead(302, { location: `http://localhost:${port}/elsewhere` }).end();
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { base: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, received, hits: (p: string) => received.filter((r) => r.path === p).length };
}
