// `pipeline run thumbnails ./dir`: every image under a folder (recursively) → thumbnails in
// --out, mirroring the folder tree → a summary; `--notify ADDRESS` emails it, `--notify-url URL`
// POSTs it with the outputs (signed, by the webhook worker).

import path from 'node:path';
import type { BuiltinFunctions } from '../../schema/workers.js';
import { pipeline } from '../builder.js';
import type { Failure } from '../types.js';
import { NOTIFY_URL_OPTION, notifyUrlPayload, notifyUrlSet, outputFile } from './notify-url.js';
import { ADDRESS, FIT, POSITION, SIZES } from './options.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff'];

export const DEFAULT_SIZES: BuiltinFunctions['thumbnail']['payload']['sizes'] = [
  { width: 320, format: 'webp' },
  { width: 640, format: 'webp' },
  { width: 1280, format: 'jpeg' },
];

export const thumbnails = pipeline('thumbnails', {
  description: 'every image under a folder → thumbnail sizes in --out (same tree) → summary; --notify emails it, --notify-url POSTs it',
  input: 'folder',
  extensions: IMAGE_EXTENSIONS,
  options: {
    sizes: { description: 'thumbnail sizes: [{width, height?, format, quality?}]', default: DEFAULT_SIZES, schema: SIZES },
    fit: { description: 'inside, cover or contain', default: 'inside', schema: FIT },
    position: { description: 'where cover crops: centre, attention or entropy (with fit=cover)', schema: POSITION },
    notify: { description: 'email address that gets the summary', schema: ADDRESS },
    notifyUrl: NOTIFY_URL_OPTION,
  },
})
  .step('thumbnail', {
    fn: 'thumbnail',
    forEach: (s) => s.input.files,
    itemKey: (f) => f.rel,
    payload: (s) => ({
      input: s.item.path,
      outDir: path.join(s.run.out, s.item.dir),
      name: s.item.outputBase,
      sizes: s.options.sizes,
      fit: s.options.fit,
      ...(s.options.position !== undefined ? { position: s.options.position } : {}),
    }),
  })
  .step('notify', {
    fn: 'email',
    needs: ['thumbnail'],
    when: (s) => s.options.notify !== undefined && s.options.notify !== '',
    payload: (s) => ({
      to: s.options.notify ?? '',
      template: 'thumbnails-done',
      vars: {
        count: s.steps.thumbnail.results.length,
        failed: s.steps.thumbnail.failed,
        outputs: s.steps.thumbnail.results.reduce((n, r) => n + r.outputs.length, 0),
        failures: failureLines(s.steps.thumbnail.failures),
        input: s.input.dir,
        outDir: s.run.out,
        runId: s.run.id,
      },
    }),
  })
  .step('webhook', {
    fn: 'webhook',
    needs: ['thumbnail'],
    when: notifyUrlSet,
    payload: (s) => {
      const { results, failed, failures } = s.steps.thumbnail;
      return notifyUrlPayload('thumbnails', s, 'done', {
        images: results.length,
        failed,
        failures,
        outputs: results.flatMap((r) =>
          r.outputs.map((o) => ({
            source: path.relative(s.input.dir, r.input).split(path.sep).join('/'),
            file: outputFile(s, o.path),
            width: o.width,
            height: o.height,
            format: o.format,
            bytes: o.bytes,
          })),
        ),
      });
    },
  })
  // Every image failed: the step above is skipped, this one says so. (Some failing is a `done`
  // summary with its failures listed.)
  .step('webhook-failed', {
    fn: 'webhook',
    needs: ['thumbnail'],
    onFailure: true,
    when: (s) => notifyUrlSet(s) && s.steps.thumbnail.status === 'failed',
    payload: (s) => notifyUrlPayload('thumbnails', s, 'failed', { images: 0, failed: s.steps.thumbnail.failed, failures: s.steps.thumbnail.failures }),
  })
  .build();

/** Most failures a summary mail lists one by one; the rest are counted. */
const MAX_LISTED = 50;

/** `  corrupt.jpg: GT_MEDIA_INVALID: …`, one line per failed image. */
function failureLines(failures: readonly Failure[]): string {
  if (failures.length === 0) return '  none';
  const lines = failures.slice(0, MAX_LISTED).map((f) => `  ${f.item}: ${f.error}`);
  if (failures.length > MAX_LISTED) lines.push(`  … and ${failures.length - MAX_LISTED} more (pipeline runs --out OUT shows them all)`);
  return lines.join('\n');
}
