// The command line of one worker process: `pipeline worker TYPE=C --server …` with the config's
// settings as flags, or `pipeline exec -f FN… -- CMD…` for exec types. Secrets (the SMTP URL,
// the webhook signing key) go in the environment, not argv, so `ps` does not show them.

import { randomBytes } from 'node:crypto';
import type { SettingsConfig, WorkerTypeConfig } from './config.js';

export interface WorkerCommand {
  /** Arguments after `node CLI`. */
  args: string[];
  /** Added to the supervisor's environment. */
  env: Record<string, string>;
  /** Whether a row of the `workers` admin command is this process (it has that pid or id). */
  isMine(clientId: string, pid: number): boolean;
}

export function workerCommand(
  type: string,
  spec: WorkerTypeConfig,
  settings: SettingsConfig,
  servers: string[],
  logLevel: string,
  stopGraceMs?: number,
): WorkerCommand {
  const env: Record<string, string> = { ...spec.env };
  const head = ['--log-level', logLevel];
  if (spec.exec) {
    // exec has no pid in its client id: give it one of ours to find it in `workers`.
    const clientId = `geartrain-${type}-${randomBytes(4).toString('hex')}`;
    const args = [
      ...head,
      'exec',
      ...spec.functions!.flatMap((f) => ['-f', f]),
      '-c',
      String(spec.concurrency),
      '--client-id',
      clientId,
      '--server',
      servers.join(','),
    ];
    if (spec.timeoutMs !== undefined) args.push('--timeout', String(spec.timeoutMs));
    args.push('--', ...spec.exec);
    return { args, env, isMine: (id) => id === clientId };
  }
  const args = [...head, 'worker', `${type}=${spec.concurrency}`, '--server', servers.join(',')];
  // The worker lets running jobs finish for nearly all of the supervisor's grace, then fails
  // them itself (WORK_FAIL, retried), before the supervisor's SIGKILL would lose the answer.
  if (stopGraceMs !== undefined) args.push('--grace-ms', String(Math.max(0, stopGraceMs - 2000)));
  const t = settings.thumbnail;
  if (t?.maxPixels !== undefined) args.push('--max-pixels', String(t.maxPixels));
  if (t?.maxFileSize !== undefined) args.push('--max-file-size', String(t.maxFileSize));
  if (settings.transcode?.timeoutMs !== undefined) args.push('--ffmpeg-timeout', String(settings.transcode.timeoutMs));
  const e = settings.email;
  if (e?.smtpUrl !== undefined) env.GEARTRAIN_SMTP_URL = e.smtpUrl;
  if (e?.from !== undefined) args.push('--mail-from', e.from);
  if (e?.templates !== undefined) args.push('--templates', e.templates);
  if (e?.outbox !== undefined) args.push('--outbox', e.outbox);
  if (settings.waveform?.maxDurationSeconds !== undefined) args.push('--max-duration', String(settings.waveform.maxDurationSeconds));
  if (settings.webhook?.secret !== undefined) env.GEARTRAIN_WEBHOOK_SECRET = settings.webhook.secret;
  if (settings.cacheWarm?.allowedHosts?.length) args.push('--allowed-hosts', settings.cacheWarm.allowedHosts.join(','));
  // Variadic: last, so it takes only the paths.
  if (settings.allowPaths?.length) args.push('--allow-path', ...settings.allowPaths);
  // Domain workers register as geartrain-FN-PID (src/workers/runtime.ts).
  return { args, env, isMine: (id, pid) => id.endsWith(`-${pid}`) && id.startsWith('geartrain-') };
}
