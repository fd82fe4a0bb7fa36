// Prometheus metrics of one job server, on a Registry of its own (several servers in one
// process do not mix). Everything is read on scrape: gauges from the job registry, counters
// and histograms from the plain counters in stats.ts. Nothing here runs per packet.

import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import type { Connection } from './connection.js';
import type { PartialPackets } from './partial-packets.js';
import { type JobRegistry, PRIORITY_NAMES } from './registry.js';
import type { FunctionStats, Histo, ServerStats } from './stats.js';

export interface MetricsSource {
  readonly registry: JobRegistry;
  connections(): Iterable<Connection>;
  readonly stats: ServerStats;
  readonly partial: PartialPackets;
}

export interface ServerMetricsOptions {
  /** Also export prom-client's process and Node.js metrics (CPU, memory, event loop lag). @defaultValue true */
  processMetrics?: boolean;
}

type Labels = Record<string, string | number>;
interface Sample {
  metricName: string;
  labels: Labels;
  value: number;
}

/**
 * A histogram whose buckets are counted elsewhere (a Histo): prom-client's own Histogram can
 * only be fed one observe() at a time. The registry needs `name` and `get()`; the rest of the
 * Metric surface is what Registry.metrics()/getMetricsAsJSON()/resetMetrics() call.
 */
class CountedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Iterable<[Labels, Histo]>,
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    for (const [labels, h] of this.read()) {
      let acc = 0;
      for (let i = 0; i < h.bounds.length; i++) {
        acc += h.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: h.bounds[i]! }, value: acc });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: h.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: h.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // Counts belong to the server; a registry reset does not rewrite history.
  }
}

export class ServerMetrics {
  readonly registry = new Registry();

  constructor(src: MetricsSource, opts: ServerMetricsOptions = {}) {
    const reg = this.registry;
    const jobs = src.registry;
    const registers = [reg];

    new Gauge({
      name: 'geartrain_jobs_queued',
      help: 'Jobs waiting for a worker, by function and priority',
      labelNames: ['function', 'priority'],
      registers,
      collect() {
        this.reset();
        for (const f of jobs.functions.values()) {
          for (let p = 0; p < 3; p++) this.set({ function: f.name, priority: PRIORITY_NAMES[p]! }, f.queues[p]!.size);
        }
      },
    });

    new Gauge({
      name: 'geartrain_jobs_running',
      help: 'Jobs a worker holds, by function and priority',
      labelNames: ['function', 'priority'],
      registers,
      collect() {
        this.reset();
        // Per priority is counted from the workers' held jobs (O(running jobs) per scrape)
        // rather than kept on the hot path.
        const counts = new Map<string, [number, number, number]>();
        for (const f of jobs.functions.values()) counts.set(f.name, [0, 0, 0]);
        for (const c of src.connections()) {
          for (const job of c.held) {
            if (job.cancelled) continue;
            let row = counts.get(job.fn.name);
            if (!row) counts.set(job.fn.name, (row = [0, 0, 0]));
            row[job.priority]++;
          }
        }
        for (const [name, row] of counts) for (let p = 0; p < 3; p++) this.set({ function: name, priority: PRIORITY_NAMES[p]! }, row[p]!);
      },
    });

    new Gauge({
      name: 'geartrain_jobs_scheduled',
      help: 'Jobs waiting for their time: epoch jobs not yet due and retries in backoff',
      labelNames: ['function'],
      registers,
      collect() {
        this.reset();
        for (const f of jobs.functions.values()) this.set({ function: f.name }, f.scheduled);
      },
    });

    new Gauge({
      name: 'geartrain_workers',
      help: 'Worker connections that can run the function',
      labelNames: ['function'],
      registers,
      collect() {
        this.reset();
        for (const f of jobs.functions.values()) this.set({ function: f.name }, f.workers.size);
      },
    });

    const counter = (name: string, help: string, read: (s: FunctionStats) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['function'],
        registers,
        collect() {
          // Totals live in FunctionStats; a scrape copies them.
          this.reset();
          for (const s of jobs.stats.values()) this.inc({ function: s.name }, read(s));
        },
      });
    };
    counter('geartrain_jobs_completed_total', 'Attempts that ended in WORK_COMPLETE', (s) => s.completed);
    counter('geartrain_jobs_failed_total', 'Attempts that ended without a result: WORK_FAIL, WORK_EXCEPTION, worker lost, timed out', (s) => s.failed);
    counter('geartrain_jobs_retried_total', 'Failed attempts queued to run again (automatic retries)', (s) => s.retried);
    counter('geartrain_jobs_dead_total', 'Background jobs out of attempts, or failed for good; kept in the job log', (s) => s.dead);

    const durations = new CountedHistogram(
      'geartrain_job_duration_seconds',
      'Seconds from a worker taking a job to its WORK_COMPLETE or failure',
      function* () {
        for (const s of jobs.stats.values()) {
          yield [{ function: s.name, outcome: 'completed' }, s.completedSeconds];
          yield [{ function: s.name, outcome: 'failed' }, s.failedSeconds];
        }
      },
    );
    reg.registerMetric(durations as unknown as Metric);

    new Gauge({
      name: 'geartrain_connections',
      help: 'Open Gearman connections by kind: worker (registered a function), admin (sent a text command), client',
      labelNames: ['kind'],
      registers,
      collect() {
        let worker = 0;
        let admin = 0;
        let client = 0;
        for (const c of src.connections()) {
          if (c.abilities.size > 0 || c.held.size > 0) worker++;
          else if (c.admin) admin++;
          else client++;
        }
        this.set({ kind: 'worker' }, worker);
        this.set({ kind: 'admin' }, admin);
        this.set({ kind: 'client' }, client);
      },
    });

    new Counter({
      name: 'geartrain_connections_accepted_total',
      help: 'Gearman connections accepted since start',
      registers,
      collect() {
        this.reset();
        this.inc(src.stats.connectionsAccepted);
      },
    });

    new Gauge({
      name: 'geartrain_partial_packet_bytes',
      help: 'Bytes held for packets that have not finished arriving, all connections together (bounded by --max-buffered)',
      registers,
      collect() {
        this.set(src.partial.bytes);
      },
    });

    new Counter({
      name: 'geartrain_partial_packet_closes_total',
      help: 'Connections closed for an unfinished packet: buffer_full (the largest past --max-buffered), stalled (--packet-timeout)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        this.inc({ reason: 'buffer_full' }, src.partial.closed.buffered);
        this.inc({ reason: 'stalled' }, src.partial.closed.stalled);
      },
    });

    const storeWrites = new CountedHistogram(
      'geartrain_store_write_duration_seconds',
      'Seconds per job store write (one group commit of many changes)',
      function* () {
        yield [{}, src.stats.storeWrites];
      },
    );
    reg.registerMetric(storeWrites as unknown as Metric);

    new Counter({
      name: 'geartrain_store_changes_total',
      help: 'Job log changes (inserts and updates) written to the store',
      registers,
      collect() {
        this.reset();
        this.inc(src.stats.storeChanges);
      },
    });

    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: reg });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
