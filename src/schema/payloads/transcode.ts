// `transcode`: what a caller sends (renditions of one video, a poster, a storyboard, an HLS
// ladder) and what the worker answers (the probe of the source and each output read back).

import Type, { type Static } from 'typebox';
import { Count, FileName, FilePath, Skipped } from './common.js';

/** Profiles that make one file each. */
export const FILE_PROFILES = ['mp4-1080p', 'mp4-720p', 'mp4-480p', 'mp4-240p', 'webm-720p', 'audio-m4a', 'audio-opus'] as const;
export type FileProfile = (typeof FILE_PROFILES)[number];
/** `hls` makes a folder: an adaptive-streaming ladder. */
export const PROFILES = [...FILE_PROFILES, 'hls'] as const;
export type Profile = (typeof PROFILES)[number];
export const POSTER_FORMATS = ['jpeg', 'webp'] as const;
export type PosterFormat = (typeof POSTER_FORMATS)[number];
export const STORYBOARD_FORMATS = ['jpeg', 'webp'] as const;
export type StoryboardFormat = (typeof STORYBOARD_FORMATS)[number];

export const PosterOptions = Type.Object(
  {
    /** Capped at half the duration. @defaultValue 1 */
    atSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    /** Never wider than the source. @defaultValue the source's width, at most 1280 */
    width: Type.Optional(Type.Integer({ minimum: 16, maximum: 7680 })),
    format: Type.Optional(Type.Enum(POSTER_FORMATS, { default: 'jpeg' })),
  },
  { additionalProperties: false },
);
export type PosterOptions = Static<typeof PosterOptions>;

/** A sprite sheet and WebVTT cues for scrub previews. */
export const StoryboardOptions = Type.Object(
  {
    format: Type.Optional(Type.Enum(STORYBOARD_FORMATS, { default: 'jpeg' })),
    /** @defaultValue the whole seconds that keep the tiles at most 100: max(1, ceil(duration / 100)) */
    intervalSeconds: Type.Optional(Type.Number({ minimum: 0.5, maximum: 3600 })),
    /** Tile width; the height follows the aspect ratio. @defaultValue 160, never wider than the source */
    width: Type.Optional(Type.Integer({ minimum: 32, maximum: 640 })),
  },
  { additionalProperties: false },
);
export type StoryboardOptions = Static<typeof StoryboardOptions>;

/** One rung of an HLS ladder: the shorter side (height of a landscape video) and the video bit rate in kbit/s. */
export const Rung = Type.Object(
  {
    height: Type.Integer({ minimum: 16, maximum: 4320 }),
    videoKbps: Type.Integer({ minimum: 32, maximum: 100_000 }),
  },
  { additionalProperties: false },
);
export type Rung = Static<typeof Rung>;

/** Options of the `hls` profile. */
export const HlsOptions = Type.Object(
  {
    /** Each height once. @defaultValue 1080p 5000, 720p 2800, 480p 1400, 240p 400 kbit/s */
    ladder: Type.Optional(Type.Array(Rung, { minItems: 1, maxItems: 8 })),
    segmentSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, default: 4 })),
    /** Add an audio-only variant (for very slow links). */
    audioOnly: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
export type HlsOptions = Static<typeof HlsOptions>;

export const TranscodePayload = Type.Object(
  {
    input: FilePath,
    outDir: FilePath,
    /** Each profile once; none is fine with a poster or a storyboard. */
    profiles: Type.Array(Type.Enum(PROFILES), { minItems: 0, maxItems: PROFILES.length }),
    /** `true` for the defaults. */
    poster: Type.Optional(Type.Union([Type.Boolean(), PosterOptions], { expected: 'true or a JSON object' })),
    /** `true` for the defaults. */
    storyboard: Type.Optional(Type.Union([Type.Boolean(), StoryboardOptions], { expected: 'true or a JSON object' })),
    /** Only with the `hls` profile. */
    hls: Type.Optional(HlsOptions),
    /** Base of the output names. Absent: the input's name without extension. */
    name: Type.Optional(FileName),
  },
  { additionalProperties: false },
);
export type TranscodePayload = Static<typeof TranscodePayload>;

