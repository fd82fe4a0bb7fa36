// The steps a built-in pipeline ends with when `--notify-url` (option notifyUrl) is set: the run's
// summary and outputs (or, when a step failed, the reason) as a JSON body, POSTed and signed by
// the `webhook` worker.

import path from 'node:path';
import type { BuiltinFunctions } from '../../schema/workers.js';
import { fingerprint } from '../../shared/fingerprint.js';
import { URL_TEXT } from './options.js';

export const NOTIFY_URL_OPTION = { description: 'URL that gets the run summary and outputs as a signed JSON POST (webhook worker)', schema: URL_TEXT };

/** What the notify-url steps read of a step's scope. */
export interface NotifyScope {
  options: { readonly notifyUrl: string | undefined };
  run: { id: string; out: string };
}

/** An output file as the body names it: relative to the run's output folder, `/`-separated. */
export function outputFile(s: NotifyScope, file: string): string {
  return path.relative(s.run.out, file).split(path.sep).join('/');
}

/** The `when` of a notify-url step. */
export const notifyUrlSet = (s: NotifyScope): boolean => s.options.notifyUrl !== undefined && s.options.notifyUrl !== '';

/**
 * The payload of a `webhook` step: POST `{pipeline, runId, status, ...body}` as event
 * `PIPELINE.done` or `PIPELINE.failed`. The delivery id is the run's id and a fingerprint of the
 * body: the same summary sent again (a retried job) has the same id, a changed one a new id.
 */
export function notifyUrlPayload(
  pipeline: string,
  s: NotifyScope,
  status: 'done' | 'failed',
  body: Record<string, unknown>,
): BuiltinFunctions['webhook']['payload'] {
  const b = { pipeline, runId: s.run.id, status, ...body };
  return { url: s.options.notifyUrl ?? '', event: `${pipeline}.${status}`, deliveryId: `${s.run.id}.${fingerprint(b)}`, body: b };
}
