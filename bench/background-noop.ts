// Background no-op jobs: how many jobs per second a server takes in and hands out, end to end
// (submitted AND completed), and how fast it only takes them in (queue fill, no workers).
// Target (docs/benchmarks.md): geartrain with the memory store ≥ 2× gearmand 1.1.20 -t 2.

import { type Case, cpuNote, fmt, runLoad, type Scenario, startServer, startStub, stopServer } from './lib/harness.js';
import type { LoadConfig } from './load.js';

/** The end-to-end load; bench/durable.ts runs the same one with shorter windows. */
export const endToEnd: Omit<LoadConfig, 'port'> = {
  mode: 'background',
  clients: 4,
  workers: 4,
  payloadBytes: 100,
  window: 1000,
  // Keeps the queue bounded, so a server cannot "win" by taking submissions while starving
  // its workers: over the window, submitted ≈ completed.
  maxBacklog: 20_000,
  warmupMs: 1000,
  measureMs: 4000,
  fn: 'bench_noop',
};

const submitOnly: Omit<LoadConfig, 'port'> = {
  ...endToEnd,
  mode: 'submit-only',
  workers: 0,
  warmupMs: 500,
  measureMs: 2000,
};

const e2eCase: Case = {
  name: 'background no-op, end to end',
  config: endToEnd,
  metrics: [{ key: 'jobs', label: 'bg no-op jobs/s (submit+complete)', unit: 'jobs/s', better: 'higher', target: 2 }],
  async measure(server) {
    const r = await runLoad(server, endToEnd);
    const jobs = r.completed / r.seconds;
    const created = r.created / r.seconds;
    return {
      values: { jobs },
      note: `${fmt(jobs, 'jobs/s')} completed, ${fmt(created, 'jobs/s')} created; ${perJob(r.serverCpu, jobs)}; ${cpuNote(r)}`,
      otherCpu: r.otherCpu,
      raw: r,
    };
  },
};

/**
 * The same load against bench/lib/stub-server.ts, which does no work beyond answering: how near
 * the load's ceiling on the machine running the bench geartrain runs. The 2× target needs 2×
 * gearmand; when the stub itself reaches less than that, no server under this load can meet it
 * there.
 */
const ceilingCase: Case = {
  name: 'background no-op, end to end, against a stub server (the ceiling of this load)',
  config: endToEnd,
  metrics: [{ key: 'jobs', label: 'bg no-op jobs/s, geartrain vs a stub that only answers', unit: 'jobs/s', better: 'higher' }],
  measure: () => Promise.reject(new Error('runs through versus')),
  versus: {
    baseline: 'stub',
    async measure(side) {
      // The stub speaks for no server kind: RunningServer's `kind` only labels errors.
      const server = side === 'geartrain' ? await startServer('geartrain') : await startStub();
      try {
        const r = await runLoad(server, endToEnd);
        const jobs = r.completed / r.seconds;
        return { values: { jobs }, note: `${fmt(jobs, 'jobs/s')} completed; ${perJob(r.serverCpu, jobs)}; ${cpuNote(r)}`, otherCpu: r.otherCpu, raw: r };
      } finally {
        await stopServer(server);
      }
    },
  },
};

const submitCase: Case = {
  name: 'background submit only',
  config: submitOnly,
  metrics: [{ key: 'submits', label: 'bg submit-only jobs/s (queue fill)', unit: 'jobs/s', better: 'higher' }],
  async measure(server) {
    const r = await runLoad(server, submitOnly);
    const submits = r.created / r.seconds;
    return {
      values: { submits },
      note: `${fmt(submits, 'jobs/s')} created; ${perJob(r.serverCpu, submits)}; ${cpuNote(r)}`,
      otherCpu: r.otherCpu,
      raw: r,
    };
  },
};

/** Server CPU per job: steadier than jobs/s when the machine is shared, and what a fix moves. */
function perJob(serverCores: number, jobsPerSecond: number): string {
  return `server ${((serverCores / jobsPerSecond) * 1e6).toFixed(1)} µs cpu/job`;
}

export const scenario: Scenario = { name: 'background-noop', cases: [e2eCase, submitCase, ceilingCase] };