/** What ffprobe says of a video or audio file. */
export const MediaProbe = Type.Object(
  {
    /** ffprobe's format name (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, …). */
    format: Type.String(),
    durationSeconds: Type.Number({ minimum: 0 }),
    /** Overall bit rate in bits/s. */
    bitrate: Type.Optional(Type.Number({ minimum: 0 })),
    width: Type.Optional(Count),
    height: Type.Optional(Count),
    videoCodec: Type.Optional(Type.String()),
    fps: Type.Optional(Type.Number({ minimum: 0 })),
    /** Degrees the player turns the picture (phone videos); width/height already account for it. */
    rotation: Type.Optional(Type.Number()),
    pixelFormat: Type.Optional(Type.String()),
    audioCodec: Type.Optional(Type.String()),
    audioChannels: Type.Optional(Count),
    sampleRate: Type.Optional(Count),
  },
  { additionalProperties: false },
);
export type MediaProbe = Static<typeof MediaProbe>;

/** One variant of an HLS ladder. */
export const HlsVariant = Type.Object(
  {
    /** The variant's media playlist. */
    path: Type.String(),
    /** Absent for the audio-only variant. */
    width: Type.Optional(Count),
    height: Type.Optional(Count),
    /** BANDWIDTH of the master playlist, bit/s. */
    bandwidth: Count,
  },
  { additionalProperties: false },
);
export type HlsVariant = Static<typeof HlsVariant>;

export const TranscodeOutput = Type.Object(
  {
    profile: Type.Enum(PROFILES),
    /** The file; for `hls`, the master playlist in the ladder's folder. */
    path: Type.String(),
    width: Type.Optional(Count),
    height: Type.Optional(Count),
    bytes: Count,
    durationSeconds: Type.Number({ minimum: 0 }),
    /** `hls` only: its variants (width, height: the largest). */
    variants: Type.Optional(Type.Array(HlsVariant)),
    /** `hls` only: segment files over all variants. */
    segments: Type.Optional(Count),
    skipped: Skipped,
  },
  { additionalProperties: false },
);
export type TranscodeOutput = Static<typeof TranscodeOutput>;

export const PosterOutput = Type.Object(
  {
    path: Type.String(),
    width: Count,
    height: Count,
    format: Type.Enum(POSTER_FORMATS),
    atSeconds: Type.Number({ minimum: 0 }),
    bytes: Count,
    skipped: Skipped,
  },
  { additionalProperties: false },
);
export type PosterOutput = Static<typeof PosterOutput>;

/** The sheet's layout: tile i is at column i % columns, row floor(i / columns). */
export const StoryboardLayout = Type.Object({
  intervalSeconds: Type.Number({ exclusiveMinimum: 0 }),
  tiles: Count,
  columns: Count,
  rows: Count,
  tileWidth: Count,
  tileHeight: Count,
});
export type StoryboardLayout = Static<typeof StoryboardLayout>;

export const StoryboardOutput = Type.Object(
  {
    /** The sprite sheet. */
    path: Type.String(),
    /** The WebVTT file; its cues name the sheet by its file name. */
    vtt: Type.String(),
    format: Type.Enum(STORYBOARD_FORMATS),
    ...StoryboardLayout.properties,
    bytes: Count,
    skipped: Skipped,
  },
  { additionalProperties: false },
);
export type StoryboardOutput = Static<typeof StoryboardOutput>;

export const TranscodeResult = Type.Object(
  {
    input: Type.String(),
    durationSeconds: Type.Number({ minimum: 0 }),
    probe: MediaProbe,
    /** One per profile, in the payload's order. */
    outputs: Type.Array(TranscodeOutput),
    poster: Type.Optional(PosterOutput),
    storyboard: Type.Optional(StoryboardOutput),
  },
  { additionalProperties: false },
);
export type TranscodeResult = Static<typeof TranscodeResult>;
