// `pipeline run NAME|FILE INPUT`: the command people use most. Without --server it starts an
// embedded job server and in-process workers; with --server it uses running servers and their
// workers. Progress on stderr (a bar on a terminal, plain lines otherwise), the summary on stdout.
// Also `pipeline list`, `pipeline enqueue` (a run as a background job) and `pipeline runs`.

import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { Client, WorkerCheck } from '../client/index.js';
import { gtError, invalidArgument } from '../errors.js';
import { silentLogger } from '../log.js';
import { type Embedded, startEmbedded } from '../pipelines/embedded.js';
import { BUILTIN_PIPELINES, findPipeline, pipelineFiles, type RunSummary, resolveInput, runPipeline, summarize } from '../pipelines/index.js';
import type { PipelineDef, RunEvent, RunRecord } from '../pipelines/types.js';
import { pipelineFunction, runIdFor, runStoreFor, runsIn } from '../pipelines/worker.js';
import { defaultConcurrency } from '../workers/index.js';
import { commandLogger, parseDuration, parsePositiveInt, parseServers } from './options.js';
import { table } from './table.js';
import { addWorkerLimitFlags } from './worker.js';

interface RunOpts {
  out?: string;
  server?: string[];
  concurrency?: number;
  json?: boolean;
  set: Record<string, unknown>;
  notify?: string;
  notifyUrl?: string;
  force?: boolean;
  allowPath?: string[];
  maxPixels?: number;
  maxFileSize?: number;
  smtp?: string;
  mailFrom?: string;
  waitForWorkers?: number;
}

/** Flags that set the embedded workers up: meaningless with --server, whose workers have their own. */
const EMBEDDED_FLAGS = [
  ['allowPath', '--allow-path'],
  ['maxPixels', '--max-pixels'],
  ['maxFileSize', '--max-file-size'],
  ['smtp', '--smtp'],
  ['mailFrom', '--mail-from'],
] as const;

const RUN_HELP = `
Embedded workers (without --server) read INPUT and write only under --out; --allow-path adds
folders. Their limits: --max-pixels (default 50000000), --max-file-size (default 100m).

Mail (--notify, and email steps): sent through --smtp or GEARTRAIN_SMTP_URL
(smtp://user:pass@host:port, smtps://…), from --mail-from or GEARTRAIN_MAIL_FROM. Without an SMTP
URL the message is written to OUT/.geartrain/outbox/ as an .eml file, and the summary says so.
With --server the running workers' own settings apply.`;

/** `--set key=value`: the value is JSON when it parses as JSON, else a string. */
function parseSet(v: string, prev: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = v.indexOf('=');
  if (eq < 1) throw invalidArgument('key=value', '--set', v);
  const raw = v.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    /* a plain string */
  }
  return { ...prev, [v.slice(0, eq)]: value };
}

function checkOptions(def: PipelineDef, options: Record<string, unknown>): void {
  const known = Object.keys(def.options ?? {});
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw invalidArgument(known.length ? `one of ${known.join(', ')}` : 'no options', `--set ${k} (pipeline ${def.name})`, options[k]);
  }
}

