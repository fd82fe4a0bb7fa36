// The payload and result of each built-in worker function, by Gearman function name: what a
// pipeline step calling `fn: 'thumbnail'` must send and gets back.

import type { CacheWarmPayload, CacheWarmResult } from '../workers/cache-warm.js';
import type { EmailPayload, EmailResult } from '../workers/email.js';
import type { ProbePayload, ProbeResult } from '../workers/probe.js';
import type { ThumbnailPayload, ThumbnailResult } from '../workers/thumbnail.js';
import type { TranscodePayload, TranscodeResult } from '../workers/transcode.js';
import type { WaveformPayload, WaveformResult } from '../workers/waveform.js';
import type { WebhookPayload, WebhookResult } from '../workers/webhook.js';

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
