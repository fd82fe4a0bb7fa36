// The thumbnail result's placeholder (ThumbHash + dominant colour): CPU time per image of
// thumbnail jobs with it (the default) against the same jobs with `placeholder: false`, on the
// 12 photo-like JPEGs of 2–24 MP of bench/thumbnail.ts, three outputs each. Target: the
// placeholder adds under 5% (ratio ≤ 1.05).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUSY_MACHINE_CORES, type Case, cpuSeconds, machineBusySeconds, pct, type Sample, type Scenario, type ServerKind } from './lib/harness.js';
import { MEGAPIXELS, photos, SIZES, throughGeartrain } from './thumbnail.js';

async function measure(side: ServerKind): Promise<Sample> {
  const { files } = await photos();
  const extra = side === 'geartrain' ? {} : { placeholder: false };
  const warm = await mkdtemp(path.join(os.tmpdir(), 'gt-bench-ph-warm-'));
  await throughGeartrain(files.slice(0, 1), warm, extra).finally(() => rm(warm, { recursive: true, force: true }));
  const outDir = await mkdtemp(path.join(os.tmpdir(), 'gt-bench-ph-out-'));
  try {
    const cpu0 = cpuSeconds(process.pid);
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    await throughGeartrain(files, outDir, extra);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(process.pid) - cpu0;
    const otherCpu = Math.max(0, (machineBusySeconds() - busy0 - cpu) / seconds);
    const cpuMs = (cpu * 1000) / files.length;
    const flag = otherCpu > BUSY_MACHINE_CORES ? ' [machine busy: figure unreliable]' : '';
    return {
      values: { cpuMs },
      note: `${cpuMs.toFixed(1)} ms CPU per image, ${files.length} images in ${seconds.toFixed(2)} s; cpu other ${pct(otherCpu)}${flag}`,
      otherCpu,
      raw: { seconds, cpu },
    };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

const placeholderCost: Case = {
  name: 'thumbnails of 12 photos (2–24 MP) with and without the placeholder',
  config: { megapixels: MEGAPIXELS, sizes: SIZES },
  metrics: [{ key: 'cpuMs', label: 'CPU ms per image, placeholder on / off', unit: 'ms', better: 'lower', target: 1.05 }],
  measure() {
    throw new Error('placeholder runs through versus.measure');
  },
  versus: { baseline: 'placeholder: false', measure },
};

export const scenario: Scenario = { name: 'placeholder', cases: [placeholderCost] };
