// `pipeline ps`, `pipeline scale TYPE=N…`, `pipeline reload`: ask the `pipeline up` running in
// this folder (over its control socket) what runs, to change process counts, or to replace
// every worker process without losing a job. Tables on a terminal, --json for scripts.

import type { Command } from 'commander';
import { invalidArgument } from '../errors.js';
import { controlRequest, DEFAULT_SOCKET, type NotReady, type PsResult, type ReloadResult, type ScaleResult } from '../supervisor/index.js';
import { table } from './table.js';

interface ControlOpts {
  socket: string;
  json?: boolean;
  wait?: boolean;
}

/** 42s, 5m03s, 2h05m, 3d04h */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor((s % 86_400) / 3600))}h`;
}

/** `thumbnail=4` → ['thumbnail', 4]. */
export function parseScaleArg(arg: string): [string, number] {
  const m = /^([a-z][a-z0-9-]*)=(\d+)$/.exec(arg);
  if (!m) throw invalidArgument('TYPE=N (e.g. thumbnail=4)', 'scale argument', arg);
  return [m[1]!, Number(m[2])];
}

function withSocket(cmd: Command): Command {
  return cmd
    .option('--socket <path>', 'control socket of pipeline up (GEARTRAIN_SUPERVISOR_SOCKET)', process.env.GEARTRAIN_SUPERVISOR_SOCKET ?? DEFAULT_SOCKET)
    .option('--json', 'print JSON for scripts');
}

function print(json: boolean | undefined, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text());
}

function psTable(ps: PsResult): string {
  return table(
    ['TYPE', 'NAME', 'PID', 'STATE', 'UPTIME', 'RESTARTS', 'JOBS', 'FAILED'],
    ps.processes.map((p) => [
      p.type,
      p.name,
      p.pid ?? '-',
      p.nextStartInMs === undefined ? p.state : `${p.state} (${formatDuration(p.nextStartInMs + 999)})`,
      p.uptimeMs === null ? '-' : formatDuration(p.uptimeMs),
      p.restarts,
      p.jobsDone,
      p.jobsFailed,
    ]),
  );
}

/** What needs an operator, on stderr so stdout stays a table. */
function warnGaveUp(ps: PsResult): void {
  for (const t of ps.types) {
    if (t.state === 'gave-up')
      process.stderr.write(
        `pipeline: gave up on ${t.type}: its processes kept crashing at start; fix the config, then pipeline reload (or pipeline scale ${t.type}=N)\n`,
      );
  }
}

/** New processes that did not become ready: named on stderr, and the command exits 1. */
function notReady(list: NotReady[]): void {
  for (const n of list) process.stderr.write(`pipeline: ${n.error}\n`);
  if (list.length > 0) process.exitCode = 1;
}

export function registerSupervise(program: Command): void {
  withSocket(program.command('ps').description('worker processes of the running pipeline up: type, name, pid, state, uptime, restarts, jobs')).action(
    async (opts: ControlOpts) => {
      const ps = (await controlRequest(opts.socket, { cmd: 'ps' }, 10_000)) as PsResult;
      print(opts.json, ps, () => psTable(ps));
      if (!opts.json) warnGaveUp(ps);
    },
  );

  withSocket(
    program
      .command('scale')
      .description('set the number of processes per worker type of the running pipeline up (extra ones finish their jobs and stop)')
      .argument('<counts...>', 'TYPE=N, e.g. thumbnail=4 transcode=1')
      .option('--no-wait', 'return at once instead of when new processes are ready and removed ones have stopped'),
  ).action(async (args: string[], opts: ControlOpts) => {
    const counts: Record<string, number> = {};
    for (const arg of args) {
      const [type, n] = parseScaleArg(arg);
      if (type in counts) throw invalidArgument('each type once', 'scale arguments', args.join(' '));
      counts[type] = n;
    }
    const r = (await controlRequest(opts.socket, { cmd: 'scale', counts, wait: opts.wait !== false })) as ScaleResult;
    print(opts.json, r, () =>
      table(
        ['TYPE', 'FROM', 'TO'],
        r.scaled.map((s) => [s.type, s.from, s.to]),
      ),
    );
    notReady(r.notReady);
    if (!opts.json) warnGaveUp(r.ps);
  });

  withSocket(
    program
      .command('reload')
      .description('re-read the config and replace every worker process one at a time: each replacement registers before the old one stops, so no job fails'),
  ).action(async (opts: ControlOpts) => {
    const r = (await controlRequest(opts.socket, { cmd: 'reload' })) as ReloadResult;
    print(opts.json, r, () =>
      table(
        ['TYPE', 'NAME', 'OLD-PID', 'NEW-PID'],
        r.replaced.map((x) => [x.type, x.name, x.oldPid ?? '-', x.newPid]),
      ),
    );
    for (const w of r.warnings) process.stderr.write(`pipeline: ${w}\n`);
    for (const f of r.failed) process.stderr.write(`pipeline: reload of ${f.type} stopped at ${f.name}: ${f.error}; its other processes were kept\n`);
    if (r.failed.length > 0) process.exitCode = 1;
    notReady(r.notReady);
  });
}
