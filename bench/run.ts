// Runs the benchmark scenarios (every bench/*.ts that exports `scenario`, or those named on the
// command line), each case on geartrain and on gearmand, and prints one table of medians with
// the ratio against its target (docs/benchmarks.md). Results go to bench/results/latest.json, and
// as Markdown to bench/results/latest.md (`npm run bench:docs` puts that table in the docs).
//
//   npm run bench                                   all scenarios, 3 runs per server
//   npm run bench -- background-noop --reps 1       one scenario, one run
//   npm run bench -- --profile background-noop      also --cpu-prof the geartrain server
//   npm run bench -- durable --case "in memory"      only the cases whose name contains the text
//
// Every measurement starts a fresh server child and a fresh load-generator child (see
// bench/lib/harness.ts for the setup); runs alternate which server goes first, so drift on the
// machine (thermal, page cache, a noisy neighbour) does not always favour the same one.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BENCH_DIR,
  BUSY_MACHINE_CORES,
  type Case,
  fmt,
  GEARTRAIN_STORE,
  killAll,
  machine,
  median,
  type Sample,
  type Scenario,
  type ServerKind,
  setProfileDir,
  startServer,
  stopServer,
} from './lib/harness.js';
import { hotSpots } from './lib/profile.js';
import { type Row, type RunRecord, ratioText, resultsMarkdown, targetText } from './lib/results.js';

const NOT_SCENARIOS = new Set(['run.ts', 'load.ts', 'update-docs.ts']);
const RESULTS_DIR = path.join(BENCH_DIR, 'results');

interface Args {
  names: string[];
  reps: number;
  profile: boolean;
  /** Measure one server only (while working on it); no ratios then. */
  only: ServerKind | null;
  /** Run only the cases whose name contains this. */
  caseFilter: string | null;
}

function parseArgs(argv: string[]): Args {
  const names: string[] = [];
  let reps = 3;
  let profile = false;
  let only: ServerKind | null = null;
  let caseFilter: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--reps') {
      reps = Number(argv[++i]);
      if (!Number.isInteger(reps) || reps < 1) throw new Error(`Expected a positive integer for --reps but received "${argv[i]}"`);
    } else if (a === '--profile') profile = true;
    else if (a === '--only') {
      const v = argv[++i];
      if (v !== 'geartrain' && v !== 'gearmand') throw new Error(`Expected geartrain or gearmand for --only but received "${v}"`);
      only = v;
    } else if (a === '--case') {
      caseFilter = argv[++i] ?? '';
      if (caseFilter === '') throw new Error('Expected part of a case name after --case');
    } else if (a.startsWith('-')) throw new Error(`Unknown option ${a} (known: --reps N, --profile, --only geartrain|gearmand, --case TEXT)`);
    else names.push(a.replace(/^bench\//, '').replace(/\.ts$/, ''));
  }
  return { names, reps, profile, only, caseFilter };
}

async function loadScenarios(names: string[]): Promise<Scenario[]> {
  const files = readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.ts') && !NOT_SCENARIOS.has(f))
    .sort();
  const known = files.map((f) => f.slice(0, -3));
  for (const n of names) if (!known.includes(n)) throw new Error(`No scenario "${n}" in bench/ (have: ${known.join(', ')})`);
  const out: Scenario[] = [];
  for (const f of files) {
    if (names.length > 0 && !names.includes(f.slice(0, -3))) continue;
    const mod = (await import(pathToFileURL(path.join(BENCH_DIR, f)).href)) as { scenario?: Scenario };
    if (mod.scenario) out.push(mod.scenario);
  }
  return out;
}

async function measureOnce(c: Case, kind: ServerKind, profiling: boolean): Promise<Sample> {
  try {
    if (c.versus) return await c.versus.measure(kind);
    const server = await startServer(kind, c.serverArgs);
    try {
      return await c.measure(server);
    } finally {
      await stopServer(server);
      if (profiling && kind === 'geartrain') printProfile(server.pid!);
    }
  } finally {
    await c.cleanup?.();
  }
}

