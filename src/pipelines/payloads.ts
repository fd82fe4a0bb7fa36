// What the runner knows of the domain workers' payloads before it submits them: each worker's
// own payload check (so a bad option is reported once, before any job, instead of by every job)
// and the files a payload will write (so two items that would write one file are caught before
// either runs). Functions that are not domain workers are submitted unchecked.

import path from 'node:path';
import { GeartrainError, gtError } from '../errors.js';
import { silentLogger } from '../log.js';
import { cacheWarmWorker } from '../workers/cache-warm.js';
import { emailWorker } from '../workers/email.js';
import { probeWorker } from '../workers/probe.js';
import { type ThumbnailPayload, outputName as thumbnailName, thumbnailWorker } from '../workers/thumbnail.js';
import { parseTranscode, storyboardNames, type TranscodeJob, outputName as transcodeName } from '../workers/transcode.js';

interface KnownFunction {
  parse(raw: unknown): unknown;
  /** The files a payload writes, once checked. */
  plan?(raw: unknown): string[];
}

/** A worker's check, and what its checked payload writes. */
const known = <P>(parse: (raw: unknown) => P, outputs?: (payload: P) => string[]): KnownFunction => ({
  parse,
  ...(outputs ? { plan: (raw: unknown) => outputs(parse(raw)) } : {}),
});

const baseOf = (p: { name?: string; input: string }): string => p.name ?? path.basename(p.input, path.extname(p.input));

let table: Map<string, KnownFunction> | undefined;

/** The checks, made once: the same parse() the workers run, with no settings (no side effects). */
function knownFunctions(): Map<string, KnownFunction> {
  if (table) return table;
  table = new Map<string, KnownFunction>([
    [
      'thumbnail',
      known(thumbnailWorker({}, silentLogger).parse, (p: ThumbnailPayload) => p.sizes.map((s) => path.join(p.outDir, thumbnailName(baseOf(p), s)))),
    ],
    [
      'transcode',
      known(parseTranscode, (p: TranscodeJob) => [
        ...p.profiles.map((profile) => path.join(p.outDir, transcodeName(baseOf(p), profile))),
        ...(p.poster ? [path.join(p.outDir, transcodeName(baseOf(p), 'poster', p.poster.format))] : []),
        ...(p.storyboard ? Object.values(storyboardNames(baseOf(p), p.storyboard.format)).map((n) => path.join(p.outDir, n)) : []),
      ]),
    ],
    ['probe', known(probeWorker({}, silentLogger).parse)],
    ['cache-warm', known(cacheWarmWorker({}, silentLogger).parse)],
  ]);
  try {
    // Only the payload check is used; an SMTP URL in the environment that the worker would
    // refuse is the worker's to report.
    table.set('email', known(emailWorker({ email: { smtpUrl: '' } }, silentLogger).parse));
  } catch {
    /* email payloads go unchecked */
  }
  return table;
}

/** Check a payload as worker `fn` will: throws its GT_PAYLOAD_INVALID; returns the checked payload, or undefined for an unknown function. */
export function checkPayload(fn: string, payload: unknown): unknown {
  const k = knownFunctions().get(fn);
  return k ? k.parse(JSON.parse(JSON.stringify(payload ?? null))) : undefined;
}

/** The files a payload for `fn` writes; undefined when it cannot be told (unknown function, invalid payload). */
export function plannedOutputs(fn: string, payload: unknown): string[] | undefined {
  const k = knownFunctions().get(fn);
  if (!k?.plan) return undefined;
  try {
    return k.plan(JSON.parse(JSON.stringify(payload ?? null)));
  } catch (err) {
    if (err instanceof GeartrainError) return undefined; // the job reports its own payload error
    throw err;
  }
}

/**
 * Items of one step that would write the same file, compared ignoring case: on a
 * case-insensitive disk (macOS, Windows) `a.JPG-320w.webp` and `a.jpg-320w.webp` are one file,
 * so such a pair is refused everywhere. Returns the error for each item in a clash.
 */
export function outputConflicts(fn: string, items: readonly { key: string; label: string; payload: unknown }[]): Map<string, GeartrainError> {
  const writers = new Map<string, { label: string; key: string; file: string }[]>();
  for (const it of items) {
    for (const file of new Set(plannedOutputs(fn, it.payload) ?? [])) {
      const folded = file.toLowerCase();
      const list = writers.get(folded);
      if (list) list.push({ label: it.label, key: it.key, file });
      else writers.set(folded, [{ label: it.label, key: it.key, file }]);
    }
  }
  const conflicts = new Map<string, GeartrainError>();
  for (const list of writers.values()) {
    const keys = new Set(list.map((w) => w.key));
    if (keys.size < 2) continue;
    const labels = [...new Set(list.map((w) => w.label))];
    const names = `${labels.slice(0, -1).join(', ')} and ${labels[labels.length - 1]}`;
    const files = [...new Set(list.map((w) => w.file))];
    const what = files.length === 1 ? files[0]! : `${files.join(' and ')} (one file where case is ignored)`;
    for (const k of keys) if (!conflicts.has(k)) conflicts.set(k, gtError('GT_OUTPUT_CONFLICT', names, what));
  }
  return conflicts;
}
