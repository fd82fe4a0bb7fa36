// The built `pipeline` command's exit codes, case by case, against the error table in
// src/errors.ts: each refusal prints `(GT_CODE)` on stderr and exits with that code's `exit`.
// Run `npm run build` first: these tests exercise dist/, not src/.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { CLI, ROOT } from '../helpers/servers.js';

const skip = existsSync(CLI) ? false : 'needs the build (npm run build)';

test("each CLI refusal exits with its error code's exit status from src/errors.ts", { skip, timeout: 120_000 }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gt-exit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  writeFileSync(path.join(empty, 'notes.txt'), 'not an image');
  const images = path.join(ROOT, 'fixtures/images');
  writeFileSync(path.join(dir, 'broken.yaml'), 'name: broken\ninput: folder\nsteps:\n  - id: a\n    fn: thumbnail\n    needs: [zz]\n    payload: {}\n');
  writeFileSync(path.join(dir, 'bad.config.json'), JSON.stringify({ workers: { thumbnail: { processes: -1 } } }));

  const cases: { args: string[]; code: ErrorCode }[] = [
    { args: ['run', 'thumbnails', path.join(dir, 'no-such-folder')], code: 'GT_INPUT_NOT_FOUND' },
    { args: ['run', 'thumbnails', empty, '--out', path.join(dir, 'out')], code: 'GT_INPUT_NOT_FOUND' },
    { args: ['run', 'thumbnails', path.join(images, 'photo-landscape.jpg')], code: 'GT_INPUT_NOT_FOUND' },
    { args: ['run', 'thumbnails', images, '--out', path.join(images, 'inside')], code: 'GT_PATH_NOT_ALLOWED' },
    { args: ['run', 'no-such-pipeline', images], code: 'GT_PIPELINE_NOT_FOUND' },
    { args: ['run', path.join(dir, 'broken.yaml'), images], code: 'GT_PIPELINE_INVALID' },
    { args: ['run', 'thumbnails', images, '--set', 'colour=1'], code: 'GT_INVALID_ARGUMENT' },
    { args: ['server', '--store', 'bogus:x'], code: 'GT_STORE_URL_INVALID' },
    { args: ['server', '--port', '0', '--store', 'memory:', '--http-port', '0', '--http-host', '0.0.0.0'], code: 'GT_INVALID_ARGUMENT' },
    { args: ['server', '--http-token', 'x'], code: 'GT_INVALID_ARGUMENT' },
    { args: ['up', '-c', path.join(dir, 'bad.config.json'), '--socket', path.join(dir, 'sup.sock')], code: 'GT_INVALID_ARGUMENT' },
    { args: ['submit', 'exit_fn', 'x', '-s', '127.0.0.1:1'], code: 'GT_NO_SERVERS' },
  ];
  for (const c of cases) {
    const r = spawnSync(process.execPath, [CLI, '--log-level', 'silent', ...c.args], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, GEARTRAIN_STORE: 'memory:' },
    });
    const what = `pipeline ${c.args.join(' ')}\nstderr: ${r.stderr}`;
    assert.match(r.stderr, new RegExp(`\\(${c.code}\\)`), what);
    assert.equal(r.status, ERRORS[c.code].exit, what);
  }
});
