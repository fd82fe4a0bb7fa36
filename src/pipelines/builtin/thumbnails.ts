// `pipeline run thumbnails ./dir`: every image under a folder (recursively) → thumbnails in
// --out, mirroring the folder tree → a summary; `--notify ADDRESS` emails it.

import path from 'node:path';
import { pipeline } from '../define.js';
import type { InputFile } from '../input.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff'];

export const DEFAULT_SIZES = [
  { width: 320, format: 'webp' },
  { width: 640, format: 'webp' },
  { width: 1280, format: 'jpeg' },
];

export const thumbnails = pipeline('thumbnails', {
  description: 'every image under a folder → thumbnail sizes in --out (same tree) → summary; --notify emails it',
  input: 'folder',
  extensions: IMAGE_EXTENSIONS,
  options: {
    sizes: { description: 'thumbnail sizes: [{width, height?, format, quality?}]', default: DEFAULT_SIZES },
    fit: { description: 'inside, cover or contain', default: 'inside' },
    notify: { description: 'email address that gets the summary' },
  },
})
  .step('thumbnail', {
    fn: 'thumbnail',
    forEach: (s) => s.input.files as InputFile[],
    itemKey: (f: InputFile) => f.rel,
    payload: (s) => ({ input: s.item.path, outDir: path.join(s.run.out, s.item.dir), name: s.item.outputBase, sizes: s.options.sizes, fit: s.options.fit }),
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
