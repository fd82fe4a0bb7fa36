// `waveform`: what a caller sends (one audio file, how many points, the PNG's size and colours)
// and what the worker answers (the peaks JSON and the PNG).

import Type, { type Static } from 'typebox';
import { Count, FileName, FilePath, Skipped } from './common.js';

const colour = (dflt: string) => Type.String({ pattern: '^#[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?$', expected: 'a colour #rrggbb or #rrggbbaa', default: dflt });

export const WaveformPayload = Type.Object(
  {
    input: FilePath,
    outDir: FilePath,
    /** Buckets in the JSON. */
    points: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 })),
    /** PNG width in pixels, one bucket per column. */
    width: Type.Optional(Type.Integer({ minimum: 1, maximum: 16384, default: 1800 })),
    height: Type.Optional(Type.Integer({ minimum: 2, maximum: 4096, default: 280 })),
    colour: Type.Optional(colour('#2563eb')),
    background: Type.Optional(colour('#00000000')),
    /** Base of the output names (`NAME-waveform.json`). Absent: the input's name without extension. */
    name: Type.Optional(FileName),
  },
  { additionalProperties: false },
);
export type WaveformPayload = Static<typeof WaveformPayload>;

export const WaveformOutput = Type.Object(
  {
    path: Type.String(),
    format: Type.Enum(['json', 'png']),
    bytes: Count,
    /** JSON: its buckets. */
    points: Type.Optional(Count),
    /** PNG: its size. */
    width: Type.Optional(Count),
    height: Type.Optional(Count),
    skipped: Skipped,
  },
  { additionalProperties: false },
);
export type WaveformOutput = Static<typeof WaveformOutput>;

export const WaveformResult = Type.Object(
  {
    input: Type.String(),
    durationSeconds: Type.Number({ minimum: 0 }),
    sampleRate: Count,
    /** The peaks JSON, then the PNG. */
    outputs: Type.Tuple([WaveformOutput, WaveformOutput]),
  },
  { additionalProperties: false },
);
export type WaveformResult = Static<typeof WaveformResult>;

/** What the peaks JSON file holds. */
export const PeaksFile = Type.Object(
  {
    durationSeconds: Type.Number({ minimum: 0 }),
    sampleRate: Count,
    /** Samples decoded (mono). */
    samples: Count,
    points: Count,
    /** `points` pairs [min, max] in [-1, 1]. */
    peaks: Type.Array(Type.Tuple([Type.Number({ minimum: -1, maximum: 1 }), Type.Number({ minimum: -1, maximum: 1 })])),
  },
  { additionalProperties: false },
);
export type PeaksFile = Static<typeof PeaksFile>;
