// geartrain installed the way a user outside the clone installs it: `npm pack` of this package
// into a tarball, `npm install TARBALL` into a fresh project in a temp folder, then the
// installed bin run from there (`npx --no-install pipeline`, so npx never fetches the unrelated
// `pipeline` package from the registry). Install scripts are skipped to keep it fast: the
// commands run here need no native build (sharp ships prebuilt binaries; the embedded server of
// `pipeline run` keeps its queue in memory). Needs npm and the build; without npm it is skipped,
// unless CI=true.

import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CLI, ROOT } from '../helpers/servers.js';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function missing(): string | false {
  if (!existsSync(CLI)) return 'needs the build (npm run build)';
  if (spawnSync(NPM, ['--version'], { encoding: 'utf8' }).status === 0) return false;
  const msg = 'needs npm on PATH to pack and install the package';
  if (process.env.CI === 'true') throw new Error(`CI is missing required tools: ${msg}`);
  return msg;
}

const skip = missing();

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  // No npm_config_* from an `npm test` parent: the temp project installs as a user's would.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000, env });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} in ${cwd}\n${r.stdout}\n${r.stderr}`);
  return r;
}

test('the packed package installs into another project and its pipeline bin runs there', { skip, timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gt-install-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // dist/ is built already: packing skips the prepare script's second build.
  const packed = run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  const tarball = path.join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  assert.ok(existsSync(tarball), tarball);

  const project = path.join(dir, 'project');
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'gt-install-check', private: true }));
  run(NPM, ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], project);

  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(run('npx', ['--no-install', 'pipeline', '--version'], project).stdout.trim(), version);

  mkdirSync(path.join(project, 'photos'));
  copyFileSync(path.join(ROOT, 'fixtures/images/photo-landscape.jpg'), path.join(project, 'photos/landscape.jpg'));
  const made = run('npx', ['--no-install', 'pipeline', '--log-level', 'silent', 'run', 'thumbnails', 'photos', '--json'], project);
  assert.equal((JSON.parse(made.stdout) as { status: string }).status, 'done');
  const meta = await sharp(path.join(project, 'thumbnails/landscape-320w.webp')).metadata();
  assert.equal(meta.format, 'webp');
  assert.equal(meta.width, 320);
});
