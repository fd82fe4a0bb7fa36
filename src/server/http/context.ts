// What every route module gets.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../metrics.js';
import type { EventHub } from './events.js';
import type { HttpHost } from './host.js';
import type { CheckedHttpOptions } from './options.js';
import type { ForegroundCalls } from './submit.js';
import type { ThroughputHistory } from './throughput.js';

/** The fastify instance routes are declared on: TypeBox schemas type `req.body`, `req.query` and the replies. */
export type Api = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface RouteContext {
  readonly host: HttpHost;
  readonly opts: CheckedHttpOptions;
  readonly calls: ForegroundCalls;
  readonly metrics: ServerMetrics;
  readonly events: EventHub;
  readonly history: ThroughputHistory;
}
