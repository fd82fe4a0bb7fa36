// Foreground round trip under load: SUBMIT_JOB → (worker: JOB_ASSIGN → WORK_COMPLETE) →
// WORK_COMPLETE at the client, timed at the client. 8 clients each submit one job at a time,
// 4 workers run them. Target (docs/benchmarks.md): p50 and p99 ≤ gearmand's.

import { type Case, cpuNote, fmt, runLoad, type Scenario } from './lib/harness.js';
import type { LoadConfig } from './load.js';

const load: Omit<LoadConfig, 'port'> = {
  mode: 'foreground',
  clients: 8,
  workers: 4,
  payloadBytes: 100,
  window: 1,
  maxBacklog: 0,
  warmupMs: 1000,
  measureMs: 3000,
  fn: 'bench_fg',
};

const roundTrip: Case = {
  name: 'foreground round trip',
  config: load,
  metrics: [
    { key: 'p50', label: 'fg round trip p50 (8 clients, 4 workers)', unit: 'ms', better: 'lower', target: 1 },
    { key: 'p99', label: 'fg round trip p99 (8 clients, 4 workers)', unit: 'ms', better: 'lower', target: 1 },
    { key: 'rate', label: 'fg jobs/s (same run)', unit: 'jobs/s', better: 'higher' },
  ],
  async measure(server) {
    const r = await runLoad(server, load);
    const l = r.latency!;
    if (l.n === 0) throw new Error(`${server.kind}: no foreground job completed in the window`);
    const rate = r.completed / r.seconds;
    return {
      values: { p50: l.p50, p99: l.p99, rate },
      note: `p50 ${fmt(l.p50, 'ms')} p99 ${fmt(l.p99, 'ms')} max ${fmt(l.max, 'ms')} over ${l.n} jobs (${fmt(rate, 'jobs/s')}); ${cpuNote(r)}`,
      otherCpu: r.otherCpu,
      raw: r,
    };
  },
};

export const scenario: Scenario = { name: 'foreground-latency', cases: [roundTrip] };
