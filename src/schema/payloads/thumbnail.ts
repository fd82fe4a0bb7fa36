// `thumbnail`: what a caller sends (sizes and formats of one image, how to fit them) and what the
// worker answers (each output read back, srcset per format, the placeholder).

import Type, { type Static } from 'typebox';
import { Count, FileName, FilePath, Skipped } from './common.js';

export const IMAGE_FORMATS = ['jpeg', 'webp', 'avif', 'png'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export const FITS = ['inside', 'cover', 'contain'] as const;
export type Fit = (typeof FITS)[number];
/** Where `fit: cover` crops: the middle, the most salient region (skin, saturation, luminance), or the busiest. */
export const POSITIONS = ['centre', 'attention', 'entropy'] as const;
export type Position = (typeof POSITIONS)[number];
/** Largest width or height asked for. */
export const MAX_SIDE = 16384;

const Side = Type.Integer({ minimum: 1, maximum: MAX_SIDE });

export const ThumbnailSize = Type.Object(
  {
    width: Side,
    /** `jpg` is taken for `jpeg`. */
    format: Type.Enum([...IMAGE_FORMATS, 'jpg'], { expected: `one of ${IMAGE_FORMATS.join(', ')}` }),
    /** With a height the output is `fit` into width × height; without, the width alone bounds it. */
    height: Type.Optional(Side),
    /** @defaultValue jpeg 80, webp 80, avif 50, png 100 (lossless) */
    quality: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);
export type ThumbnailSize = Static<typeof ThumbnailSize>;

export const ThumbnailPayload = Type.Object(
  {
    input: FilePath,
    outDir: FilePath,
    sizes: Type.Array(ThumbnailSize, { minItems: 1, maxItems: 32 }),
    fit: Type.Optional(Type.Enum(FITS, { default: 'inside' })),
    /** Where cover crops (sharp's strategies); only with `fit: cover`, which crops at the centre without it. */
    position: Type.Optional(Type.Enum(POSITIONS)),
    stripMetadata: Type.Optional(Type.Boolean({ default: true })),
    /** Give the result a ThumbHash and the dominant colour. */
    placeholder: Type.Optional(Type.Boolean({ default: true })),
    /**
     * The colour behind the image: contain's padding, and what transparent areas become in JPEG.
     * Absent: transparent padding, white under JPEG.
     */
    background: Type.Optional(
      Type.String({ pattern: '^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$', expected: 'a colour #rgb, #rgba, #rrggbb or #rrggbbaa' }),
    ),
    /** Base of the output names. Absent: the input's name without extension. */
    name: Type.Optional(FileName),
    /** What goes before each file name in srcset (whitespace and commas separate candidates there); a `/` is added when missing. */
    urlPrefix: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4096, pattern: '^[^\\s,]*$', expected: 'a URL prefix of 1 to 4096 characters without whitespace or commas' }),
    ),
  },
  { additionalProperties: false },
);
export type ThumbnailPayload = Static<typeof ThumbnailPayload>;

export const ThumbnailOutput = Type.Object(
  {
    path: Type.String(),
    width: Count,
    height: Count,
    format: Type.Enum(IMAGE_FORMATS),
    bytes: Count,
    /** An animated WebP made from an animated input. */
    animated: Type.Optional(Type.Literal(true)),
    skipped: Skipped,
  },
  { additionalProperties: false },
);
export type ThumbnailOutput = Static<typeof ThumbnailOutput>;

/** An image's placeholder, shown while the real image loads. */
export const Placeholder = Type.Object(
  {
    /** ThumbHash bytes in base64; decode with thumbhash's `thumbHashToDataURL`/`thumbHashToRGBA`. */
    thumbhash: Type.String({ minLength: 1 }),
    /** The colour covering most of the image. */
    dominant: Type.String({ pattern: '^#[0-9a-f]{6}$', expected: 'a colour #rrggbb' }),
  },
  { additionalProperties: false },
);
export type Placeholder = Static<typeof Placeholder>;

const Srcset = Type.String({ minLength: 1 });

export const ThumbnailResult = Type.Object(
  {
    input: Type.String(),
    /** The source, upright. */
    width: Count,
    height: Count,
    format: Type.String(),
    outputs: Type.Array(ThumbnailOutput),
    /** Per format, the outputs as an HTML `srcset` value, widths ascending. */
    srcset: Type.Object(
      { jpeg: Type.Optional(Srcset), webp: Type.Optional(Srcset), avif: Type.Optional(Srcset), png: Type.Optional(Srcset) },
      { additionalProperties: false },
    ),
    /** Unless the payload says `placeholder: false`. */
    placeholder: Type.Optional(Placeholder),
  },
  { additionalProperties: false },
);
export type ThumbnailResult = Static<typeof ThumbnailResult>;
