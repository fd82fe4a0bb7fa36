// The payload and result of each built-in worker function, by Gearman function name: what a
// pipeline step calling `fn: 'thumbnail'` must send and gets back. A payload here is the JSON a
// caller sends (fields with a default may be left out), not the worker's checked form.

import type { CacheWarmPayload, CacheWarmResult } from '../workers/cache-warm.js';
import type { EmailPayload, EmailResult } from '../workers/email.js';
import type { ProbePayload, ProbeResult } from '../workers/probe.js';
import type { ThumbnailPayload, ThumbnailResult } from '../workers/thumbnail.js';
import type { PosterOptions, TranscodePayload, TranscodeResult } from '../workers/transcode.js';
import type { WaveformPayload, WaveformResult } from '../workers/waveform.js';
import type { WebhookPayload, WebhookResult } from '../workers/webhook.js';

/** The checked form with `required` kept and every other field optional, `replaced` swapped for its JSON form. */
type Sent<T, Required extends keyof T, Replaced = object> = Omit<Pick<T, Required> & Partial<Omit<T, Required>>, keyof Replaced> & Replaced;

export interface BuiltinFunctions {
  thumbnail: { payload: Sent<ThumbnailPayload, 'input' | 'outDir' | 'sizes', { background?: string }>; result: ThumbnailResult };
  transcode: { payload: Sent<TranscodePayload, 'input' | 'outDir', { poster?: boolean | Partial<PosterOptions> }>; result: TranscodeResult };
  email: { payload: Sent<EmailPayload, never, { to: string | string[]; cc?: string | string[]; bcc?: string | string[] }>; result: EmailResult };
  'cache-warm': { payload: Sent<CacheWarmPayload, never, { urls: string[] }>; result: CacheWarmResult };
  probe: { payload: ProbePayload; result: ProbeResult };
  waveform: { payload: Sent<WaveformPayload, 'input' | 'outDir', { colour?: string; background?: string }>; result: WaveformResult };
  webhook: { payload: Sent<WebhookPayload, never, { url: string; body: unknown }>; result: WebhookResult };
}

export type BuiltinFunctionName = keyof BuiltinFunctions;
