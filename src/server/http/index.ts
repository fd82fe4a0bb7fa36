// The job server's HTTP side, on a port of its own: the JSON API under /api/v1 (its OpenAPI
// document at /api/v1/openapi.json), the dashboard at /, and /metrics. Loaded only when
// ServerOptions.http is set (fastify and prom-client stay out of a plain Gearman server).
// `close()` is idempotent.

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { gtError } from '../../errors.js';
import { ServerMetrics } from '../metrics.js';
import { authHook } from './auth.js';
import type { Api, RouteContext } from './context.js';
import { registerDashboard } from './dashboard.js';
import { errorHandler, sendError } from './errors.js';
import { EventHub } from './events.js';
import type { HttpHost } from './host.js';
import { parseJsonBody } from './json.js';
import { registerOpenapi, registerOpenapiRoute } from './openapi.js';
import type { CheckedHttpOptions } from './options.js';
import { registerJobRoutes } from './routes-jobs.js';
import { registerOverviewRoutes, snapshot } from './routes-overview.js';
import { registerProviderRoutes } from './routes-providers.js';
import { ForegroundCalls } from './submit.js';
import { ThroughputHistory } from './throughput.js';
import { validatorCompiler } from './validation.js';
import { totals } from './views.js';

export { type CheckedHttpOptions, checkHttpOptions, type HttpOptions, isLoopback } from './options.js';
export type { ProcessesView, ProcessTypeView, ProcessView, RunStepView, RunsProvider, RunView, SupervisorProvider } from './providers.js';

/** A route as fastify registered it. */
export interface RouteEntry {
  method: string;
  url: string;
  /** Left out of the OpenAPI document (the dashboard's files). */
  hidden: boolean;
}

export class HttpApi {
  readonly metrics: ServerMetrics;
  /** Every route registered, as fastify's onRoute hook reports them. */
  readonly routes: RouteEntry[] = [];
  private readonly app: Api;
  private readonly calls = new ForegroundCalls();
  private readonly events: EventHub;
  private readonly history: ThroughputHistory;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly host: HttpHost,
    readonly opts: CheckedHttpOptions,
  ) {
    this.metrics = new ServerMetrics(host);
    // The hub builds snapshots only once a stream is open, long after ctx exists.
    this.events = new EventHub((first) => snapshot(ctx, first), opts.eventsIntervalMs);
    this.history = new ThroughputHistory(() => totals(host.registry), opts.eventsIntervalMs);
    const ctx: RouteContext = { host, opts, calls: this.calls, metrics: this.metrics, events: this.events, history: this.history };

    const app = Fastify({
      logger: false,
      bodyLimit: opts.bodyLimit,
      // A client trickling its request (Slowloris) is cut at requestTimeoutMs with 408; Node
      // checks that every connectionsCheckingInterval, 30 s unless set. An idle socket closes
      // at connectionTimeoutMs.
      requestTimeout: opts.requestTimeoutMs,
      connectionTimeout: opts.connectionTimeoutMs,
      http: { headersTimeout: opts.requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, opts.requestTimeoutMs) },
      // close() must not wait for event streams and keep-alive sockets.
      forceCloseConnections: true,
      // Handles ("H:host:123") and log ids are short, but host names can be long.
      routerOptions: { maxParamLength: 600 },
    }).withTypeProvider<TypeBoxTypeProvider>();
    this.app = app;
    app.setValidatorCompiler(validatorCompiler);
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat()) this.routes.push({ method, url: r.url, hidden: r.schema?.hide === true });
    });
    // JSON only (a cross-site form cannot send it without a CORS preflight, which is never
    // granted); an empty body is "no body".
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      const parsed = parseJsonBody(body as string);
      if ('error' in parsed) done(parsed.error, undefined);
      else done(null, parsed.value);
    });
    app.addHook('onRequest', authHook(opts.token));
    app.addHook('onSend', async (req, reply) => {
      if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    });
    app.setErrorHandler(errorHandler(host.log, opts.bodyLimit));
    app.setNotFoundHandler((req, reply) => sendError(reply, gtError('GT_HTTP_NOT_FOUND', `No route ${req.method} ${req.url.split('?', 1)[0]}`)));

    // swagger's own onRoute hook is in place only once its plugin has loaded: every route is
    // declared in a plugin registered after it.
    registerOpenapi(app, host.version, opts.token !== null);
    void app.register(async (api) => {
      registerDashboard(api);
      registerOverviewRoutes(api, ctx);
      registerJobRoutes(api, ctx);
      registerProviderRoutes(api, ctx);
      registerOpenapiRoute(api);
    });
  }

  async listen(): Promise<{ host: string; port: number }> {
    await this.app.listen({ port: this.opts.port, host: this.opts.host });
    return this.address();
  }

  address(): { host: string; port: number } {
    const a = this.app.server.address();
    if (a === null || typeof a === 'string') throw gtError('GT_CLOSED', 'HTTP API');
    return { host: a.address, port: a.port };
  }

  /** End event streams, answer waiting foreground calls (GT_SHUTTING_DOWN), stop listening. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.events.close();
      this.history.close();
      this.calls.closeAll();
      // Let those answers reach their sockets before close() destroys every connection.
      await new Promise((resolve) => setImmediate(resolve));
      await this.app.close();
    })();
    return this.closing;
  }
}
