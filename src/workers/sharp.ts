// sharp, loaded on first use. Every command goes through one CLI module graph, and sharp maps
// libvips as soon as it is imported: about 20 MB of RSS in `pipeline server`, which never makes
// an image, and in the email and cache-warm workers.

import type sharpNs from 'sharp';

let loading: Promise<typeof sharpNs> | null = null;

export function loadSharp(): Promise<typeof sharpNs> {
  loading ??= import('sharp').then((m) => m.default);
  return loading;
}
