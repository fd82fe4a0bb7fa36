// Thumbnails through geartrain against a plain sharp loop: images per second for 12 photo-like
// JPEGs of 2–24 MP, three outputs each (320w webp, 640w webp, 1280w jpeg).
//   geartrain   an in-process GearmanServer, serveDomainWorkers(thumbnail, concurrency 2) and a
//               Client submitting every image (runTasks, 4 in flight)
//   sharp loop  the same outputs with sharp in this process, 2 images in flight, the way one
//               writes it by hand: sharp(input).rotate(), then clone() → resize → toFile per output
// Both run in this one process with the same libvips thread pool; outputs go to a fresh folder
// each run, so no output is ever skipped as up to date. Target: geartrain ≥ 0.9× the loop (the
// job server, JSON and atomic writes may cost at most 10%).

import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Client } from '../src/client/index.js';
import { GearmanServer } from '../src/server/server.js';
import { serveDomainWorkers } from '../src/workers/runtime.js';
import { type ThumbnailResult, thumbnailWorker } from '../src/workers/thumbnail.js';
import { BUSY_MACHINE_CORES, type Case, cpuSeconds, machineBusySeconds, pct, type Sample, type Scenario, type ServerKind } from './lib/harness.js';

/** Megapixels of the inputs, 3:2 like a camera's. */
export const MEGAPIXELS = [2, 2, 4, 4, 6, 8, 8, 12, 12, 16, 20, 24];
export const SIZES = [
  { width: 320, format: 'webp' },
  { width: 640, format: 'webp' },
  { width: 1280, format: 'jpeg' },
] as const;
const WORKER_CONCURRENCY = 2;
const CLIENT_IN_FLIGHT = 4;
const LOOP_IN_FLIGHT = 2;

// libvips caches decoded operations by file name; a second run over the same inputs would then
// measure the cache. A thumbnail service sees each input once, so both sides run uncached.
sharp.cache(false);

// ---- inputs, made once per process ---------------------------------------------------------

let inputs: Promise<{ dir: string; files: string[] }> | null = null;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A photo-like JPEG: soft gradients and blobs drawn at a quarter of the size, enlarged, then
 * grain at full size, so it decodes and compresses like a photo rather than a flat test card.
 */
async function makePhoto(file: string, megapixels: number, seed: number): Promise<void> {
  const width = Math.round(Math.sqrt(megapixels * 1e6 * 1.5));
  const height = Math.round(width / 1.5);
  const rnd = prng(seed);
  const sw = Math.ceil(width / 4);
  const sh = Math.ceil(height / 4);
  const small = Buffer.alloc(sw * sh * 3);
  const blobs = Array.from({ length: 10 }, () => ({ x: rnd() * sw, y: rnd() * sh, r: (0.05 + rnd() * 0.25) * sw, c: [rnd() * 255, rnd() * 255, rnd() * 255] }));
  for (let y = 0; y < sh; y++) {
    const t = y / sh;
    for (let x = 0; x < sw; x++) {
      let c = [90 + 120 * (1 - t), 140 + 80 * (1 - t) - 60 * t, 220 * (1 - t) + 60 * t];
      for (const b of blobs) {
        const d = Math.hypot(x - b.x, y - b.y) / b.r;
        if (d < 1) c = c.map((v, k) => v + (b.c[k]! - v) * (1 - d) * (1 - d) * 0.8);
      }
      const i = (y * sw + x) * 3;
      for (let k = 0; k < 3; k++) small[i + k] = Math.max(0, Math.min(255, c[k]!));
    }
  }
  const big = await sharp(small, { raw: { width: sw, height: sh, channels: 3 } })
    .resize(width, height, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  for (let i = 0; i < big.length; i++) big[i] = Math.max(0, Math.min(255, big[i]! + ((rnd() * 24) | 0) - 12));
  await sharp(big, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toFile(file);
}

export function photos(): Promise<{ dir: string; files: string[] }> {
  inputs ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-bench-thumb-in-'));
    // Synchronous: an 'exit' handler cannot wait for a promise (an async rm() left 16 MB per run behind).
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const files: string[] = [];
    for (const [i, mp] of MEGAPIXELS.entries()) {
      const file = path.join(dir, `photo-${String(i + 1).padStart(2, '0')}-${mp}mp.jpg`);
      await makePhoto(file, mp, i + 1);
      files.push(file);
    }
    return { dir, files };
  })();
  return inputs;
}

// ---- the two sides -------------------------------------------------------------------------

