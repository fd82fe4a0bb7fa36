// An image's placeholder: its ThumbHash (the image blurred into ~25 bytes, aspect ratio and alpha
// kept) and its dominant colour, both from a copy of at most 100×100 pixels of the upright sRGB
// image the thumbnail worker has already decoded.

import type sharpNs from 'sharp';
import type { Sharp } from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';

export interface Placeholder {
  /** ThumbHash bytes in base64; decode with thumbhash's `thumbHashToDataURL`/`thumbHashToRGBA`. */
  thumbhash: string;
  /** The colour covering most of the image, `#rrggbb`. */
  dominant: string;
}

/** ThumbHash's encoder takes at most 100 pixels a side. */
const SIDE = 100;
/** The width of one of stats()' 16 bins per channel. */
const BIN = 16;

const hex = (v: number): string => Math.round(v).toString(16).padStart(2, '0');

/**
 * The placeholder of `img`, an upright sRGB pipeline (the decoded raw buffer, or the file with
 * rotate()). `load` is sharp itself, to read statistics of the small copy.
 */
export async function placeholderOf(img: Sharp, load: typeof sharpNs): Promise<Placeholder> {
  const { data, info } = await img.resize({ width: SIDE, height: SIDE, fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const thumbhash = Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64');
  // stats() reads the image it is given, not the pipeline's result, so it gets the small copy.
  // Its dominant colour is the centre of the fullest of 16×16×16 bins (a pure #1e90ff comes back
  // #1888f8); the mean of the opaque pixels within a bin's width of that centre is the colour itself.
  const { dominant: d } = await load(data, { raw: { width: info.width, height: info.height, channels: 4 } }).stats();
  const near = (v: number, centre: number): boolean => Math.abs(v - centre) <= BIN;
  let [r, g, b, n] = [0, 0, 0, 0];
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0 || !near(data[i]!, d.r) || !near(data[i + 1]!, d.g) || !near(data[i + 2]!, d.b)) continue;
    r += data[i]!;
    g += data[i + 1]!;
    b += data[i + 2]!;
    n++;
  }
  const colour = n === 0 ? [d.r, d.g, d.b] : [r / n, g / n, b / n];
  return { thumbhash, dominant: `#${colour.map(hex).join('')}` };
}
