// Memory: RSS of the server process holding 1,000,000 queued 100-byte background jobs (no
// workers). The load generator submits exactly that many (submit-only, maxJobs); we then poll
// the admin `status` until the function's total reads 1,000,000 and read VmRSS from
// /proc/PID/status. Target (docs/benchmarks.md): ≤ 450 MB; gearmand holds about 900 MB, so the judged
// ratio geartrain / gearmand is ≤ 0.5 (the absolute figure is in the table too).
//
// Submission is bounded in time (FILL_MS): a server too slow to take 1,000,000 jobs in it is
// measured at what it reached, and the note says so. One run per server: RSS of a full queue
// barely moves between runs, and the sqlite fill alone takes tens of seconds.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Case, fmt, type RunningServer, runLoad, type Sample, type Scenario, type ServerArgs } from './lib/harness.js';
import type { LoadConfig } from './load.js';

const JOBS = 1_000_000;
const FILL_MS = 60_000;
const FN = 'bench_memory';
/**
 * The judged RSS is read 1 s after the fill. It is read again this long after, with the server
 * idle: V8 returns the heap grown during the fill only once its memory reducer runs, some 10-20 s
 * after allocation stops (geartrain on SQLite: 860 MB right after the fill, 505 MB 30 s later, in
 * one run); gearmand's RSS does not move. Reported beside the judged figure, not instead of it.
 */
const SETTLE_MS = 30_000;

const fill: Omit<LoadConfig, 'port'> = {
  mode: 'submit-only',
  clients: 4,
  workers: 0,
  payloadBytes: 100,
  window: 1000,
  maxBacklog: JOBS,
  warmupMs: 0,
  measureMs: FILL_MS,
  fn: FN,
  maxJobs: JOBS,
};

/** One admin command; the text up to the terminating ".\n" line. */
function admin(server: RunningServer, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(server.port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`admin ${command}: no answer`));
    }, 10_000);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf === '.\n' || buf.endsWith('\n.\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.write(`${command}\n`);
  });
}

/** The function's total (queued + running) from `status`: "fn\ttotal\trunning\tworkers". */
async function queued(server: RunningServer): Promise<number> {
  const line = (await admin(server, 'status')).split('\n').find((l) => l.startsWith(`${FN}\t`));
  return line ? Number(line.split('\t')[1]) : 0;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

let dirs: string[] = [];

function memoryCase(name: string, args: ServerArgs): Case {
  return {
    name,
    config: { fill, jobs: JOBS, geartrain: args.geartrain ? 'sqlite tmp file' : 'memory:' },
    serverArgs: args,
    maxReps: 1,
    cleanup() {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      dirs = [];
    },
    metrics: [
      { key: 'rss', label: `RSS, ${JOBS.toLocaleString('en-US')} queued 100 B jobs (≤ 450 MB)`, unit: 'MB', better: 'lower', target: 0.5 },
      { key: 'settled', label: `RSS ${SETTLE_MS / 1000} s later, idle`, unit: 'MB', better: 'lower' },
      { key: 'fill', label: 'queue fill jobs/s (to 1M)', unit: 'jobs/s', better: 'higher' },
    ],
    async measure(server): Promise<Sample> {
      const started = Date.now();
      const r = await runLoad(server, fill);
      // JOB_CREATED may precede the registry count on a server that answers early; wait a bit.
      let total = await queued(server);
      for (let i = 0; i < 50 && total < r.created; i++) {
        await new Promise((res) => setTimeout(res, 100));
        total = await queued(server);
      }
      const seconds = (Date.now() - started) / 1000;
      // Let a collector that runs at idle (V8's) have its turn, as a long-lived server would.
      await new Promise((res) => setTimeout(res, 1000));
      const rss = (rssMiB(server.pid!) * 2 ** 20) / 1e6;
      await new Promise((res) => setTimeout(res, SETTLE_MS));
      const settled = (rssMiB(server.pid!) * 2 ** 20) / 1e6;
      const reached = total >= JOBS ? '' : ` [reached only ${total.toLocaleString('en-US')} of ${JOBS.toLocaleString('en-US')} jobs in ${FILL_MS / 1000} s]`;
      return {
        // Short of 1,000,000 the RSS is not the figure the target is about: no value, no verdict.
        values: { rss: total >= JOBS ? rss : NaN, settled: total >= JOBS ? settled : NaN, fill: r.created / r.seconds },
        note:
          `${fmt(rss, 'MB')} RSS with ${total.toLocaleString('en-US')} jobs queued (${((rss * 1e6) / Math.max(1, total)).toFixed(0)} B/job), ` +
          `${fmt(settled, 'MB')} ${SETTLE_MS / 1000} s later; filled in ${seconds.toFixed(1)} s${reached}`,
        otherCpu: r.otherCpu,
        raw: { ...r, total, rss, settled },
      };
    },
  };
}

function tmpDb(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'geartrain-bench-mem-'));
  dirs.push(dir);
  return path.join(dir, 'jobs.db');
}

export const scenario: Scenario = {
  name: 'memory',
  cases: [
    memoryCase('1M queued jobs, geartrain memory store vs gearmand', {}),
    memoryCase('1M queued jobs, geartrain sqlite store vs gearmand', { geartrain: () => ['--store', `sqlite:${tmpDb()}`] }),
  ],
};
