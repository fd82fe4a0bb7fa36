// `pipeline run thumbnails DIR` as a user types it (the built CLI, start to exit: embedded server,
// in-process workers, the run record) against the plain sharp script a user would write instead
// (bench/lib/plain-thumbnails.mjs), both as child processes over the same 60-photo camera roll
// (bench/lib/media.ts), with each command's peak RSS.
// Targets: ≥ 1.1× the script with 2 images in flight, ≥ 1.0× the script at every count (1–4), so
// at its best.

import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BENCH_DIR, type Case, type Sample, type Scenario } from './lib/harness.js';
import { cameraRoll, freshDir } from './lib/media.js';

const CLI = path.join(BENCH_DIR, '../dist/cli/index.js');
const PLAIN = path.join(BENCH_DIR, 'lib/plain-thumbnails.mjs');
const PEAK_RSS = path.join(BENCH_DIR, 'lib/peak-rss.cjs');
const IN_FLIGHT = [1, 2, 3, 4];

interface Timed {
  ips: number;
  seconds: number;
  rssMB: number;
}

/** Runs one command over the camera roll into a fresh folder: images/s and peak RSS. */
async function timed(label: string, args: (dir: string, out: string) => string[], check?: (stdout: string) => void): Promise<Timed> {
  const { dir, files } = await cameraRoll();
  const out = freshDir(label);
  const t0 = performance.now();
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['-r', PEAK_RSS, ...args(dir, out)], { maxBuffer: 64 * 1024 * 1024 });
    check?.(stdout);
    const seconds = (performance.now() - t0) / 1000;
    const kb = Number(/peak-rss-kb (\d+)/.exec(stderr)?.[1]);
    return { ips: files.length / seconds, seconds, rssMB: kb / 1024 };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function pipelineRun(): Promise<Timed> {
  return timed(
    'pipeline-run',
    (dir, out) => [CLI, 'run', 'thumbnails', dir, '--out', out, '--json'],
    (stdout) => {
      const s = JSON.parse(stdout) as { status: string };
      if (s.status !== 'done') throw new Error(`pipeline run ended ${s.status}`);
    },
  );
}

const plainScript = (n: number): Promise<Timed> => timed(`plain-${n}`, (dir, out) => [PLAIN, dir, out, String(n)]);

function sample(t: Timed, what: string): Sample {
  return {
    values: { ips: t.ips, rss: t.rssMB },
    note: `${t.ips.toFixed(2)} images/s (${t.seconds.toFixed(2)} s, node start included), peak RSS ${t.rssMB.toFixed(0)} MB, ${what}`,
    otherCpu: 0,
    raw: t,
  };
}

const metrics = (target: number): Case['metrics'] => [
  { key: 'ips', label: 'thumbnails of 60 photos, images/s', unit: 'images/s', better: 'higher', target },
  { key: 'rss', label: 'peak RSS of the command', unit: 'MB', better: 'lower' },
];

/**
 * One case per in-flight count of the script, each with its own alternating runs of geartrain: the
 * script "at its best" is then the count whose median is highest, compared median to median. (The
 * best of four script runs against one geartrain run would pick the luckiest run of the four.)
 */
const versus = (n: number): Case => ({
  name: `\`pipeline run thumbnails\` vs the plain sharp script with ${n} image${n === 1 ? '' : 's'} in flight, 60 photos of 2–24 MP`,
  config: { images: 60, command: 'pipeline run thumbnails DIR --out OUT --json', script: `bench/lib/plain-thumbnails.mjs DIR OUT ${n}` },
  metrics: metrics(n === 2 ? 1.1 : 1.0),
  measure: () => Promise.reject(new Error('runs through versus')),
  versus: {
    baseline: `script, ${n}`,
    measure: async (side) => (side === 'geartrain' ? sample(await pipelineRun(), 'pipeline run') : sample(await plainScript(n), `script, ${n} in flight`)),
  },
});

export const scenario: Scenario = { name: 'pipeline-run', cases: IN_FLIGHT.map(versus) };