function printProfile(pid: number): void {
  const dir = path.join(RESULTS_DIR, 'profiles');
  const file = readdirSync(dir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
  if (!file) {
    console.log(`      (no profile written by pid ${pid})`);
    return;
  }
  console.log(`      geartrain server profile ${path.join('bench/results/profiles', file)}, self time:`);
  for (const h of hotSpots(path.join(dir, file), 12)) console.log(`      ${h.selfPct.toFixed(1).padStart(5)}%  ${h.fn}  ${h.where}`);
}

async function runCase(s: Scenario, c: Case, { reps, profile: profiling, only }: Args): Promise<Row[]> {
  const runs: Record<ServerKind, Sample[]> = { geartrain: [], gearmand: [] };
  console.log(`\n${s.name}: ${c.name}`);
  const n = Math.min(reps, c.maxReps ?? reps);
  for (let rep = 0; rep < n; rep++) {
    const order: ServerKind[] = rep % 2 === 0 ? ['geartrain', 'gearmand'] : ['gearmand', 'geartrain'];
    for (const kind of order) {
      if (only !== null && kind !== only) continue;
      const sample = await measureOnce(c, kind, profiling);
      runs[kind].push(sample);
      console.log(`  run ${rep + 1}/${n} ${(kind === 'gearmand' && c.versus ? c.versus.baseline : kind).padEnd(9)} ${sample.note}`);
    }
  }
  return c.metrics.map((m) => {
    const g = runs.geartrain.map((r) => r.values[m.key]!);
    const d = runs.gearmand.map((r) => r.values[m.key]!);
    const geartrain = median(g);
    const gearmand = median(d);
    const ratio = geartrain / gearmand;
    let verdict: Row['verdict'] = 'info';
    if (m.target !== undefined && Number.isFinite(ratio)) verdict = (m.better === 'higher' ? ratio >= m.target : ratio <= m.target) ? 'pass' : 'FAIL';
    const disturbed = [...runs.geartrain, ...runs.gearmand].filter((r) => r.otherCpu > BUSY_MACHINE_CORES).length;
    const baseline = c.versus?.baseline ?? 'gearmand';
    return { scenario: s.name, case: c.name, metric: m, geartrain, gearmand, baseline, ratio, verdict, runs: { geartrain: g, gearmand: d }, disturbed };
  });
}

function printTable(rows: Row[]): void {
  const head = ['scenario', 'metric', 'geartrain', 'compared with', '', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    r.scenario,
    r.metric.label,
    r.verdict === 'error' ? 'error' : fmt(r.geartrain, r.metric.unit),
    r.baseline,
    r.verdict === 'error' ? 'error' : fmt(r.gearmand, r.metric.unit),
    ratioText(r),
    targetText(r.metric),
    r.verdict,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 2 || i === 4 || i === 5 ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join('  ');
  console.log(`\n${line(head)}`);
  console.log(width.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BENCH_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: BENCH_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${rev}+dirty` : rev;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const args = parseArgs(process.argv.slice(2));
  const { names, reps, profile } = args;
  mkdirSync(RESULTS_DIR, { recursive: true });
  if (profile) {
    const dir = path.join(RESULTS_DIR, 'profiles');
    mkdirSync(dir, { recursive: true });
    setProfileDir(dir);
  }
  const m = machine();
  console.log(`machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.os}; node ${m.node}; ${m.gearmand}`);
  console.log(
    `setup: server and load generator in separate child processes, unpinned; gearmand -t 2; geartrain \`pipeline server\` (store ${GEARTRAIN_STORE}); median ` +
      `of ${reps} runs per server, order alternating`,
  );

  const scenarios = await loadScenarios(names);
  const rows: Row[] = [];
  for (const s of scenarios) {
    for (const c of s.cases) {
      if (args.caseFilter !== null && !c.name.includes(args.caseFilter)) continue;
      try {
        rows.push(...(await runCase(s, c, args)));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        console.log(`  error: ${msg}`);
        killAll();
        for (const metric of c.metrics) {
          rows.push({
            scenario: s.name,
            case: c.name,
            metric,
            geartrain: NaN,
            gearmand: NaN,
            baseline: c.versus?.baseline ?? 'gearmand',
            ratio: NaN,
            verdict: 'error',
            runs: { geartrain: [], gearmand: [] },
            disturbed: 0,
            error: msg,
          });
        }
      }
    }
  }

  printTable(rows);
  const judged = rows.filter((r) => r.verdict === 'pass' || r.verdict === 'FAIL');
  const failed = judged.filter((r) => r.verdict === 'FAIL').length;
  const errors = rows.filter((r) => r.verdict === 'error').length;
  const seconds = (Date.now() - started) / 1000;
  console.log(`\n${judged.length - failed} of ${judged.length} targets met${errors ? `, ${errors} figures missing (errors)` : ''}; ${seconds.toFixed(0)} s`);
  const disturbed = new Set(rows.filter((r) => r.disturbed > 0).map((r) => r.case));
  if (disturbed.size > 0) {
    console.log(
      `warning: other processes used over ${BUSY_MACHINE_CORES * 100}% of a core during some runs of: ${[...disturbed].join('; ')}. Rerun on a quiet machine.`,
    );
  }

  const file = path.join(RESULTS_DIR, 'latest.json');
  const cases = scenarios.flatMap((s) => s.cases.map((c) => ({ scenario: s.name, case: c.name, config: c.config })));
  const complete = names.length === 0 && args.caseFilter === null && args.only === null;
  const record: RunRecord = { date: new Date().toISOString(), revision: gitRevision(), machine: m, reps, complete, rows };
  writeFileSync(file, `${JSON.stringify({ ...record, geartrainStore: GEARTRAIN_STORE, seconds, cases }, null, 2)}\n`);
  const markdown = path.join(RESULTS_DIR, 'latest.md');
  writeFileSync(markdown, resultsMarkdown(record));
  console.log(
    `results: ${path.relative(process.cwd(), file)}, ` +
      `${path.relative(process.cwd(), markdown)}${complete ? ' (npm run bench:docs puts the table in docs/benchmarks.md)' : ''}`,
  );
  return errors > 0 ? 1 : 0;
}

main().then(
  (code) => {
    killAll();
    process.exit(code);
  },
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    killAll();
    process.exit(1);
  },
);
