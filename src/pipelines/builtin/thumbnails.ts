// `pipeline run thumbnails ./dir`: every image under a folder (recursively) → thumbnails in
// --out, mirroring the folder tree → a summary; `--notify ADDRESS` emails it, `--notify-url URL`
// POSTs it with the outputs (signed, by the webhook worker).

import path from 'node:path';
import { pipeline } from '../define.js';
import type { InputFile } from '../input.js';
import { NOTIFY_URL_OPTION, notifyUrlStep, outputFile } from './notify-url.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff'];

export const DEFAULT_SIZES = [
  { width: 320, format: 'webp' },
  { width: 640, format: 'webp' },
  { width: 1280, format: 'jpeg' },
];

export const thumbnails = pipeline('thumbnails', {
  description: 'every image under a folder → thumbnail sizes in --out (same tree) → summary; --notify emails it, --notify-url POSTs it',
  input: 'folder',
  extensions: IMAGE_EXTENSIONS,
  options: {
    sizes: { description: 'thumbnail sizes: [{width, height?, format, quality?}]', default: DEFAULT_SIZES },
    fit: { description: 'inside, cover or contain', default: 'inside' },
    position: { description: 'where cover crops: centre, attention or entropy (with fit=cover)' },
    notify: { description: 'email address that gets the summary' },
    notifyUrl: NOTIFY_URL_OPTION,
  },
})
  .step('thumbnail', {
    fn: 'thumbnail',
    forEach: (s) => s.input.files as InputFile[],
    itemKey: (f: InputFile) => f.rel,
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
    when: (s) => typeof s.options.notify === 'string' && s.options.notify !== '',
    payload: (s) => ({
      to: s.options.notify,
      template: 'thumbnails-done',
      vars: {
        count: s.steps.thumbnail?.results?.length ?? 0,
        failed: s.steps.thumbnail?.failed ?? 0,
        outputs: (s.steps.thumbnail?.results ?? []).reduce((n: number, r: { outputs?: unknown[] }) => n + (r.outputs?.length ?? 0), 0),
        failures: failureLines(s.steps.thumbnail?.failures ?? []),
        input: s.input.dir,
        outDir: s.run.out,
        runId: s.run.id,
      },
    }),
  })
  .step(
    'webhook',
    notifyUrlStep('thumbnails', ['thumbnail'], (s) => {
      const results = (s.steps.thumbnail?.results ?? []) as { input: string; outputs: { path: string; width: number; height: number; format: string; bytes: number }[] }[];
      return {
        images: results.length,
        failed: s.steps.thumbnail?.failed ?? 0,
        failures: s.steps.thumbnail?.failures ?? [],
        outputs: results.flatMap((r) =>
          r.outputs.map((o) => ({ source: path.relative(s.input.dir, r.input).split(path.sep).join('/'), file: outputFile(s, o.path), width: o.width, height: o.height, format: o.format, bytes: o.bytes })),
        ),
      };
    }),
  )
  // Every image failed: the step above is skipped, this one says so. (Some failing is a `done`
  // summary with its failures listed.)
  .step('webhook-failed', {
    ...notifyUrlStep('thumbnails', ['thumbnail'], (s) => ({ images: 0, failed: s.steps.thumbnail?.failed ?? 0, failures: s.steps.thumbnail?.failures ?? [] }), { failed: true }),
    when: (s) => typeof s.options.notifyUrl === 'string' && s.options.notifyUrl !== '' && s.steps.thumbnail?.status === 'failed',
  })
  .build();

/** Most failures a summary mail lists one by one; the rest are counted. */
const MAX_LISTED = 50;

/** `  corrupt.jpg: GT_MEDIA_INVALID: …`, one line per failed image. */
function failureLines(failures: { item: string; error: string }[]): string {
  if (failures.length === 0) return '  none';
  const lines = failures.slice(0, MAX_LISTED).map((f) => `  ${f.item}: ${f.error}`);
  if (failures.length > MAX_LISTED) lines.push(`  … and ${failures.length - MAX_LISTED} more (pipeline runs --out OUT shows them all)`);
  return lines.join('\n');
}
