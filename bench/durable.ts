// Background no-op jobs with a durable queue: geartrain on its SQLite store (a fresh file per
// run) against gearmand in memory and against gearmand's libsqlite3 queue (also a fresh file).
// Each server start measures end to end (submitted AND completed, bounded backlog, as in
// background-noop.ts) and then submit only (the queue fills) on the same server.
// Targets (DESIGN.md): geartrain-sqlite ≥ 1× gearmand in memory; ≥ 20× gearmand with sqlite.
//
// Windows are shorter than background-noop.ts so the scenario stays near a minute at 3 runs
// (2 cases × 2 servers × 3 runs × about 5 s).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuNote, fmt, runLoad, type Case, type RunningServer, type Sample, type Scenario, type ServerArgs } from './lib/harness.js';
import type { LoadConfig } from './load.js';

const endToEnd: Omit<LoadConfig, 'port'> = {
  mode: 'background',
  clients: 4,
  workers: 4,
  payloadBytes: 100,
  window: 1000,
  maxBacklog: 20_000,
  warmupMs: 500,
  measureMs: 2000,
  fn: 'bench_durable',
};

const submitOnly: Omit<LoadConfig, 'port'> = {
  ...endToEnd,
  mode: 'submit-only',
  workers: 0,
  warmupMs: 300,
  measureMs: 1200,
  fn: 'bench_durable_fill',
};

/** Temporary directories holding this process's store files; each is removed after its run. */
let dirs: string[] = [];
function tmpDb(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return path.join(dir, 'jobs.db');
}
function cleanup(): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
}

const geartrainSqlite = (): string[] => ['--store', `sqlite:${tmpDb('geartrain-bench-')}`];

async function measure(server: RunningServer): Promise<Sample> {
  const e = await runLoad(server, endToEnd);
  const s = await runLoad(server, submitOnly);
  const jobs = e.completed / e.seconds;
  const submits = s.created / s.seconds;
  const perJob = (cores: number, rate: number): string => `${((cores / rate) * 1e6).toFixed(1)} µs cpu/job`;
  return {
    values: { jobs, submits },
    note: `e2e ${fmt(jobs, 'jobs/s')} (${perJob(e.serverCpu, jobs)}; ${cpuNote(e)}); submit ${fmt(submits, 'jobs/s')} (${perJob(s.serverCpu, submits)}; ${cpuNote(s)})`,
    otherCpu: Math.max(e.otherCpu, s.otherCpu),
    raw: { endToEnd: e, submitOnly: s },
  };
}

function durableCase(name: string, args: ServerArgs, target: number, versus: string): Case {
  return {
    name,
    config: { endToEnd, submitOnly, serverArgs: { geartrain: args.geartrain?.name ?? 'sqlite tmp file', gearmand: versus } },
    serverArgs: args,
    cleanup,
    metrics: [
      { key: 'jobs', label: `bg no-op jobs/s, gt sqlite vs gearmand ${versus}`, unit: 'jobs/s', better: 'higher', target },
      { key: 'submits', label: `bg submit-only jobs/s, gt sqlite vs gearmand ${versus}`, unit: 'jobs/s', better: 'higher' },
    ],
    measure,
  };
}

export const scenario: Scenario = {
  name: 'durable',
  cases: [
    durableCase('geartrain sqlite vs gearmand in memory', { geartrain: geartrainSqlite }, 1, 'memory'),
    durableCase(
      'geartrain sqlite vs gearmand libsqlite3',
      { geartrain: geartrainSqlite, gearmand: () => ['-q', 'libsqlite3', '--libsqlite3-db', tmpDb('gearmand-bench-')] },
      20,
      'sqlite',
    ),
  ],
};
