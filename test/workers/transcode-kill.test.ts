// A transcode worker process killed with SIGKILL mid-encode: its ffmpeg dies with it (nothing
// writes on, a child of init), and when the job runs again on another worker the temp file the
// dead attempt left is removed. The worker runs as `pipeline worker transcode`, a real process.

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { Client } from '../../src/client/index.js';
import { filesUnder, tempFiles } from '../helpers/files.js';
import { missingTools, ROOT, startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const CLIP = path.join(ROOT, 'fixtures/video/clip.mp4');
const skip = missingTools('ffmpeg', 'ffprobe');

/** `pipeline worker transcode` from the sources, connected to `server`. */
function startWorker(t: TestContext, server: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'src/cli/index.ts'), '--log-level', 'warn', 'worker', 'transcode', '--server', server],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/** Processes whose parent is `ppid` and whose command is ffmpeg. */
function ffmpegChildrenOf(ppid: number): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const parent = Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (parent === ppid && cmd.some((a) => path.basename(a) === 'ffmpeg')) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function running(pid: number): boolean {
  try {
    const state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1];
    return state !== 'Z';
  } catch {
    return false;
  }
}

test("a SIGKILLed transcode worker leaves no ffmpeg running; the retry removes the dead attempt's temp file", { skip }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-transcode-kill-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const input = path.join(dir, 'long.mp4');
  // 5 minutes of video without re-encoding: far longer to encode than the test waits.
  execFileSync('ffmpeg', ['-v', 'error', '-stream_loop', '99', '-i', CLIP, '-c', 'copy', input]);
  const out = path.join(dir, 'out');
  const srv = await startInProcess();
  t.after(() => srv.stop());
  const client = new Client({ servers: [srv.address] });
  t.after(() => client.close());

  const first = startWorker(t, srv.address);
  let progressed = false;
  const result = client.submit('transcode', JSON.stringify({ input, outDir: out, profiles: ['mp4-720p'] }), {
    onStatus: (n) => {
      if (n > 0) progressed = true;
    },
  });
  result.catch(() => undefined);
  await until('ffmpeg to make progress', () => progressed, 60_000);
  const ffmpeg = ffmpegChildrenOf(first.pid!);
  assert.equal(ffmpeg.length, 1, 'one ffmpeg encoding');
  t.after(() => {
    for (const pid of ffmpeg) if (running(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.equal((await tempFiles(out)).length, 1, 'its temp file is being written');

  first.kill('SIGKILL');
  await until('the killed ffmpeg to be gone', () => !running(ffmpeg[0]!), 10_000).catch(() => undefined);
  assert.ok(!running(ffmpeg[0]!), `ffmpeg ${ffmpeg[0]} still runs after its worker was SIGKILLed`);
  const left = await tempFiles(out);
  assert.equal(left.length, 1, 'the dead attempt left its temp file');

  // The server gives the job to the next worker. A short clip in place of the long one makes
  // the retry quick; the retry clears what the dead attempt left.
  await copyFile(CLIP, input);
  startWorker(t, srv.address);
  const done = JSON.parse((await result).toString('utf8')) as { outputs: { path: string; height: number }[] };
  assert.equal(done.outputs[0]!.path, path.join(out, 'long-720p.mp4'));
  assert.deepEqual(await tempFiles(out), [], 'no temp file remains');
  assert.deepEqual(await filesUnder(out), ['.geartrain/long-720p.mp4.json', 'long-720p.mp4']);
});
