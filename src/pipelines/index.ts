// Pipelines by name: the built-ins, and files (`.json`, `.yaml`, `.yml`) named on the command
// line or found in ./pipelines.

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { gtError } from '../errors.js';
import { thumbnails } from './builtin/thumbnails.js';
import { upload } from './builtin/upload.js';
import { loadPipelineFile } from './define.js';
import type { PipelineDef } from './types.js';

export const BUILTIN_PIPELINES: ReadonlyMap<string, PipelineDef> = new Map([
  [thumbnails.name, thumbnails],
  [upload.name, upload],
]);

/** The folder `pipeline list` and `pipeline run NAME` look in for pipeline files. */
export const PIPELINES_DIR = process.env.GEARTRAIN_PIPELINES ?? 'pipelines';

const FILE = /\.(json|ya?ml)$/i;

/** Pipeline files in `dir` (none when it does not exist). */
export async function pipelineFiles(dir = PIPELINES_DIR): Promise<string[]> {
  try {
    return (await readdir(dir))
      .filter((f) => FILE.test(f))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** A built-in name, a file path, or the name of a file in ./pipelines. */
export async function findPipeline(nameOrFile: string): Promise<PipelineDef> {
  const builtin = BUILTIN_PIPELINES.get(nameOrFile);
  if (builtin) return builtin;
  if (FILE.test(nameOrFile)) return loadPipelineFile(nameOrFile);
  for (const f of await pipelineFiles()) {
    if (path.basename(f).replace(FILE, '') === nameOrFile) return loadPipelineFile(f);
  }
  const files = (await pipelineFiles()).map((f) => path.basename(f));
  throw gtError('GT_PIPELINE_NOT_FOUND', `"${nameOrFile}"`, [...BUILTIN_PIPELINES.keys(), ...files].join(', '));
}

export { type FanOutStepInput, type OptionValues, PipelineBuilder, pipeline, type SingleStepInput, type TemplateOf } from './builder.js';
export { checkPipeline, loadPipelineFile } from './define.js';
export { type InputFile, resolveInput } from './input.js';
export { type RunnerOptions, type RunParams, type RunSummary, runPipeline, summarize } from './runner.js';
export { PipelineFile, PipelineJob } from './schema.js';
export { FileRunStore, type RunStore } from './state.js';
export type * from './types.js';
