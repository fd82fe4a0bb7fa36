// `pipeline submit FN [DATA]`: like `gearman -f FN`, reading the payload from stdin when
// DATA is not given. Foreground results (and WORK_DATA chunks) go to stdout.

import { type Command, InvalidArgumentError } from 'commander';
import { Client, type PriorityName } from '../client/index.js';
import { GeartrainError } from '../errors.js';
import { commandLogger, parsePositiveInt, parseServers } from './options.js';

interface SubmitOpts {
  server: string[];
  background?: boolean;
  priority: PriorityName;
  unique?: string;
  at?: number;
  timeout?: number;
  json?: boolean;
}

function parsePriority(v: string): PriorityName {
  if (v !== 'high' && v !== 'normal' && v !== 'low') throw new InvalidArgumentError(`Expected high, normal or low for --priority but received "${v}".`);
  return v;
}

/** A Unix time in seconds, or anything Date.parse understands (ISO 8601). */
function parseWhen(v: string): number {
  if (/^\d+$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`Expected a Unix time in seconds or an ISO 8601 date for --at but received "${v}".`);
  return Math.floor(ms / 1000);
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .description('submit a job; the payload is DATA or, without it, standard input')
    .argument('<function>', 'Gearman function name')
    .argument('[data]', 'payload (default: read stdin)')
    .option('-s, --server <host:port,...>', 'job servers', parseServers, ['127.0.0.1:4730'])
    .option('-b, --background', 'do not wait: print the job handle')
    .option('--priority <p>', 'high, normal or low', parsePriority, 'normal')
    .option('--unique <id>', 'unique id: a job with the same function and id already queued or running is joined')
    .option('--at <time>', 'run at this time (Unix seconds or ISO date); implies --background', parseWhen)
    .option('--timeout <ms>', 'give up waiting after this many ms', parsePositiveInt('--timeout'))
    .option('--json', 'print a JSON object instead of raw bytes')
    .action(async (fn: string, data: string | undefined, opts: SubmitOpts, cmd: Command) => {
      const log = commandLogger(cmd, 'submit');
      const payload = data !== undefined ? Buffer.from(data) : await readStdin();
      const client = new Client({ servers: opts.server, logger: log });
      try {
        await submit(client);
      } catch (err) {
        // A script reading --json gets an answer on stdout either way; the exit code and the
        // line on stderr stay as without --json.
        if (opts.json) process.stdout.write(`${JSON.stringify(failure(err))}\n`);
        throw err;
      } finally {
        await client.close();
      }

      async function submit(client: Client): Promise<void> {
        if (opts.background || opts.at !== undefined) {
          const ref = await client.submitBackground(fn, payload, { priority: opts.priority, unique: opts.unique, epoch: opts.at });
          process.stdout.write(opts.json ? `${JSON.stringify(ref)}\n` : `${ref.handle}\n`);
          return;
        }
        const chunks: Buffer[] = [];
        const result = await client.submit(fn, payload, {
          priority: opts.priority,
          unique: opts.unique,
          timeoutMs: opts.timeout,
          onData: (c) => (opts.json ? chunks.push(c) : process.stdout.write(c)),
          onWarning: (c) => process.stderr.write(`warning: ${c.toString()}\n`),
          onStatus: (n, d) => log.debug({ numerator: n, denominator: d }, 'status'),
        });
        if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true, data: Buffer.concat([...chunks, result]).toString() })}\n`);
        else process.stdout.write(result);
      }
    });
}

/** `{ok: false, code, message}`, with the worker's own text for a job that raised. */
function failure(err: unknown): { ok: false; code: string; message: string; exception?: string } {
  if (!(err instanceof GeartrainError)) return { ok: false, code: 'GT_INTERNAL', message: err instanceof Error ? err.message : String(err) };
  const exception = (err as { exception?: unknown }).exception;
  return { ok: false, code: err.code, message: err.message, ...(typeof exception === 'string' ? { exception } : {}) };
}
