// `pipeline run thumbnails DIR` as a user types it (the built CLI: embedded server, in-process
// workers, the run record) against a plain sharp loop over the same folder.
// Target (docs/benchmarks.md): ≥ 0.9× the plain loop.

import { execFile } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BENCH_DIR, type Sample, type Scenario } from './lib/harness.js';
import { benchImages, freshDir, plainSharpLoop } from './lib/media.js';

const CLI = path.join(BENCH_DIR, '../dist/cli/index.js');

export const scenario: Scenario = {
  name: 'pipeline-run',
  cases: [
    {
      name: '`pipeline run thumbnails` (whole command) vs plain sharp loop, 24 photos of 2–24 MP',
      config: { images: 24, command: 'pipeline run thumbnails DIR --out OUT --json' },
      metrics: [{ key: 'ips', label: 'pipeline run thumbnails images/s', unit: 'images/s', better: 'higher', target: 0.9 }],
      measure: () => Promise.reject(new Error('runs through versus')),
      versus: {
        baseline: 'sharp loop',
        async measure(side): Promise<Sample> {
          const dir = await benchImages();
          const files = readdirSync(dir).map((f) => path.join(dir, f));
          const out = freshDir(`run-${side}`);
          const t0 = performance.now();
          try {
            if (side === 'geartrain') {
              const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'run', 'thumbnails', dir, '--out', out, '--json']);
              const s = JSON.parse(stdout) as { status: string };
              if (s.status !== 'done') throw new Error(`pipeline run ended ${s.status}`);
            } else await plainSharpLoop(files, out);
          } finally {
            rmSync(out, { recursive: true, force: true });
          }
          const seconds = (performance.now() - t0) / 1000;
          const ips = files.length / seconds;
          return { values: { ips }, note: `${ips.toFixed(2)} images/s (${seconds.toFixed(2)} s for ${files.length}${side === 'geartrain' ? ', node start and embedded server included' : ''})`, otherCpu: 0, raw: { seconds } };
        },
      },
    },
  ],
};
