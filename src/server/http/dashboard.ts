// GET / and its two files: the dashboard, plain HTML/JS/CSS next to this module (copied into
// dist/ by scripts/copy-assets.mjs). Read once, on first request.

import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { gtError } from '../../errors.js';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

// The page only talks to its own origin and runs only its own script.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function registerDashboard(app: FastifyInstance): void {
  const cache = new Map<string, Promise<Buffer>>();
  const load = (file: string): Promise<Buffer> => {
    let p = cache.get(file);
    if (!p) {
      p = readFile(new URL(`./dashboard/${file}`, import.meta.url));
      p.catch(() => cache.delete(file));
      cache.set(file, p);
    }
    return p;
  };
  for (const [route, { file, type }] of Object.entries(FILES)) {
    app.get(route, async (_req, reply) => {
      let body: Buffer;
      try {
        body = await load(file);
      } catch {
        throw gtError('GT_HTTP_NOT_FOUND', `Dashboard file ${file} is missing next to ${new URL('.', import.meta.url).pathname}: run npm run build (it copies src/server/http/dashboard)`);
      }
      return reply
        .header('content-type', type)
        .header('cache-control', 'no-cache')
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(body);
    });
  }
}
