// `jobs …` admin commands: the job log over the text protocol, for `pipeline jobs`. gearmand
// has no such command (it answers UNKNOWN_COMMAND). Each reply is JSON lines ending in ".".
//
//   jobs list [state=S] [function=F] [since=MS] [limit=N]
//   jobs show ID
//   jobs retry ID | jobs retry-dead [function=F]
//   jobs cancel ID

import { GeartrainError } from '../errors.js';
import { JOB_STATES, type JobFilter, type JobRecord, type JobState } from '../store/types.js';
import type { JobLog } from './joblog.js';
import type { JobRegistry } from './registry.js';

/** A record for display: the payload as text (it is JSON for geartrain's workers) or its size. */
export function recordJson(r: JobRecord, handle: string | null = null): Record<string, unknown> {
  const { data, ...rest } = r;
  const text = data && data.length <= 4096 ? data.toString('utf8') : null;
  // Onto `rest`, not spread into a new literal: V8 (Node 20) takes a slow path for a spread
  // followed by new properties (8 µs against 1 µs a record; `jobs retry --all-dead` reads 100,000).
  return Object.assign(rest, { handle, payload: text, payloadBytes: data?.length ?? 0 });
}

const lines = (records: unknown[]): string => `${records.map((r) => JSON.stringify(r)).join('\n')}${records.length ? '\n' : ''}.\n`;
const err = (message: string): string => `ERR INVALID_ARGUMENTS ${message.replace(/ /g, '+')}\r\n`;

function parseFilter(words: string[]): JobFilter | string {
  const f: JobFilter = {};
  for (const w of words) {
    const [k, v] = [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)];
    if (k === 'state') {
      if (!JOB_STATES.includes(v as JobState)) return `Expected one of ${JOB_STATES.join(',')} for state but received ${v}`;
      f.state = v as JobState;
    } else if (k === 'function') f.fn = v;
    else if (k === 'since' || k === 'limit') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) return `Expected a non-negative integer for ${k} but received ${v}`;
      if (k === 'since') f.since = n;
      else f.limit = n;
    } else return `Unknown filter ${w}; expected state=, function=, since= or limit=`;
  }
  return f;
}

export async function runJobsCommand(joblog: JobLog | null, registry: JobRegistry, words: string[]): Promise<string> {
  if (!joblog) return 'ERR UNKNOWN_ERROR\r\n';
  // The journal writes updates behind (a few ms): what the operator reads includes them.
  await joblog.sync();
  const [, sub, ...rest] = words;
  // Handles live while this server holds the job (gearmand gives new ones after a restart);
  // the log id is for ever. Show the handle beside the id, and accept either.
  const json = (r: JobRecord): Record<string, unknown> => recordJson(r, registry.findById(r.id)?.handle ?? null);
  const idOf = (w: string): string => registry.jobs.get(w)?.id || w;
  try {
    switch (sub?.toLowerCase()) {
      case 'list': {
        const f = parseFilter(rest);
        if (typeof f === 'string') return err(f);
        return lines((await joblog.store.list(f)).map(json));
      }
      case 'show': {
        if (rest.length !== 1) return err('Expected jobs show ID');
        const r = await joblog.store.get(idOf(rest[0]!));
        return r ? lines([json(r)]) : 'ERR UNKNOWN_JOB\r\n';
      }
      case 'retry': {
        if (rest.length !== 1) return err('Expected jobs retry ID');
        return lines([json(await joblog.retry(idOf(rest[0]!)))]);
      }
      case 'retry-dead': {
        const f = parseFilter(rest);
        if (typeof f === 'string') return err(f);
        const dead = await joblog.store.list({ ...f, state: 'dead', limit: f.limit ?? 100_000 });
        const out: unknown[] = [];
        for (const r of dead) out.push(json(await joblog.retry(r.id)));
        return lines(out);
      }
      case 'cancel': {
        if (rest.length !== 1) return err('Expected jobs cancel ID');
        await joblog.cancel(idOf(rest[0]!));
        return 'OK\r\n';
      }
      default:
        return err('Expected jobs list|show|retry|retry-dead|cancel');
    }
  } catch (e) {
    if (e instanceof GeartrainError && e.code === 'GT_JOB_NOT_FOUND') return `ERR UNKNOWN_JOB ${e.message.replace(/ /g, '+')}\r\n`;
    throw e;
  }
}
