// `pipeline run thumbnails DIR --set fit=cover --set position=attention` as a user runs it (the
// built CLI, embedded workers): the crop keeps an off-centre subject; a position without
// fit=cover is refused before the run starts, naming the field.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { runCli as cli } from '../helpers/cli.js';

test('thumbnails --set fit=cover --set position=attention keeps the subject; a position without cover is refused', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-crop-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'photos'));
  // Flat grey 1200×600, a 160×160 block of stripes near the right edge.
  const stripes = Buffer.alloc(160 * 160 * 3);
  for (let i = 0; i < stripes.length; i += 3) stripes.fill(((i / 3) % 160) % 8 < 4 ? 20 : 235, i, i + 3);
  const subject = await sharp(stripes, { raw: { width: 160, height: 160, channels: 3 } })
    .png()
    .toBuffer();
  await sharp({ create: { width: 1200, height: 600, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([{ input: subject, left: 980, top: 220 }])
    .png()
    .toFile(path.join(dir, 'photos', 'scene.png'));

  const sizes = JSON.stringify([{ width: 300, height: 300, format: 'png' }]);
  const run = await cli(
    ['run', 'thumbnails', 'photos', '--out', 'out', '--json', '--set', `sizes=${sizes}`, '--set', 'fit=cover', '--set', 'position=attention'],
    dir,
  );
  assert.equal(run.code, 0, run.stderr + run.stdout);
  const { data, info } = await sharp(path.join(dir, 'out', 'scene-300x300.png'))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [300, 300]);
  let subjectPixels = 0;
  for (let i = 0; i < data.length; i += info.channels) if (Math.abs(data[i]! - 128) > 8) subjectPixels++;
  assert.ok(subjectPixels > 0.9 * 80 * 80, `the subject (80×80 once scaled) is in the crop: ${subjectPixels} pixels`);

  const bad = await cli(['run', 'thumbnails', 'photos', '--out', 'out2', '--set', 'position=attention'], dir);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /Expected fit cover \(a position says where to crop\) for thumbnail\.fit but received inside of type string \(GT_PIPELINE_INVALID\)/,
  );
});
