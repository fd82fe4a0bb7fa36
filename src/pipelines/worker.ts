// A pipeline as a Gearman function, `pipeline:NAME`: a background job whose payload is a
// PipelineJob (schema.ts: {input, out, options?, runId?}) is driven by whichever pipeline
// worker grabs it. The run record lives in OUT/.geartrain/runs, so when that worker dies the
// server hands the job to another, which resumes the run without redoing finished steps.

import path from 'node:path';
import { Client } from '../client/client.js';
import { exceptionCode, GeartrainError, gtError, isRetryable } from '../errors.js';
import { checker } from '../schema/check.js';
import { fingerprint } from '../shared/fingerprint.js';
import { checkAllowed } from '../workers/files.js';
import type { DomainWorker, DomainWorkerFactory } from '../workers/types.js';
import { resolveInput } from './input.js';
import { type RunSummary, runPipeline, summarize } from './runner.js';
import { PipelineJob } from './schema.js';
import { FileRunStore } from './state.js';
import type { PipelineDef, RunRecord } from './types.js';

export const pipelineFunction = (def: PipelineDef): string => `pipeline:${def.name}`;

/** Where a run's record lives: beside its outputs, so any worker on the same files finds it. */
export const runStoreFor = (out: string): FileRunStore => new FileRunStore(path.join(path.resolve(out), '.geartrain', 'runs'));

/**
 * Runs recorded under some output folders, newest first, for the HTTP API and the dashboard
 * (`pipeline server --runs DIR`).
 */
export function runsIn(outDirs: string[]): { list(limit: number): Promise<RunRecord[]>; get(id: string): Promise<RunRecord | undefined> } {
  const stores = outDirs.map(runStoreFor);
  return {
    async list(limit) {
      const all = (await Promise.all(stores.map((s) => s.list(limit)))).flat();
      return all.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1)).slice(0, limit);
    },
    async get(id) {
      for (const s of stores) {
        const r = await s.load(id).catch(() => undefined);
        if (r) return r;
      }
      return undefined;
    },
  };
}

/** The id a run gets from what it works on: the same pipeline, input and output resume one run. */
export function runIdFor(def: PipelineDef, inputSpec: unknown, out: string): string {
  return `${def.name}-${fingerprint({ input: inputSpec, out: path.resolve(out) })}`;
}

/**
 * The error a failed run's job ends with, so the job log shows it and the retry rules apply:
 * when every failure has a code a retry cannot help (a corrupt file, a bad payload), the job
 * fails with that code and is dead at once; otherwise GT_RUN_FAILED, retried, and the next
 * attempt resumes the run.
 */
export function runFailure(summary: RunSummary): GeartrainError {
  const f = summary.failures;
  const first = f[0];
  const what = first
    ? `${first.step} (${first.item}): ${first.error.replace(/^GT_[A-Z_]+: /, '')}${f.length > 1 ? ` (and ${f.length - 1} more failed)` : ''}`
    : 'a step failed';
  const codes = f.map((x) => exceptionCode(x.error));
  const permanent = codes.length > 0 && codes.every((c) => c !== undefined && !isRetryable(c));
  return permanent ? new GeartrainError(codes[0]!, `Run ${summary.id}: ${what}`) : gtError('GT_RUN_FAILED', summary.id, what);
}

export function pipelineWorker(def: PipelineDef): DomainWorkerFactory {
  const jobCheck = checker(PipelineJob, pipelineFunction(def));
  return (settings, log): DomainWorker<PipelineJob, RunSummary> => ({
    name: pipelineFunction(def),
    timeoutMs: 24 * 3600_000,
    parse: (raw) => jobCheck.parse(raw),
    async run(job, ctx) {
      checkAllowed('Output folder', job.out, settings.allowPaths);
      const resolved = await resolveInput(def, job.input, job.out);
      const id = job.runId ?? runIdFor(def, resolved.spec, job.out);
      const client = new Client({ servers: settings.servers, logger: log });
      let total = 0;
      let done = 0;
      try {
        const record = await runPipeline(
          def,
          { id, input: resolved.value, inputSpec: resolved.spec, out: path.resolve(job.out), options: job.options ?? {}, skippedInput: resolved.skipped },
          {
            client,
            store: runStoreFor(job.out),
            signal: ctx.signal,
            onEvent: (e) => {
              if (e.type === 'step-start') total += e.total;
              else if (e.type === 'item-done' || e.type === 'item-failed') done++;
              else return;
              ctx.progress(done, total);
            },
          },
        );
        if (record.status === 'cancelled') throw gtError('GT_RUN_FAILED', id, 'stopped before it finished');
        const summary = summarize(def, record);
        if (record.status === 'failed') throw runFailure(summary);
        return summary;
      } finally {
        await client.close();
      }
    },
  });
}