/** geartrain: every image a foreground thumbnail job, `extra` added to each payload; returns the outputs written. */
export async function throughGeartrain(files: string[], outDir: string, extra: Record<string, unknown> = {}): Promise<number> {
  const server = new GearmanServer({ port: 0 });
  const { port } = await server.listen();
  const address = `127.0.0.1:${port}`;
  const served = await serveDomainWorkers({ servers: [address], types: [{ factory: thumbnailWorker, concurrency: WORKER_CONCURRENCY }] });
  const client = new Client({ servers: [address] });
  try {
    for (const input of files) client.addTask('thumbnail', JSON.stringify({ input, outDir, sizes: SIZES, ...extra }));
    const results = await client.runTasks({ concurrency: CLIENT_IN_FLIGHT });
    let outputs = 0;
    for (const r of results) {
      if (!r.ok) throw new Error(`thumbnail job ${r.id} failed: ${(r.error as { exception?: string }).exception ?? r.error?.message}`);
      const res = JSON.parse(r.data!.toString('utf8')) as ThumbnailResult;
      if (res.outputs.some((o) => o.skipped)) throw new Error('an output was skipped: the run did not start from an empty folder');
      outputs += res.outputs.length;
    }
    return outputs;
  } finally {
    await client.close();
    await served.close();
    await server.close();
  }
}

/** The hand-written loop: `inFlight` images at a time, one pipeline cloned per output. */
async function sharpLoop(files: string[], outDir: string): Promise<number> {
  await mkdir(outDir, { recursive: true });
  let next = 0;
  let outputs = 0;
  const one = async (input: string): Promise<void> => {
    const base = path.basename(input, path.extname(input));
    const img = sharp(input, { failOn: 'truncated' }).rotate();
    await Promise.all(
      SIZES.map(async (s) => {
        const out = img.clone().resize({ width: s.width, withoutEnlargement: true }).toColourspace('srgb');
        const encoded = s.format === 'jpeg' ? out.jpeg({ quality: 80, mozjpeg: true }) : out.webp({ quality: 80 });
        await encoded.toFile(path.join(outDir, `${base}-${s.width}w.${s.format === 'jpeg' ? 'jpg' : 'webp'}`));
        outputs++;
      }),
    );
  };
  const lane = async (): Promise<void> => {
    while (next < files.length) await one(files[next++]!);
  };
  await Promise.all(Array.from({ length: LOOP_IN_FLIGHT }, lane));
  return outputs;
}

async function measure(side: ServerKind): Promise<Sample> {
  const { files } = await photos();
  const run = side === 'geartrain' ? throughGeartrain : sharpLoop;
  // One image first, untimed: sharp's and libvips' start-up is not what is compared.
  const warm = await mkdtemp(path.join(os.tmpdir(), 'gt-bench-thumb-warm-'));
  await run(files.slice(0, 1), warm).finally(() => rm(warm, { recursive: true, force: true }));

  const outDir = await mkdtemp(path.join(os.tmpdir(), 'gt-bench-thumb-out-'));
  try {
    const cpu0 = cpuSeconds(process.pid);
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    const outputs = await run(files, outDir);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (cpuSeconds(process.pid) - cpu0) / seconds;
    const otherCpu = Math.max(0, (machineBusySeconds() - busy0) / seconds - cpu);
    if (outputs !== files.length * SIZES.length) throw new Error(`${outputs} outputs written, expected ${files.length * SIZES.length}`);
    const images = files.length / seconds;
    const flag = otherCpu > BUSY_MACHINE_CORES ? ' [machine busy: figure unreliable]' : '';
    const megapixels = MEGAPIXELS.reduce((a, b) => a + b, 0);
    return {
      values: { images },
      note:
        `${images.toFixed(2)} images/s (${(megapixels / seconds).toFixed(0)} MP/s), ${files.length} images in ${seconds.toFixed(2)} s; cpu this process ` +
        `${pct(cpu)} other ${pct(otherCpu)}${flag}`,
      otherCpu,
      raw: { seconds, outputs, cpu, outBytes: await folderBytes(outDir) },
    };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir)) if (!f.startsWith('.')) total += (await stat(path.join(dir, f))).size;
  return total;
}

const thumbnails: Case = {
  name: 'thumbnails of 12 photos (2–24 MP), 3 outputs each',
  config: { megapixels: MEGAPIXELS, sizes: SIZES, workerConcurrency: WORKER_CONCURRENCY, clientInFlight: CLIENT_IN_FLIGHT, loopInFlight: LOOP_IN_FLIGHT },
  metrics: [{ key: 'images', label: 'thumbnail images/s (3 outputs each)', unit: 'images/s', better: 'higher', target: 0.9 }],
  measure() {
    throw new Error('thumbnail runs through versus.measure');
  },
  versus: { baseline: 'sharp loop', measure },
};

export const scenario: Scenario = { name: 'thumbnail', cases: [thumbnails] };
