// `npm run bench:docs`: put the table of the last full `npm run bench` (bench/results/latest.json)
// into docs/benchmarks.md, between its latest-run markers. A partial run (some scenarios, a
// --case filter, --only one side) is refused: it cannot stand for the latest full run.
//
//   npm run bench:docs [-- --results FILE] [--doc FILE]

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR } from './lib/harness.js';
import { type RunRecord, replaceLatest, resultsMarkdown } from './lib/results.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`Expected a file after ${name}`);
  return path.resolve(v);
}

function main(): void {
  const results = option('--results', path.join(BENCH_DIR, 'results', 'latest.json'));
  const doc = option('--doc', path.join(BENCH_DIR, '..', 'docs', 'benchmarks.md'));
  let run: RunRecord;
  try {
    run = JSON.parse(readFileSync(results, 'utf8')) as RunRecord;
  } catch (err) {
    throw new Error(`Could not read ${results} (run \`npm run bench\` first): ${(err as Error).message}`);
  }
  if (!Array.isArray(run.rows) || typeof run.date !== 'string' || typeof run.machine !== 'object') {
    throw new Error(`${results} is not a bench results file (no rows, date or machine)`);
  }
  if (run.complete !== true) {
    throw new Error(`${results} is from a partial run (some scenarios, cases or sides left out); run \`npm run bench\` with no filter`);
  }
  writeFileSync(doc, replaceLatest(readFileSync(doc, 'utf8'), resultsMarkdown(run)));
  console.log(`${path.relative(process.cwd(), doc)}: latest full run of ${run.date.slice(0, 10)} at ${run.revision}`);
}

try {
  main();
} catch (err) {
  console.error(`bench:docs: ${(err as Error).message}`);
  process.exit(1);
}