/** Progress on stderr: a bar on a terminal, one line per item otherwise, nothing with --json. */
function progressReporter(mode: 'bar' | 'lines' | 'none'): { onEvent(e: RunEvent): void; note(text: string): void; stop(): void } {
  let total = 0;
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  const bar =
    mode === 'bar'
      ? new cliProgress.SingleBar(
          {
            format: '{bar} {value}/{total} | {failed} failed | {rate}/s | ETA {eta_formatted}{note}',
            hideCursor: true,
            clearOnComplete: false,
            stream: process.stderr,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(0, 0, { failed: 0, rate: '0.0', note: '' });
  const rate = (): string => (done / ((performance.now() - t0) / 1000)).toFixed(1);
  return {
    onEvent(e) {
      switch (e.type) {
        case 'step-start':
          total += e.total;
          bar?.setTotal(total);
          if (mode === 'lines') process.stderr.write(`step ${e.step}: ${e.total} items${e.reused ? ` (${e.reused} done by an earlier run)` : ''}\n`);
          return;
        case 'item-done':
          done++;
          if (mode === 'lines' && !e.reused) process.stderr.write(`done  ${e.step}  ${e.label}  ${e.ms} ms\n`);
          break;
        case 'item-failed':
          done++;
          failed++;
          if (mode === 'lines') process.stderr.write(`FAIL  ${e.step}  ${e.label}  ${e.error}\n`);
          break;
        case 'step-end':
          if (mode === 'lines' && e.status === 'skipped') process.stderr.write(`step ${e.step}: skipped (${e.reason})\n`);
          return;
        default:
          return;
      }
      bar?.update(done, { failed, rate: rate() });
    },
    /** What the run waits for (a worker), or '' once it no longer waits. */
    note(text) {
      if (mode === 'lines' && text) process.stderr.write(`${text}\n`);
      bar?.update({ note: text ? ` | ${text}` : '' });
    },
    stop() {
      bar?.stop();
    },
  };
}

function printSummary(s: RunSummary & { notices: string[] }, out: string, seconds: number): void {
  const items = s.steps.reduce((n, st) => n + st.total, 0);
  const failed = s.failures.length;
  process.stdout.write(`\nrun ${s.id} (${s.pipeline}): ${s.status}, ${items} items, ${failed} failed, ${seconds.toFixed(1)} s\n\n`);
  process.stdout.write(
    table(
      ['step', 'function', 'status', 'done', 'failed', 'reused', 'note'],
      s.steps.map((st) => [st.id, st.fn, st.status, st.done, st.failed, st.reused, st.reason ?? '']),
    ),
  );
  if (s.failures.length > 0) {
    process.stdout.write(`\nfailed:\n`);
    for (const f of s.failures) process.stdout.write(`  ${f.step}  ${f.item}  ${f.error}\n`);
  }
  const skippedInput = s.skipped.filter((x) => x.step === undefined);
  if (skippedInput.length > 0) {
    process.stdout.write(`\nskipped:\n`);
    for (const x of skippedInput) process.stdout.write(`  ${x.item}  ${x.reason}\n`);
  }
  for (const n of s.notices) process.stdout.write(`\n${n}`);
  process.stdout.write(`\noutputs in ${out}\n`);
}

/** What became of each message an email step sent: where it went, so an unsent one never looks sent. */
function mailNotices(def: PipelineDef, record: RunRecord, cwd: string): string[] {
  const notices: string[] = [];
  for (const step of def.steps) {
    if (step.fn !== 'email') continue;
    for (const item of Object.values(record.steps[step.id]?.items ?? {})) {
      if (item.status !== 'done') continue;
      const r = item.result as { outbox?: string; accepted?: string[] } | undefined;
      if (r?.outbox) notices.push(`${step.id}: written to ${path.relative(cwd, r.outbox)} (no SMTP configured: set GEARTRAIN_SMTP_URL or --smtp to send it)`);
      else notices.push(`${step.id}: sent to ${(r?.accepted ?? []).join(', ') || 'the SMTP server'}`);
    }
  }
  return notices;
}

function workerCheck(servers: string[], waitMs: number, note: (text: string) => void): WorkerCheck {
  return new WorkerCheck(servers, {
    waitMs,
    hint:
      waitMs > 0
        ? 'start one (pipeline worker TYPE --server …)'
        : 'start one (pipeline worker TYPE --server …), or let the run wait with --wait-for-workers DURATION',
    onWaiting: (fn, list) => note(`waiting for a worker for ${fn} on ${list.join(', ')}${waitMs > 0 ? ` (up to ${Math.round(waitMs / 1000)} s)` : ''}`),
    onReady: () => note(''),
  });
}

export function registerRun(program: Command): void {
  const run = program
    .command('run')
    .description('run a pipeline (built-in name or .json/.yaml file) on INPUT; embedded server and workers unless --server')
    .addHelpText('after', RUN_HELP)
    .argument('<pipeline>', `built-in (${[...BUILTIN_PIPELINES.keys()].join(', ')}), a file, or a file's name in ./pipelines`)
    .argument('<input>', 'a folder, a file or JSON, as the pipeline takes')
    .option('-o, --out <dir>', 'output folder (default ./NAME, e.g. ./thumbnails)')
    .option('-s, --server <host:port,...>', 'use running job servers and their workers instead of embedded ones', parseServers)
    .option('-c, --concurrency <n>', 'media jobs at once (embedded workers) and tasks in flight per step', parsePositiveInt('--concurrency'))
    .option('--set <key=value>', 'a pipeline option; JSON values allowed (repeatable)', parseSet, {})
    .option('--notify <address>', 'email the summary to this address (pipelines with a notify option)')
    .option('--notify-url <url>', 'POST the summary and outputs, signed with GEARTRAIN_WEBHOOK_SECRET, to this URL (pipelines with a notifyUrl option)')
    .option('--force', 'ignore what an earlier run of the same input recorded')
    .option(
      '--wait-for-workers <duration>',
      'with --server: wait this long (30s, 5m, 1h) for a worker of a function nobody serves, instead of failing at once',
      parseDuration('--wait-for-workers'),
    )
    .option('--json', 'print the summary as JSON on stdout, no progress');
  addWorkerLimitFlags(run)
    .option('--allow-path <dir...>', 'embedded workers: folders they may also read and write, besides INPUT and --out')
    .action(async (name: string, input: string, opts: RunOpts, cmd: Command) => {
      if (opts.server) {
        const given = EMBEDDED_FLAGS.find(([k]) => opts[k] !== undefined);
        if (given) throw invalidArgument('no embedded-worker flag with --server (set it on `pipeline worker`)', given[1], opts[given[0]]);
      }
      const def = await findPipeline(name);
      const options = {
        ...opts.set,
        ...(opts.notify !== undefined ? { notify: opts.notify } : {}),
        ...(opts.notifyUrl !== undefined ? { notifyUrl: opts.notifyUrl } : {}),
      };
      checkOptions(def, options);
      const out = path.resolve(opts.out ?? def.name);
      const resolved = await resolveInput(def, input, opts.out ?? def.name);
      const id = runIdFor(def, resolved.spec, out);
      const explicitLevel = cmd.optsWithGlobals().logLevel !== undefined && process.argv.some((a) => a.startsWith('--log-level'));
      const log = explicitLevel ? commandLogger(cmd, 'run') : silentLogger;

      let embedded: Embedded | null = null;
      if (!opts.server) {
        const inputRoot = def.input === 'json' ? [] : [def.input === 'folder' ? String(resolved.spec) : path.dirname(String(resolved.spec))];
        embedded = await startEmbedded(def, {
          ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
          logger: log,
          // Embedded workers touch nothing but the input, --out and --allow-path: even the
          // outbox of unsent mail (no SMTP configured) lives under --out.
          settings: {
            allowPaths: [...inputRoot, out, path.resolve('fixtures'), ...(opts.allowPath ?? []).map((p) => path.resolve(p))],
            thumbnail: { maxPixels: opts.maxPixels, maxFileBytes: opts.maxFileSize },
            email: {
              outboxDir: path.join(out, '.geartrain', 'outbox'),
              smtpUrl: opts.smtp ?? process.env.GEARTRAIN_SMTP_URL,
              from: opts.mailFrom ?? process.env.GEARTRAIN_MAIL_FROM,
            },
          },
        });
      }
      const mode = opts.json ? 'none' : process.stderr.isTTY ? 'bar' : 'lines';
      const progress = progressReporter(mode);
      // Running servers may have no worker for a step's function: fail (or wait, saying so) instead of queueing for ever.
      const check = opts.server ? workerCheck(opts.server, opts.waitForWorkers ?? 0, progress.note) : null;
      const client = new Client({
        servers: opts.server ?? embedded!.servers,
        logger: log,
        ...(check ? { beforeSubmit: (fn: string) => check.ready(fn) } : {}),
      });
      const abort = new AbortController();
      let interrupted = 0;
      const onSigint = (): void => {
        if (++interrupted > 1) process.exit(130);
        process.stderr.write('\nstopping: waiting for running jobs is skipped; run the same command again to resume (Ctrl-C again to quit now)\n');
        abort.abort(gtError('GT_CLOSED', 'Run'));
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      const t0 = performance.now();
      let summary: RunSummary & { notices: string[] };
      try {
        const record = await runPipeline(
          def,
          { id, input: resolved.value, inputSpec: resolved.spec, out, options, skippedInput: resolved.skipped },
          {
            client,
            store: runStoreFor(out),
            signal: abort.signal,
            // Twice the jobs the workers run at once, so a worker finishing one finds the next queued.
            concurrency: (opts.concurrency ?? defaultConcurrency('thumbnail')) * 2,
            force: opts.force === true,
            onEvent: progress.onEvent,
          },
        );
        summary = { ...summarize(def, record), notices: mailNotices(def, record, process.cwd()) };
      } finally {
        progress.stop();
        check?.close();
        await client.close();
        await embedded?.close();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
      const seconds = (performance.now() - t0) / 1000;
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...summary, out, seconds: Math.round(seconds * 1000) / 1000 })}\n`);
      else printSummary(summary, path.relative(process.cwd(), out) || '.', seconds);
      // A run that could not work at all (no worker, no server) exits with that error's code.
      const blocked = summary.status === 'failed' ? await check?.blocker() : null;
      if (blocked) throw blocked;
      if (summary.status === 'cancelled') process.exitCode = 130;
      else if (summary.status !== 'done') process.exitCode = 1;
    });

  program
    .command('list')
    .description('list the pipelines: built-in and files in ./pipelines (GEARTRAIN_PIPELINES)')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const rows: { name: string; source: string; input: string; steps: string; description: string }[] = [];
      for (const def of BUILTIN_PIPELINES.values())
        rows.push({ name: def.name, source: 'built-in', input: def.input, steps: def.steps.map((s) => s.id).join(' '), description: def.description ?? '' });
      for (const file of await pipelineFiles()) {
        try {
          const def = await findPipeline(file);
          rows.push({ name: def.name, source: file, input: def.input, steps: def.steps.map((s) => s.id).join(' '), description: def.description ?? '' });
        } catch (err) {
          rows.push({ name: path.basename(file), source: file, input: '-', steps: '-', description: `invalid: ${(err as Error).message}` });
        }
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else
        process.stdout.write(
          table(
            ['name', 'source', 'input', 'steps', 'description'],
            rows.map((r) => [r.name, r.source, r.input, r.steps, r.description]),
          ),
        );
    });

  program
    .command('enqueue')
    .description('submit a pipeline run as a background job, driven by a pipeline worker (`pipeline worker pipeline`)')
    .argument('<pipeline>', 'pipeline name')
    .argument('<input>', 'a folder, a file or JSON, as the pipeline takes (a path must be readable by the workers)')
    .option('-o, --out <dir>', 'output folder (default ./NAME)')
    .option('-s, --server <host:port,...>', 'job servers', parseServers, ['127.0.0.1:4730'])
    .option('--set <key=value>', 'a pipeline option; JSON values allowed (repeatable)', parseSet, {})
    .option('--json', 'print {runId, handle, server} as JSON')
    .action(async (name: string, input: string, opts: RunOpts & { server: string[] }) => {
      const def = await findPipeline(name);
      checkOptions(def, opts.set);
      const out = path.resolve(opts.out ?? def.name);
      const spec = def.input === 'json' ? input : path.resolve(input);
      const runId = runIdFor(def, spec, out);
      const client = new Client({ servers: opts.server });
      try {
        const ref = await client.submitBackground(pipelineFunction(def), JSON.stringify({ input: spec, out, options: opts.set, runId }), { unique: runId });
        if (opts.json) process.stdout.write(`${JSON.stringify({ runId, out, ...ref })}\n`);
        else process.stdout.write(`${runId}\n`);
      } finally {
        await client.close();
      }
    });

  program
    .command('runs')
    .description('show pipeline runs recorded under output folders')
    .argument('[id]', 'one run in full')
    .option('-o, --out <dir>', 'output folder the runs wrote to (default: ./NAME for every known pipeline, where pipeline run writes, and .)')
    .option('--json', 'JSON output')
    .action(async (id: string | undefined, opts: { out?: string; json?: boolean }) => {
      const folders = opts.out !== undefined ? [opts.out] : await defaultRunFolders();
      const store = runsIn(folders);
      if (id !== undefined) {
        const rec = await store.get(id);
        if (!rec) throw gtError('GT_JOB_NOT_FOUND', `No run ${id} under ${folders.join(', ')}`);
        process.stdout.write(`${JSON.stringify(rec, null, opts.json ? 0 : 2)}\n`);
        return;
      }
      const runs = await store.list(100);
      if (opts.json)
        return void process.stdout.write(
          `${JSON.stringify(runs.map((r) => ({ id: r.id, pipeline: r.pipeline, status: r.status, updatedAt: r.updatedAt })))}\n`,
        );
      process.stdout.write(
        table(
          ['id', 'pipeline', 'status', 'updated'],
          runs.map((r) => [r.id, r.pipeline, r.status, r.updatedAt]),
        ),
      );
    });
}

/** Where `pipeline run NAME` writes without --out (./NAME), for every pipeline it knows, and `.`. */
async function defaultRunFolders(): Promise<string[]> {
  const names = new Set(BUILTIN_PIPELINES.keys());
  for (const file of await pipelineFiles()) {
    const def = await findPipeline(file).catch(() => null);
    if (def) names.add(def.name);
  }
  return ['.', ...names];
}
