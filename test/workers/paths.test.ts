// The allowed-folder rule every worker shares: paths are checked by what they really are, so a
// symbolic link inside an allowed folder that points outside (to a file, to a folder, as the
// input, as the output folder or a folder on the way to it, as an attachment, as the records
// folder) is refused with GT_PATH_NOT_ALLOWED naming the path, and nothing is read or written
// outside. Links that stay inside are followed.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, realpath, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { emailWorker } from '../../src/workers/email.js';
import { probeWorker } from '../../src/workers/probe.js';
import { thumbnailWorker } from '../../src/workers/thumbnail.js';
import { transcodeWorker } from '../../src/workers/transcode.js';
import { missingTools, ROOT } from '../helpers/servers.js';
import { withWorkers } from '../helpers/workers.js';

const PHOTO = path.join(ROOT, 'fixtures/images/photo-landscape.jpg');
const CLIP = path.join(ROOT, 'fixtures/video/clip.mp4');
const noFfmpeg = missingTools('ffmpeg', 'ffprobe');

/** `allowed/` (the only allowed folder) and `outside/` holding a photo and a clip. */
async function layout(t: TestContext) {
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'gt-paths-')));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const allowed = path.join(dir, 'allowed');
  const outside = path.join(dir, 'outside');
  await mkdir(allowed);
  await mkdir(outside);
  await copyFile(PHOTO, path.join(outside, 'photo.jpg'));
  await copyFile(CLIP, path.join(outside, 'clip.mp4'));
  return { dir, allowed, outside };
}

const sizes = [{ width: 64, format: 'png' }];

test('thumbnail: a link to a file or a folder outside is refused as input, output folder, a folder on the way, and records folder', async (t) => {
  const { allowed, outside } = await layout(t);
  const { call, failure } = await withWorkers(t, [{ factory: thumbnailWorker }], { allowPaths: [allowed] });
  await symlink(path.join(outside, 'photo.jpg'), path.join(allowed, 'photo.jpg'));
  await symlink(outside, path.join(allowed, 'out-link'));
  const outDir = path.join(allowed, 'out');

  assert.equal(
    await failure('thumbnail', { input: path.join(allowed, 'photo.jpg'), outDir, sizes }),
    `GT_PATH_NOT_ALLOWED: Input ${path.join(allowed, 'photo.jpg')} is not allowed: it resolves to ${path.join(outside, 'photo.jpg')}, outside the allowed ` +
      `folders (${allowed})`,
  );
  assert.equal(
    await failure('thumbnail', { input: path.join(allowed, 'out-link', 'photo.jpg'), outDir, sizes }),
    `GT_PATH_NOT_ALLOWED: Input ${path.join(allowed, 'out-link', 'photo.jpg')} is not allowed: it resolves to ${path.join(outside, 'photo.jpg')}, outside ` +
      `the allowed folders (${allowed})`,
  );

  await copyFile(PHOTO, path.join(allowed, 'real.jpg'));
  const input = path.join(allowed, 'real.jpg');
  assert.equal(
    await failure('thumbnail', { input, outDir: path.join(allowed, 'out-link'), sizes }),
    `GT_PATH_NOT_ALLOWED: Output folder ${path.join(allowed, 'out-link')} is not allowed: it resolves to ${outside}, outside the allowed folders (${allowed})`,
  );
  assert.equal(
    await failure('thumbnail', { input, outDir: path.join(allowed, 'out-link', 'new', 'deeper'), sizes }),
    `GT_PATH_NOT_ALLOWED: Output folder ${path.join(allowed, 'out-link', 'new', 'deeper')} is not allowed: it resolves to ` +
      `${path.join(outside, 'new', 'deeper')}, outside the allowed folders (${allowed})`,
  );
  // The records folder of an allowed output folder, linked outside.
  const recOut = path.join(allowed, 'rec');
  await mkdir(recOut);
  await symlink(outside, path.join(recOut, '.geartrain'));
  assert.match(
    await failure('thumbnail', { input, outDir: recOut, sizes }),
    new RegExp(`^GT_PATH_NOT_ALLOWED: Output folder ${recOut}/\\.geartrain is not allowed: it is a symbolic link$`),
  );

  assert.deepEqual((await readdir(outside)).sort(), ['clip.mp4', 'photo.jpg'], 'nothing written outside');
  // A link that stays inside the allowed folder is followed.
  await symlink(input, path.join(allowed, 'inside-link.jpg'));
  const r = await call('thumbnail', { input: path.join(allowed, 'inside-link.jpg'), outDir, sizes });
  assert.equal(r.outputs[0].path, path.join(outDir, 'inside-link-64w.png'));
});

