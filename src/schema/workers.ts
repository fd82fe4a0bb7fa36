// The payload and result of each built-in worker function, by Gearman function name: what a
// pipeline step calling `fn: 'thumbnail'` must send and gets back, as TypeBox schemas (the
// published JSON Schemas are generated from these) and as TypeScript types.

import type { Static, TSchema } from 'typebox';
import { CacheWarmPayload, CacheWarmResult } from './payloads/cache-warm.js';
import { EmailPayload, EmailResult } from './payloads/email.js';
import { ProbePayload, ProbeResult } from './payloads/probe.js';
import { ThumbnailPayload, ThumbnailResult } from './payloads/thumbnail.js';
import { TranscodePayload, TranscodeResult } from './payloads/transcode.js';
import { WaveformPayload, WaveformResult } from './payloads/waveform.js';
import { WebhookPayload, WebhookResult } from './payloads/webhook.js';

/** What a caller sends each built-in function; the worker checks it against this schema. */
export const PAYLOAD_SCHEMAS = {
  thumbnail: ThumbnailPayload,
  transcode: TranscodePayload,
  email: EmailPayload,
  'cache-warm': CacheWarmPayload,
  probe: ProbePayload,
  waveform: WaveformPayload,
  webhook: WebhookPayload,
} as const satisfies Record<string, TSchema>;

/** What each built-in function answers (the job's JSON result). */
export const RESULT_SCHEMAS = {
  thumbnail: ThumbnailResult,
  transcode: TranscodeResult,
  email: EmailResult,
  'cache-warm': CacheWarmResult,
  probe: ProbeResult,
  waveform: WaveformResult,
  webhook: WebhookResult,
} as const satisfies Record<keyof typeof PAYLOAD_SCHEMAS, TSchema>;

export interface BuiltinFunctions {
  thumbnail: { payload: ThumbnailPayload; result: ThumbnailResult };
  transcode: { payload: TranscodePayload; result: TranscodeResult };
  email: { payload: EmailPayload; result: EmailResult };
  'cache-warm': { payload: CacheWarmPayload; result: CacheWarmResult };
  probe: { payload: ProbePayload; result: ProbeResult };
  waveform: { payload: WaveformPayload; result: WaveformResult };
  webhook: { payload: WebhookPayload; result: WebhookResult };
}

export type BuiltinFunctionName = keyof BuiltinFunctions;

/** BuiltinFunctions says the same as the schemas: a function added to one and not the other fails to compile. */
type FromSchemas = { [K in BuiltinFunctionName]: { payload: Static<(typeof PAYLOAD_SCHEMAS)[K]>; result: Static<(typeof RESULT_SCHEMAS)[K]> } };
const _sameFunctions: [FromSchemas, BuiltinFunctions] extends [BuiltinFunctions, FromSchemas] ? true : never = true;
void _sameFunctions;
