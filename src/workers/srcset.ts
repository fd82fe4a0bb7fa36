// The `srcset` attribute for a thumbnail job's outputs: one string per format, widths ascending,
// each file under a URL prefix.

import type { ImageFormat } from '../schema/payloads/thumbnail.js';

export interface SrcsetEntry {
  /** The output's file name. */
  name: string;
  /** Its real width in pixels (the `w` descriptor). */
  width: number;
  format: ImageFormat;
  /** The width asked for: of two outputs equally wide (neither upscaled), the smaller ask is listed. */
  asked: number;
}

/**
 * `{webp: 'a-320w.webp 320w, a-640w.webp 640w'}`. File names are URL-encoded (a space or comma
 * would split a candidate); a width appears once per format, as HTML requires.
 */
export function srcsets(entries: readonly SrcsetEntry[], urlPrefix = ''): Partial<Record<ImageFormat, string>> {
  const prefix = urlPrefix === '' || urlPrefix.endsWith('/') ? urlPrefix : `${urlPrefix}/`;
  const byFormat = new Map<ImageFormat, SrcsetEntry[]>();
  for (const e of entries) byFormat.set(e.format, [...(byFormat.get(e.format) ?? []), e]);
  const out: Partial<Record<ImageFormat, string>> = {};
  for (const [format, list] of byFormat) {
    const sorted = [...list].sort((a, b) => a.width - b.width || a.asked - b.asked);
    const unique = sorted.filter((e, i) => i === 0 || e.width !== sorted[i - 1]!.width);
    out[format] = unique.map((e) => `${prefix}${encodeURIComponent(e.name)} ${e.width}w`).join(', ');
  }
  return out;
}
