// `probe`: what a caller sends (one file) and what the worker answers (what the file is).

import Type, { type Static } from 'typebox';
import { Count, FilePath } from './common.js';

export const ProbePayload = Type.Object({ input: FilePath }, { additionalProperties: false });
export type ProbePayload = Static<typeof ProbePayload>;

export const ProbeResult = Type.Object(
  {
    kind: Type.Enum(['image', 'video', 'audio']),
    /** sharp's format name for an image (`jpeg`), ffprobe's for video and audio (`mov,mp4,m4a,3gp,3g2,mj2`). */
    format: Type.String(),
    bytes: Count,
    /** Upright (EXIF orientation applied). */
    width: Type.Optional(Count),
    height: Type.Optional(Count),
    /** Frames of an animated image. */
    pages: Type.Optional(Type.Integer({ minimum: 2 })),
    durationSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    videoCodec: Type.Optional(Type.String()),
    audioCodec: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type ProbeResult = Static<typeof ProbeResult>;
