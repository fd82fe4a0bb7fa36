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
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'none'";

/** `dir`: the folder holding the files (a file: URL ending in /). @defaultValue ./dashboard/ next to this module */
export function registerDashboard(app: FastifyInstance, dir: URL = new URL('./dashboard/', import.meta.url)): void {
  const cache = new Map<string, Promise<Buffer>>();
  const load = (file: string): Promise<Buffer> => {
    let p = cache.get(file);
    if (!p) {
      p = readFile(new URL(file, dir));
      p.catch(() => cache.delete(file));
      cache.set(file, p);
    }
    return p;
  };
  for (const [route, { file, type }] of Object.entries(FILES)) {
    app.get(route, { schema: { hide: true } }, async (_req, reply) => {
      let body: Buffer;
      try {
        body = await load(file);
      } catch {
        // The answer names no path on the server; the build copies the files next to this module.
        throw gtError(
          'GT_HTTP_NOT_FOUND',
          `Dashboard file ${file} is missing from this installation of geartrain: reinstall it, or run npm run build in a clone`,
        );
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
