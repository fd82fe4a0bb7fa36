// The thumbnail worker as operations run it: `pipeline server` and `pipeline worker thumbnail`
// (its default concurrency) as child processes, a Client submitting every photo of the 60-photo
// camera roll (bench/lib/media.ts) as a foreground job, against the plain sharp script
// (bench/lib/plain-thumbnails.mjs) with 2 images in flight over the same folder. The worker's
// start is not timed (it is a long-running process); the script's node start is.
// Target: ≥ 1.0× the script (the job server, JSON and atomic writes cost less than the decode
// they save).

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { adminStatus } from '../src/client/admin.js';
import { Client } from '../src/client/index.js';
import { until } from '../test/helpers/wait.js';
import { BENCH_DIR, type Case, type Sample, type Scenario, type ServerKind, startServer, stopServer } from './lib/harness.js';
import { cameraRoll, freshDir } from './lib/media.js';

const CLI = path.join(BENCH_DIR, '../dist/cli/index.js');
const PLAIN = path.join(BENCH_DIR, 'lib/plain-thumbnails.mjs');
const PEAK_RSS = path.join(BENCH_DIR, 'lib/peak-rss.cjs');
const SIZES = [
  { width: 320, format: 'webp' },
  { width: 640, format: 'webp' },
  { width: 1280, format: 'jpeg' },
] as const;
const CLIENT_IN_FLIGHT = 8;

const peakMB = (stderr: string): number => Number(/peak-rss-kb (\d+)/.exec(stderr)?.[1]) / 1024;

async function throughWorker(): Promise<Sample> {
  const { dir, files } = await cameraRoll();
  const server = await startServer('geartrain');
  const worker = spawn(process.execPath, ['-r', PEAK_RSS, CLI, '--log-level', 'warn', 'worker', 'thumbnail', '--server', server.address], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  worker.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const client = new Client({ servers: [server.address] });
  const out = freshDir('worker');
  try {
    await until(
      'pipeline worker thumbnail to register',
      async () => ((await adminStatus(server.host, server.port)).find((s) => s.function === 'thumbnail')?.workers ?? 0) > 0,
    );
    const t0 = performance.now();
    for (const input of files) {
      client.addTask('thumbnail', JSON.stringify({ input, outDir: path.join(out, path.relative(dir, path.dirname(input))), sizes: SIZES }));
    }
    const results = await client.runTasks({ concurrency: CLIENT_IN_FLIGHT });
    const seconds = (performance.now() - t0) / 1000;
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) throw new Error(`${failed.length} thumbnail jobs failed: ${failed[0]!.error?.message}`);
    worker.kill('SIGTERM');
    await once(worker, 'exit');
    const ips = files.length / seconds;
    const rss = peakMB(stderr);
    return {
      values: { ips, rss },
      note: `${ips.toFixed(2)} images/s (${seconds.toFixed(2)} s), worker peak RSS ${rss.toFixed(0)} MB`,
      otherCpu: 0,
      raw: { seconds },
    };
  } finally {
    await client.close();
    if (worker.exitCode === null) worker.kill('SIGKILL');
    await stopServer(server);
    rmSync(out, { recursive: true, force: true });
  }
}

async function plainScript(): Promise<Sample> {
  const { dir, files } = await cameraRoll();
  const out = freshDir('plain');
  const t0 = performance.now();
  try {
    const { stderr } = await promisify(execFile)(process.execPath, ['-r', PEAK_RSS, PLAIN, dir, out, '2']);
    const seconds = (performance.now() - t0) / 1000;
    const ips = files.length / seconds;
    const rss = peakMB(stderr);
    return {
      values: { ips, rss },
      note: `${ips.toFixed(2)} images/s (${seconds.toFixed(2)} s, node start included), peak RSS ${rss.toFixed(0)} MB`,
      otherCpu: 0,
      raw: { seconds },
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const worker: Case = {
  name: '`pipeline worker thumbnail` (default concurrency) behind `pipeline server` vs the plain sharp script with 2 in flight, 60 photos',
  config: { images: 60, sizes: SIZES, clientInFlight: CLIENT_IN_FLIGHT },
  metrics: [
    { key: 'ips', label: 'thumbnail worker images/s (3 outputs each)', unit: 'images/s', better: 'higher', target: 1.0 },
    { key: 'rss', label: 'peak RSS of the worker / the script', unit: 'MB', better: 'lower' },
  ],
  measure: () => Promise.reject(new Error('runs through versus')),
  versus: { baseline: 'script, 2', measure: (side: ServerKind) => (side === 'geartrain' ? throughWorker() : plainScript()) },
};

export const scenario: Scenario = { name: 'thumbnail-worker', cases: [worker] };
