// The steps a built-in pipeline ends with when `--notify-url` (option notifyUrl) is set: the run's
// summary and outputs (or, when a step failed, the reason) as a JSON body, POSTed and signed by
// the `webhook` worker.

import path from 'node:path';
import { fingerprint } from '../../workers/files.js';
import type { OptionDef, StepDef, StepScope } from '../types.js';

export const NOTIFY_URL_OPTION: OptionDef = { description: 'URL that gets the run summary and outputs as a signed JSON POST (webhook worker)' };

/** An output file as the body names it: relative to the run's output folder, `/`-separated. */
export function outputFile(s: StepScope, file: string): string {
  return path.relative(s.run.out, file).split(path.sep).join('/');
}

/**
 * A `webhook` step: after `needs`, when notifyUrl is set, POST `{pipeline, runId, status,
 * ...body(s)}` as event `PIPELINE.done`, or with `failed`, only when a needed step failed, as
 * `PIPELINE.failed`. The delivery id is the run's id and a fingerprint of the body: the same
 * summary sent again (a retried job) has the same id, a changed one a new id.
 */
export function notifyUrlStep(pipeline: string, needs: readonly string[], body: (s: StepScope) => Record<string, unknown>, opts: { failed?: boolean } = {}): Omit<StepDef, 'id'> {
  const status = opts.failed ? 'failed' : 'done';
  return {
    fn: 'webhook',
    needs: [...needs],
    ...(opts.failed ? { onFailure: true } : {}),
    when: (s) => typeof s.options.notifyUrl === 'string' && s.options.notifyUrl !== '',
    payload: (s) => {
      const b = { pipeline, runId: s.run.id, status, ...body(s) };
      return { url: s.options.notifyUrl, event: `${pipeline}.${status}`, deliveryId: `${s.run.id}.${fingerprint(b)}`, body: b };
    },
  };
}
