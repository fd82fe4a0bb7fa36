// Transcode through geartrain against the ffmpeg command line: wall time of one job (mp4-480p and
// a poster of a 10 s 1280×720 30 fps clip with AAC audio).
//   geartrain   an in-process GearmanServer, serveDomainWorkers(transcode) and a Client; timed
//               from submit to result on a started worker: ffprobe of the input, the poster, the
//               480p encode (each written to a temp file and renamed), progress, the record.
//   ffmpeg CLI  /usr/bin/ffmpeg (what the worker finds on PATH) spawned with the very argv the
//               worker gives it (posterRun/profileRun + ffmpegArgv), poster then 480p, one after
//               the other like the worker; no probe (whoever types the command knows the input).
// A second case does the same for the `hls` profile (the default ladder of the same clip: 720p,
// 480p, 240p in one ffmpeg run) against hlsRun's argv on the command line.
// Outputs go to a fresh folder each run, so nothing is skipped as up to date. Target (docs/benchmarks.md):
// geartrain ≤ 1.05× the command line.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '../src/client/index.js';
import type { TranscodePayload } from '../src/schema/payloads/transcode.js';
import { GearmanServer } from '../src/server/server.js';
import { type Binaries, ffmpegArgv, locate, probe } from '../src/workers/ffmpeg.js';
import { hlsRun } from '../src/workers/hls.js';
import { serveDomainWorkers } from '../src/workers/runtime.js';
import { outputName, posterRun, profileRun, scaleFor, type TranscodeResult, transcodeWorker } from '../src/workers/transcode.js';
import { BUSY_MACHINE_CORES, type Case, machineBusySeconds, pct, type Sample, type Scenario, type ServerKind } from './lib/harness.js';
import { benchClip, freshDir } from './lib/media.js';

const PROFILE = 'mp4-480p' as const;

/** CPU seconds of this process and of its children that have exited (ffmpeg, ffprobe). */
function cpuWithChildren(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const ticks = 100; // USER_HZ on Linux
  return (Number(x[11]) + Number(x[12]) + Number(x[13]) + Number(x[14])) / ticks;
}

function runCli(bin: Binaries, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin.ffmpeg, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-2000)));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${tail}`))));
  });
}

/** One job measured both ways. */
interface BenchJob {
  payload: Omit<TranscodePayload, 'input' | 'outDir'>;
  /** The worker's own commands for this job (argv each), run one after the other. */
  commandLine(bin: Binaries, input: string, outDir: string): Promise<string[][]>;
  /** The files whose sizes the note shows, from the result. */
  outputs(res: TranscodeResult): string[];
}

const renditionJob: BenchJob = {
  payload: { name: 'clip', profiles: [PROFILE], poster: { format: 'jpeg' } },
  async commandLine(bin, input, outDir) {
    const src = await probe(bin, input, new AbortController().signal);
    return [
      posterRun(bin, { format: 'jpeg' }, src, input, path.join(outDir, outputName('clip', 'poster'))),
      profileRun(bin, PROFILE, src, input, path.join(outDir, outputName('clip', PROFILE))),
    ].map((r) => ffmpegArgv(r.spec));
  },
  outputs: (res) => [res.poster!.path, res.outputs[0]!.path],
};

const hlsJob: BenchJob = {
  payload: { name: 'clip', profiles: ['hls'] },
  async commandLine(bin, input, outDir) {
    const src = await probe(bin, input, new AbortController().signal);
    const folder = path.join(outDir, outputName('clip', 'hls'));
    await mkdir(folder, { recursive: true });
    return [ffmpegArgv(hlsRun(bin, {}, src, input, folder, scaleFor).spec)];
  },
  outputs: (res) => [res.outputs[0]!.path],
};

async function measure(side: ServerKind, spec: BenchJob): Promise<Sample> {
  const input = benchClip();
  const bin = await locate();
  const outDir = freshDir(`transcode-${side}`);
  let server: GearmanServer | undefined;
  let served: Awaited<ReturnType<typeof serveDomainWorkers>> | undefined;
  let client: Client | undefined;
  try {
    let job: () => Promise<string[]>;
    if (side === 'geartrain') {
      server = new GearmanServer({ port: 0 });
      const { port } = await server.listen();
      const servers = [`127.0.0.1:${port}`];
      served = await serveDomainWorkers({ servers, types: [{ factory: transcodeWorker }] });
      client = new Client({ servers });
      const c = client;
      job = async () => {
        let statuses = 0;
        const res = JSON.parse(
          (await c.submit('transcode', JSON.stringify({ input, outDir, ...spec.payload }), { onStatus: () => statuses++ })).toString('utf8'),
        ) as TranscodeResult;
        if (res.outputs[0]?.skipped || res.poster?.skipped) throw new Error('an output was skipped: the run did not start from an empty folder');
        if (statuses < 2) throw new Error(`only ${statuses} progress statuses`);
        return spec.outputs(res);
      };
    } else {
      const argvs = await spec.commandLine(bin, input, outDir);
      job = async () => {
        for (const argv of argvs) await runCli(bin, argv);
        return argvs.map((a) => a.at(-1)!.replace('%v.m3u8', 'master.m3u8'));
      };
    }

    const cpu0 = cpuWithChildren();
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    const outputs = await job();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (cpuWithChildren() - cpu0) / seconds;
    const otherCpu = Math.max(0, (machineBusySeconds() - busy0) / seconds - cpu);
    const bytes = (await Promise.all(outputs.map((o) => stat(o)))).map((s) => s.size);
    const flag = otherCpu > BUSY_MACHINE_CORES ? ' [machine busy: figure unreliable]' : '';
    return {
      values: { seconds },
      note: `${seconds.toFixed(3)} s (outputs ${bytes.join(', ')} B); cpu this process + ffmpeg ${pct(cpu)} other ${pct(otherCpu)}${flag}`,
      otherCpu,
      raw: { seconds, bytes, cpu, ffmpeg: bin.version },
    };
  } finally {
    await client?.close();
    await served?.close();
    await server?.close();
    await rm(outDir, { recursive: true, force: true });
  }
}

const transcode: Case = {
  name: `transcode job (${PROFILE} + poster of a 10 s 1280×720 clip) vs the same ffmpeg command lines`,
  config: { profiles: [PROFILE], poster: true, clip: '10 s 1280×720 30 fps H.264 + AAC (bench/lib/media.ts)', order: 'poster, then 480p' },
  metrics: [{ key: 'seconds', label: 'transcode wall time', unit: 's', better: 'lower', target: 1.05 }],
  measure() {
    throw new Error('transcode runs through versus.measure');
  },
  versus: { baseline: 'ffmpeg CLI', measure: (side) => measure(side, renditionJob) },
};

const hls: Case = {
  name: 'transcode job (hls: 720p, 480p, 240p ladder of a 10 s 1280×720 clip) vs the same ffmpeg command line',
  config: {
    profiles: ['hls'],
    clip: '10 s 1280×720 30 fps H.264 + AAC (bench/lib/media.ts)',
    ladder: 'default, clipped: 720p 2800k, 480p 1400k, 240p 400k; 4 s MPEG-TS segments',
  },
  metrics: [{ key: 'seconds', label: 'hls wall time', unit: 's', better: 'lower', target: 1.05 }],
  measure() {
    throw new Error('hls runs through versus.measure');
  },
  versus: { baseline: 'ffmpeg CLI', measure: (side) => measure(side, hlsJob) },
};

export const scenario: Scenario = { name: 'transcode', cases: [transcode, hls] };
