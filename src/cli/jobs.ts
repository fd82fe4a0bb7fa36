// `pipeline jobs …`: the job log of geartrain servers (list, show, retry, cancel). Against
// gearmand, which keeps no log, `pipeline jobs` falls back to what `show jobs` lists.

import { type Command, InvalidArgumentError } from 'commander';
import { adminCommand, adminJobs } from '../client/admin.js';
import { parseServer } from '../client/index.js';
import { gtError } from '../errors.js';
import { JOB_STATES, type JobState } from '../store/types.js';
import { addCommon, eachServer } from './admin.js';
import { parsePositiveInt } from './options.js';
import { table } from './table.js';

interface ListOpts {
  server: string[];
  json?: boolean;
  state?: JobState;
  function?: string;
  since?: number;
  limit: number;
}

function parseState(v: string): JobState {
  if (!JOB_STATES.includes(v as JobState)) throw new InvalidArgumentError(`Expected one of ${JOB_STATES.join(', ')} for --state but received "${v}".`);
  return v as JobState;
}

/** `30m`, `2h`, `7d` ago, or an ISO date, as ms since the epoch. */
export function parseSince(v: string): number {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(v.trim());
  if (m) return Date.now() - Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`Expected a duration such as 30m, 2h, 7d or an ISO date for --since but received "${v}".`);
  return t;
}

interface Row {
  id: string;
  /** The Gearman handle while a server holds the job. */
  handle?: string | null;
  fn: string;
  state: string;
  attempts: number;
  maxAttempts: number;
  updatedAt: number;
  result: string | null;
  server: string;
}

/** One reply of JSON lines (ending in ".") from a `jobs …` admin command. */
async function jobsCommand(server: string, command: string): Promise<Record<string, unknown>[]> {
  const { host, port } = parseServer(server);
  const reply = await adminCommand(host, port, command);
  if (reply.startsWith('ERR')) {
    const text = reply.trim().replace(/\+/g, ' ');
    if (text.startsWith('ERR UNKNOWN_JOB')) throw gtError('GT_JOB_NOT_FOUND', text.replace(/^ERR UNKNOWN_JOB ?/, '') || 'No such job');
    throw gtError('GT_SERVER_ERROR', `${host}:${port}`, text);
  }
  if (reply.startsWith('OK')) return [];
  return reply
    .split('\n')
    .filter((l) => l !== '' && l !== '.')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const when = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

function printRows(rows: Row[]): void {
  process.stdout.write(
    table(
      ['ID', 'FUNCTION', 'STATE', 'ATTEMPTS', 'UPDATED', 'RESULT/ERROR'],
      rows.map((r) => [r.id, r.fn, r.state, `${r.attempts}/${r.maxAttempts}`, when(r.updatedAt), (r.result ?? '').replace(/\s+/g, ' ').slice(0, 60)]),
    ),
  );
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('the job log: list, show, retry and cancel background jobs');

  addCommon(jobs.command('list', { isDefault: true }).description('list jobs, newest first'))
    .option('--state <state>', `only jobs in this state (${JOB_STATES.join(', ')})`, parseState)
    .option('-f, --function <name>', 'only jobs of this function')
    .option('--since <when>', 'only jobs changed since (30m, 2h, 7d, or an ISO date)', parseSince)
    .option('--limit <n>', 'most jobs shown per server', parsePositiveInt('--limit'), 50)
    .action(async (opts: ListOpts) => {
      const filter = [
        opts.state ? `state=${opts.state}` : '',
        opts.function ? `function=${opts.function}` : '',
        opts.since !== undefined ? `since=${Math.floor(opts.since)}` : '',
        `limit=${opts.limit}`,
      ].filter(Boolean);
      const rows: Row[] = [];
      for (const server of opts.server) {
        try {
          for (const r of await jobsCommand(server, `jobs list ${filter.join(' ')}`)) rows.push({ ...(r as unknown as Row), server });
        } catch (err) {
          // gearmand has no job log: show what it holds in memory instead.
          if (!(err instanceof Error && /UNKNOWN_COMMAND/.test(err.message))) throw err;
          const live = await eachServer([server], (h, p) => adminJobs(h, p));
          for (const j of live)
            rows.push({
              id: j.handle,
              handle: j.handle,
              fn: '?',
              state: 'queued',
              attempts: j.retries,
              maxAttempts: 0,
              updatedAt: Date.now(),
              result: null,
              server,
            });
        }
      }
      if (opts.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      printRows(rows);
    });

  addCommon(jobs.command('show').description('everything the log holds about one job').argument('<id>')).action(async (id: string, opts: ListOpts) => {
    for (const server of opts.server) {
      try {
        const [r] = await jobsCommand(server, `jobs show ${id}`);
        process.stdout.write(`${JSON.stringify({ ...r, server }, null, 2)}\n`);
        return;
      } catch (err) {
        if (!(err instanceof Error && 'code' in err && err.code === 'GT_JOB_NOT_FOUND') || server === opts.server.at(-1)) throw err;
      }
    }
  });

  addCommon(jobs.command('retry').description('run a failed, dead or cancelled job again (fresh attempts)').argument('[id]'))
    .option('--all-dead', 'retry every dead job')
    .option('-f, --function <name>', 'with --all-dead: only this function')
    .action(async (id: string | undefined, opts: ListOpts & { allDead?: boolean }) => {
      if ((id === undefined) === !opts.allDead) throw new InvalidArgumentError('Expected a job id or --all-dead.');
      const command = id !== undefined ? `jobs retry ${id}` : `jobs retry-dead${opts.function ? ` function=${opts.function}` : ''}`;
      let n = 0;
      for (const server of opts.server) {
        try {
          n += (await jobsCommand(server, command)).length;
          if (id !== undefined) break;
        } catch (err) {
          if (id === undefined || !(err instanceof Error && 'code' in err && err.code === 'GT_JOB_NOT_FOUND') || server === opts.server.at(-1)) throw err;
        }
      }
      process.stdout.write(opts.json ? `${JSON.stringify({ retried: n })}\n` : `retried ${n} job${n === 1 ? '' : 's'}\n`);
    });

  addCommon(jobs.command('cancel').description('cancel a queued or failed job').argument('<id>')).action(async (id: string, opts: ListOpts) => {
    for (const server of opts.server) {
      try {
        await jobsCommand(server, `jobs cancel ${id}`);
        process.stdout.write(`cancelled ${id}\n`);
        return;
      } catch (err) {
        if (!(err instanceof Error && 'code' in err && err.code === 'GT_JOB_NOT_FOUND') || server === opts.server.at(-1)) throw err;
      }
    }
  });
}
