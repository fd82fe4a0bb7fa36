// /metrics after a known workload, parsed with a Prometheus text-format parser: 10 jobs
// completed, 2 that failed once and were retried, 1 that failed until it was dead, one queued
// high-priority job without a worker, one low-priority job running, and an admin connection.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
// @ts-expect-error: the package ships no types
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { backoffPolicy } from '../../src/server/retry.js';
import { JOB_DURATION_BOUNDS } from '../../src/server/stats.js';
import { startHttp } from '../helpers/http.js';
import { until } from '../helpers/wait.js';

interface Sample {
  labels?: Record<string, string>;
  value?: string;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}

const parse = parsePrometheusTextFormat as (text: string) => Family[];

function family(families: Family[], name: string, type: Family['type']): Family {
  const f = families.find((x) => x.name === name);
  assert.ok(f, `no metric ${name}`);
  assert.equal(f.type, type, `${name} type`);
  return f;
}

/** The value of the sample whose labels include `labels`. */
function value(families: Family[], name: string, type: Family['type'], labels: Record<string, string> = {}): number {
  const f = family(families, name, type);
  const s = f.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  assert.ok(s, `${name} has no sample ${JSON.stringify(labels)}`);
  return Number(s.value);
}

/**
 * One histogram series. parse-prometheus-text-format folds every series of a histogram into one
 * and drops labelled _sum/_count lines, so the series' lines are picked out, its labels other
 * than `le` taken off, and that text parsed on its own.
 */
