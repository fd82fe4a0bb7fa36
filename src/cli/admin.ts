// `pipeline status`, `pipeline workers`, `pipeline jobs`: what gearadmin shows, as tables
// (or --json), summed over every server given with --server.

import type { Command } from 'commander';
import { adminPriorityStatus, adminStatus, adminWorkers } from '../client/admin.js';
import { parseServer } from '../client/index.js';
import { parseServers } from './options.js';
import { table } from './table.js';

interface AdminOpts {
  server: string[];
  json?: boolean;
}

export function addCommon(cmd: Command): Command {
  return cmd.option('-s, --server <host:port,...>', 'job servers to ask', parseServers, ['127.0.0.1:4730']).option('--json', 'print JSON for scripts');
}

export async function eachServer<T>(servers: string[], fn: (host: string, port: number) => Promise<T[]>): Promise<(T & { server: string })[]> {
  const out: (T & { server: string })[] = [];
  for (const s of servers) {
    const { host, port } = parseServer(s);
    for (const row of await fn(host, port)) out.push({ ...row, server: `${host}:${port}` });
  }
  return out;
}

export function registerAdmin(program: Command): void {
  addCommon(program.command('status').description('queued, running and workers per function (gearadmin --status)')).action(async (opts: AdminOpts) => {
    const status = await eachServer(opts.server, adminStatus);
    const prio = await eachServer(opts.server, adminPriorityStatus);
    const rows = status.map((s) => {
      const p = prio.find((x) => x.function === s.function && x.server === s.server);
      return { ...s, queued: s.total - s.running, high: p?.high ?? 0, normal: p?.normal ?? 0, low: p?.low ?? 0 };
    });
    if (opts.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    process.stdout.write(
      table(
        ['SERVER', 'FUNCTION', 'QUEUED', 'HIGH', 'NORMAL', 'LOW', 'RUNNING', 'WORKERS'],
        rows.map((r) => [r.server, r.function, r.queued, r.high, r.normal, r.low, r.running, r.workers]),
      ),
    );
  });

  addCommon(program.command('workers').description('connected workers and their functions (gearadmin --workers)')).action(async (opts: AdminOpts) => {
    const rows = (await eachServer(opts.server, adminWorkers)).filter((w) => w.functions.length > 0);
    if (opts.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    process.stdout.write(
      table(
        ['SERVER', 'FD', 'HOST', 'CLIENT-ID', 'FUNCTIONS'],
        rows.map((w) => [w.server, w.fd, w.host, w.clientId, w.functions.join(',')]),
      ),
    );
  });
}
