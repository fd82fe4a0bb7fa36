// `pipeline runs` finds runs where `pipeline run NAME` writes them (./NAME unless --out), so the
// two commands agree without flags. The built CLI as a user runs it, real sharp on one image.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CLI, ROOT } from '../helpers/servers.js';

const skip = existsSync(CLI) ? false : 'needs the build (npm run build)';

const cli = (args: string[], cwd: string) => spawnSync(process.execPath, [CLI, '--log-level', 'silent', ...args], { cwd, encoding: 'utf8', timeout: 60_000 });

test('pipeline runs without --out lists the runs pipeline run wrote to ./NAME, and shows one by id', { skip, timeout: 120_000 }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gt-runs-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'photos'));
  copyFileSync(path.join(ROOT, 'fixtures/images/alpha.png'), path.join(dir, 'photos/alpha.png'));
  const run = cli(['run', 'thumbnails', 'photos', '--json'], dir);
  assert.equal(run.status, 0, run.stderr);
  const runId = (JSON.parse(run.stdout) as { id: string }).id;
  assert.ok(existsSync(path.join(dir, 'thumbnails', '.geartrain', 'runs', `${runId}.json`)));

  const list = cli(['runs', '--json'], dir);
  assert.equal(list.status, 0, list.stderr);
  const runs = JSON.parse(list.stdout) as { id: string; pipeline: string; status: string }[];
  assert.deepEqual(
    runs.map((r) => [r.id, r.pipeline, r.status]),
    [[runId, 'thumbnails', 'done']],
  );
  const one = cli(['runs', runId, '--json'], dir);
  assert.equal(one.status, 0, one.stderr);
  assert.equal((JSON.parse(one.stdout) as { id: string }).id, runId);
  // --out still names one folder; a folder without runs lists none.
  const elsewhere = cli(['runs', '--out', 'photos', '--json'], dir);
  assert.deepEqual(JSON.parse(elsewhere.stdout), []);
});
