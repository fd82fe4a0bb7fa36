// What every route module gets.

import type { ServerMetrics } from '../metrics.js';
import type { EventHub } from './events.js';
import type { HttpHost } from './host.js';
import type { CheckedHttpOptions } from './options.js';
import type { ForegroundCalls } from './submit.js';
import type { ThroughputHistory } from './throughput.js';

export interface RouteContext {
  readonly host: HttpHost;
  readonly opts: CheckedHttpOptions;
  readonly calls: ForegroundCalls;
  readonly metrics: ServerMetrics;
  readonly events: EventHub;
  readonly history: ThroughputHistory;
}
