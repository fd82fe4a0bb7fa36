// Text admin protocol, byte-compatible with gearmand 1.1.x (libgearman-server/text.cc):
// tab-separated rows ending in a line holding ".", "OK"/"ERR ..." lines ending in CRLF.

import { runJobsCommand } from './admin-joblog.js';
import type { Connection } from './connection.js';
import type { JobLog } from './joblog.js';
import type { JobRegistry } from './registry.js';

export interface AdminContext {
  readonly registry: JobRegistry;
  connections(): Iterable<Connection>;
  readonly version: string;
  readonly verbose: string;
  shutdown(graceful: boolean): void;
  readonly joblog: JobLog | null;
}

const OK = 'OK\r\n';
const errArgs = (cmd: string): string => `ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+${cmd}\r\n`;
const errUnknown = (cmd: string): string => `ERR UNKNOWN_COMMAND Unknown+server+command${cmd}\r\n`;

/** Run one admin line; returns the exact reply text. */
export function runAdmin(ctx: AdminContext, words: string[]): string | Promise<string> {
  const { registry } = ctx;
  const cmd = words[0];
  if (cmd === undefined) return errUnknown(''); // gearmand 1.1.20 names nothing here
  const argc = words.length;
  switch (cmd.toLowerCase()) {
    case 'workers': {
      let out = '';
      for (const c of ctx.connections()) {
        out += `${c.id} ${c.host} ${c.clientId} :`;
        for (const fn of c.abilities.keys()) out += ` ${fn.name}`;
        out += '\n';
      }
      return `${out}.\n`;
    }
    case 'status': {
      let out = '';
      for (const f of registry.functions.values()) out += `${f.name}\t${f.total}\t${f.running}\t${f.workers.size}\n`;
      return `${out}.\n`;
    }
    case 'prioritystatus': {
      let out = '';
      for (const f of registry.functions.values()) {
        out += `${f.name}\t${f.queues[0].size}\t${f.queues[1].size}\t${f.queues[2].size}\t${f.workers.size}\n`;
      }
      return `${out}.\n`;
    }
    case 'cancel': {
      if (argc < 3) return errUnknown(cmd);
      if (argc !== 3 || words[1]!.toLowerCase() !== 'job') return 'ERR UNKNOWN_ERROR\r\n';
      return registry.cancel(words[2]!) ? OK : 'ERR UNKNOWN_JOB\r\n';
    }
    case 'show': {
      if (argc < 2) return errUnknown(cmd);
      const what = words
        .slice(1)
        .map((w) => w.toLowerCase())
        .join(' ');
      if (what === 'unique jobs') {
        let out = '';
        for (const job of registry.uniques()) out += `${job.unique}\n`;
        return `${out}.\n`;
      }
      if (what === 'jobs') {
        // handle, retries, ignore_job (always 0 here: abandoned jobs are dropped), job_queued
        let out = '';
        for (const job of registry.jobs.values()) out += `${job.handle}\t${job.retries}\t0\t${job.background ? 1 : 0}\n`;
        return `${out}.\n`;
      }
      return 'ERR UNKNOWN_SHOW_ARGUMENTS\r\n';
    }
    case 'create': {
      if (argc !== 3 || words[1]!.toLowerCase() !== 'function') return errArgs(cmd);
      // gearmand 1.1.20 drops the last two bytes of the name here; we create the name given.
      registry.fn(words[2]!);
      return OK;
    }
    case 'drop': {
      if (argc !== 3 || words[1]!.toLowerCase() !== 'function') return errArgs(cmd);
      const r = registry.dropFunction(words[2]!);
      if (r === 'ok') return OK;
      if (r === 'busy') return 'ERR there are still connected workers or executing clients\r\n';
      return 'ERR function not found\r\n';
    }
    case 'maxqueue': {
      if (argc === 1) return errArgs(cmd);
      const limits: [number, number, number] = [0, 0, 0];
      for (let p = 0; p < 3; p++) {
        const raw = words[p + 2];
        // gearmand: atoi, negatives become 0 (unlimited); one value applies to every priority.
        const n = raw === undefined ? 0 : Number.parseInt(raw, 10) || 0;
        limits[p] = Math.max(0, n);
      }
      if (argc <= 3) limits[1] = limits[2] = limits[0];
      registry.setMaxQueue(words[1]!, limits);
      return OK;
    }
    case 'jobs':
      return runJobsCommand(ctx.joblog, registry, words);
    case 'getpid':
      return `OK ${process.pid}\n`;
    case 'verbose':
      return `OK ${ctx.verbose}\n`;
    case 'version':
      return `OK ${ctx.version}\n`;
    case 'shutdown': {
      // gearmand 1.1.20's Debian build answers UNKNOWN_COMMAND here; older gearmand and
      // gearadmin --shutdown expect OK, then the server stops.
      const graceful = words[1]?.toLowerCase() === 'graceful';
      if (argc > 2 || (argc === 2 && !graceful)) return errArgs(cmd);
      setImmediate(() => ctx.shutdown(graceful));
      return OK;
    }
    default:
      return errUnknown(cmd);
  }
}