test('transcode and probe: a link to a file outside is refused as input; an output folder linked outside is refused', { skip: noFfmpeg }, async (t) => {
  const { allowed, outside } = await layout(t);
  const { failure } = await withWorkers(t, [{ factory: transcodeWorker }, { factory: probeWorker }], { allowPaths: [allowed] });
  await symlink(path.join(outside, 'clip.mp4'), path.join(allowed, 'clip.mp4'));
  await symlink(outside, path.join(allowed, 'out-link'));
  const refusedInput =
    `GT_PATH_NOT_ALLOWED: Input ${path.join(allowed, 'clip.mp4')} is not allowed: it resolves to ${path.join(outside, 'clip.mp4')}, ` +
    `outside the allowed folders (${allowed})`;
  assert.equal(await failure('transcode', { input: path.join(allowed, 'clip.mp4'), outDir: path.join(allowed, 'out'), profiles: ['mp4-240p'] }), refusedInput);
  assert.equal(await failure('probe', { input: path.join(allowed, 'clip.mp4') }), refusedInput);
  assert.equal(
    await failure('probe', { input: path.join(allowed, 'out-link', 'photo.jpg') }),
    `GT_PATH_NOT_ALLOWED: Input ${path.join(allowed, 'out-link', 'photo.jpg')} is not allowed: it resolves to ${path.join(outside, 'photo.jpg')}, outside ` +
      `the allowed folders (${allowed})`,
  );

  await copyFile(CLIP, path.join(allowed, 'own.mp4'));
  assert.equal(
    await failure('transcode', { input: path.join(allowed, 'own.mp4'), outDir: path.join(allowed, 'out-link', 'sub'), profiles: ['mp4-240p'], poster: true }),
    `GT_PATH_NOT_ALLOWED: Output folder ${path.join(allowed, 'out-link', 'sub')} is not allowed: it resolves to ${path.join(outside, 'sub')}, outside the ` +
      `allowed folders (${allowed})`,
  );
  assert.deepEqual((await readdir(outside)).sort(), ['clip.mp4', 'photo.jpg'], 'nothing written outside');
});

test('email: an attachment linked to a file outside is refused and nothing is mailed', async (t) => {
  const { dir, allowed, outside } = await layout(t);
  const outbox = path.join(dir, 'outbox');
  const { failure } = await withWorkers(t, [{ factory: emailWorker }], { allowPaths: [allowed], email: { outboxDir: outbox } });
  await symlink(path.join(outside, 'photo.jpg'), path.join(allowed, 'report.pdf'));
  await symlink(outside, path.join(allowed, 'docs'));
  const mail = { to: 'a@example.com', subject: 's', text: 't' };
  assert.equal(
    await failure('email', { ...mail, attachments: [{ path: path.join(allowed, 'report.pdf') }] }),
    `GT_PATH_NOT_ALLOWED: email.attachments[0].path ${path.join(allowed, 'report.pdf')} is not allowed: it resolves to ${path.join(outside, 'photo.jpg')}, ` +
      `outside the allowed folders (${allowed})`,
  );
  assert.equal(
    await failure('email', { ...mail, attachments: [{ path: path.join(allowed, 'docs', 'clip.mp4') }] }),
    `GT_PATH_NOT_ALLOWED: email.attachments[0].path ${path.join(allowed, 'docs', 'clip.mp4')} is not allowed: it resolves to ` +
      `${path.join(outside, 'clip.mp4')}, outside the allowed folders (${allowed})`,
  );
  assert.deepEqual(await readdir(outbox).catch(() => []), [], 'nothing mailed');
});

test('a FIFO or a folder as input is refused as not a regular file, without blocking', async (t) => {
  const { allowed } = await layout(t);
  const fifo = path.join(allowed, 'pipe.jpg');
  execFileSync('mkfifo', [fifo]);
  const { failure } = await withWorkers(t, [{ factory: thumbnailWorker }, { factory: probeWorker }], { allowPaths: [allowed] });
  assert.equal(await failure('thumbnail', { input: fifo, outDir: path.join(allowed, 'out'), sizes }), `GT_INPUT_NOT_FOUND: Input ${fifo}: not a regular file`);
  assert.equal(await failure('probe', { input: allowed }), `GT_INPUT_NOT_FOUND: Input ${allowed}: not a regular file`);
});