function histogram(text: string, name: string, labels: Record<string, string> = {}): Sample {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const lines = text.split('\n').filter((l) => /^(\w+)(\{|\s)/.exec(l)?.[1]?.replace(/_(bucket|sum|count)$/, '') === name && pairs.every((p) => l.includes(p)));
  assert.ok(lines.length > 0, `${name} has no series ${JSON.stringify(labels)}`);
  const bare = lines.map((l) => pairs.reduce((acc, p) => acc.replace(`${p},`, '').replace(`,${p}`, '').replace(p, ''), l).replace('{}', ''));
  const f = family(parse(`# TYPE ${name} histogram\n${bare.join('\n')}\n`), name, 'HISTOGRAM');
  assert.equal(f.metrics.length, 1, `one series of ${name} for ${JSON.stringify(labels)}`);
  return f.metrics[0]!;
}

test('/metrics counts a known workload', async (t) => {
  const h = await startHttp(t, { retry: backoffPolicy({ maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 40 }) });
  const flakyFailed = new Set<string>();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await h.worker(
    {
      m_ok: async () => {
        await new Promise((r) => setTimeout(r, 2));
        return 'ok';
      },
      // Fails the first attempt of each job, then succeeds.
      m_flaky: (job) => {
        const key = job.text();
        if (!flakyFailed.has(key)) {
          flakyFailed.add(key);
          throw new Error('first attempt fails');
        }
        return 'ok';
      },
      m_bad: () => {
        throw new Error('always fails');
      },
    },
    { concurrency: 4, clientId: 'metrics-worker' },
  );
  await h.worker({ m_slow: () => gate.then(() => 'ok') });
  // Runs before the workers close (which waits for running jobs), even when an assertion fails.
  h.defer(() => release());

  const submit = (fn: string, payload: string, priority = 'normal') => h.api('POST', '/api/v1/jobs', { function: fn, payload, priority });
  for (let i = 0; i < 10; i++) assert.equal((await submit('m_ok', `ok-${i}`)).status, 202);
  await submit('m_flaky', 'f1');
  await submit('m_flaky', 'f2');
  await submit('m_bad', 'b1');
  await submit('m_idle', 'i1', 'high');
  await submit('m_slow', 's1', 'low');
  // An admin connection (text protocol).
  const admin = net.connect(Number(h.gearman.split(':')[1]), '127.0.0.1');
  t.after(() => admin.destroy());
  await new Promise((r) => admin.once('connect', r));
  admin.write('status\n');
  await new Promise((r) => admin.once('data', r));

  const reg = h.server.registry;
  await until(
    'the workload',
    () =>
      reg.stats.get('m_ok')?.completed === 10 &&
      reg.stats.get('m_flaky')?.completed === 2 &&
      reg.stats.get('m_bad')?.dead === 1 &&
      reg.functions.get('m_slow')!.running === 1,
    10_000,
  );

  // The job log is written behind (a few ms): let the store's group commits happen first.
  await h.server.joblog!.sync();
  const res = await h.api('GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const m = parse(res.body as string);

  // Counters per function.
  const C = 'COUNTER';
  assert.equal(value(m, 'geartrain_jobs_completed_total', C, { function: 'm_ok' }), 10);
  assert.equal(value(m, 'geartrain_jobs_failed_total', C, { function: 'm_ok' }), 0);
  assert.equal(value(m, 'geartrain_jobs_completed_total', C, { function: 'm_flaky' }), 2);
  assert.equal(value(m, 'geartrain_jobs_failed_total', C, { function: 'm_flaky' }), 2);
  assert.equal(value(m, 'geartrain_jobs_retried_total', C, { function: 'm_flaky' }), 2);
  assert.equal(value(m, 'geartrain_jobs_dead_total', C, { function: 'm_flaky' }), 0);
  assert.equal(value(m, 'geartrain_jobs_completed_total', C, { function: 'm_bad' }), 0);
  assert.equal(value(m, 'geartrain_jobs_failed_total', C, { function: 'm_bad' }), 2);
  assert.equal(value(m, 'geartrain_jobs_retried_total', C, { function: 'm_bad' }), 1);
  assert.equal(value(m, 'geartrain_jobs_dead_total', C, { function: 'm_bad' }), 1);

  // Gauges from the registry, per function and priority.
  const G = 'GAUGE';
  assert.equal(value(m, 'geartrain_jobs_queued', G, { function: 'm_idle', priority: 'high' }), 1);
  assert.equal(value(m, 'geartrain_jobs_queued', G, { function: 'm_idle', priority: 'normal' }), 0);
  assert.equal(value(m, 'geartrain_jobs_queued', G, { function: 'm_ok', priority: 'normal' }), 0);
  assert.equal(value(m, 'geartrain_jobs_running', G, { function: 'm_slow', priority: 'low' }), 1);
  assert.equal(value(m, 'geartrain_jobs_running', G, { function: 'm_slow', priority: 'high' }), 0);
  assert.equal(value(m, 'geartrain_jobs_running', G, { function: 'm_ok', priority: 'normal' }), 0);
  assert.equal(value(m, 'geartrain_workers', G, { function: 'm_ok' }), 1);
  assert.equal(value(m, 'geartrain_workers', G, { function: 'm_idle' }), 0);
  assert.equal(value(m, 'geartrain_jobs_scheduled', G, { function: 'm_bad' }), 0);
  assert.equal(value(m, 'geartrain_connections', G, { kind: 'worker' }), 2);
  assert.equal(value(m, 'geartrain_connections', G, { kind: 'admin' }), 1);
  assert.ok(value(m, 'geartrain_connections_accepted_total', C) >= 3);

  // Durations: every completed m_ok attempt is in the histogram, buckets cumulative.
  const d = histogram(res.body as string, 'geartrain_job_duration_seconds', { function: 'm_ok', outcome: 'completed' });
  assert.equal(Number(d.count), 10);
  assert.ok(Number(d.sum) >= 10 * 0.001, `sum ${d.sum}`);
  // Numeric order: an object lists integer-like keys (1, 5, …) first.
  const les = Object.keys(d.buckets!).sort((a, b) => Number(a) - Number(b));
  assert.deepEqual(les, [...JOB_DURATION_BOUNDS.map(String), '+Inf']);
  let prev = 0;
  for (const le of les) {
    const n = Number(d.buckets![le]);
    assert.ok(n >= prev, 'cumulative');
    prev = n;
  }
  assert.equal(prev, 10, '+Inf holds every observation');
  assert.equal(Number(d.buckets!['0.001']), 0, 'each m_ok attempt took over 1 ms');
  const failed = histogram(res.body as string, 'geartrain_job_duration_seconds', { function: 'm_bad', outcome: 'failed' });
  assert.equal(Number(failed.count), 2);

  // The store's group commits.
  family(m, 'geartrain_store_write_duration_seconds', 'HISTOGRAM');
  const w = histogram(res.body as string, 'geartrain_store_write_duration_seconds');
  assert.ok(Number(w.count) >= 1);
  // The memory store is written only for failures (completed jobs are handed to it whole, see
  // JobStore.keepDone): at least one change for each of the 3 jobs that failed (m_flaky's two,
  // m_bad); a job's changes within one group commit are written as one.
  assert.ok(value(m, 'geartrain_store_changes_total', C) >= 3);

  // Process metrics from prom-client.
  assert.ok(m.some((f) => f.name === 'process_cpu_user_seconds_total'));

  release();
  await until('one m_slow job completed', () => reg.stats.get('m_slow')!.completed === 1);
  const after = parse((await h.api('GET', '/metrics')).body as string);
  assert.equal(value(after, 'geartrain_jobs_running', G, { function: 'm_slow', priority: 'low' }), 0);
  assert.equal(value(after, 'geartrain_jobs_completed_total', C, { function: 'm_slow' }), 1);
});

test('a worker lost mid-job counts a failed attempt and a retry; totals outlive drop function', async (t) => {
  const h = await startHttp(t, { retry: backoffPolicy({ maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 }) });
  // A raw worker that grabs the job and disconnects without answering.
  const { encodeReq } = await rawWorker();
  const sock = net.connect(Number(h.gearman.split(':')[1]), '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  await h.api('POST', '/api/v1/jobs', { function: 'm_lost' });
  sock.write(encodeReq(1, 'm_lost')); // CAN_DO
  sock.write(encodeReq(9)); // GRAB_JOB
  await until('one m_lost job running', () => h.server.registry.functions.get('m_lost')?.running === 1);
  sock.destroy();
  await until('one m_lost job retried', () => h.server.registry.stats.get('m_lost')!.retried === 1);
  let m = parse((await h.api('GET', '/metrics')).body as string);
  assert.equal(value(m, 'geartrain_jobs_failed_total', 'COUNTER', { function: 'm_lost' }), 1);
  assert.equal(value(m, 'geartrain_jobs_retried_total', 'COUNTER', { function: 'm_lost' }), 1);
  // Cancel it, drop the function: its totals stay.
  const id = (await h.api('GET', '/api/v1/jobs?function=m_lost')).body.jobs[0].id;
  await h.api('POST', `/api/v1/jobs/${id}/cancel`);
  assert.equal(h.server.registry.dropFunction('m_lost'), 'ok');
  m = parse((await h.api('GET', '/metrics')).body as string);
  assert.equal(value(m, 'geartrain_jobs_failed_total', 'COUNTER', { function: 'm_lost' }), 1);
  assert.equal(
    family(m, 'geartrain_jobs_queued', 'GAUGE').metrics.some((s) => s.labels?.function === 'm_lost'),
    false,
  );
});

async function rawWorker(): Promise<{ encodeReq: (type: number, ...args: string[]) => Buffer }> {
  const { req } = await import('../../src/protocol/codec.js');
  return { encodeReq: (type, ...args) => req(type, ...args) };
}
