// Who may use the HTTP API. With a token: every /api/v1 route and /metrics need
// `Authorization: Bearer TOKEN` (compared in constant time); the dashboard's static files load
// without it (they hold no data). Without a token the server only listens on loopback (see
// options.ts), and two browser attacks on a loopback port are shut out: DNS rebinding (a page
// whose name resolves to 127.0.0.1: its Host header is not a loopback name) and cross-site
// writes (a form posting from another origin: its Origin header names another host).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type GeartrainError, gtError } from '../../errors.js';
import { sendError } from './errors.js';
import { isLoopback } from './options.js';

/** Paths that load without a token: the dashboard page and its two files. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/', '/index.html', '/dashboard.js', '/dashboard.css']);

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function hostName(hostHeader: string): string {
  // "[::1]:8080", "127.0.0.1:8080", "localhost"
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(hostHeader);
  return m ? m[1]! : hostHeader;
}

export function authHook(token: string | null) {
  // Hashing both sides makes the comparison constant-time whatever the lengths.
  const expected = token === null ? null : digest(token);
  const check = (req: FastifyRequest): GeartrainError | null => {
    const host = req.headers.host ?? '';
    if (expected === null && !isLoopback(hostName(host))) {
      return gtError(
        'GT_HTTP_FORBIDDEN',
        `Host ${host || '(none)'} refused: without a token the HTTP API answers only to loopback names (127.0.0.1, localhost, [::1])`,
      );
    }
    if (!SAFE_METHODS.has(req.method)) {
      const origin = req.headers.origin;
      if (origin !== undefined) {
        let originHost: string | null = null;
        try {
          originHost = new URL(origin).host;
        } catch {
          originHost = null;
        }
        if (originHost !== host) return gtError('GT_HTTP_FORBIDDEN', `Cross-origin ${req.method} from ${origin} refused`);
      }
    }
    const path = req.url.split('?', 1)[0]!;
    if (expected === null || PUBLIC_PATHS.has(path)) return null;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    if (!m) return gtError('GT_HTTP_UNAUTHORIZED', 'Missing');
    if (!timingSafeEqual(digest(m[1]!), expected)) return gtError('GT_HTTP_UNAUTHORIZED', 'Wrong');
    return null;
  };
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const err = check(req);
    if (err === null) return undefined;
    if (err.code === 'GT_HTTP_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="geartrain"');
    // fastify: an async hook that answered returns the reply, and the route does not run.
    return sendError(reply, err);
  };
}
