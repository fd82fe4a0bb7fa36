// What the HTTP API needs from the job server: the GearmanServer implements it. Routes read
// the registry and the job log directly, in this process: no Gearman round trip.

import type { Logger } from 'pino';
import type { JobStore } from '../../store/types.js';
import type { Connection } from '../connection.js';
import type { DispatchContext } from '../dispatch.js';
import type { JobLog } from '../joblog.js';
import type { MetricsSource } from '../metrics.js';
import type { RunsProvider, SupervisorProvider } from './providers.js';

export interface HttpHost extends DispatchContext, MetricsSource {
  readonly log: Logger;
  readonly version: string;
  readonly store: JobStore;
  readonly joblog: JobLog | null;
  connections(): Iterable<Connection>;
  /** The Gearman port's address. */
  address(): { host: string; port: number };
  readonly runsProvider: RunsProvider | null;
  readonly supervisorProvider: SupervisorProvider | null;
}
