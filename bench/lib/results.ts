// A benchmark run's results as data (what bench/results/latest.json holds) and as the Markdown
// table docs/benchmarks.md shows, so the docs are refreshed by running the benchmarks, not by
// editing numbers. Pure functions: run.ts writes the files, update-docs.ts splices the table.

import { fmt, type Machine, type Metric, type ServerKind } from './harness.js';

export interface Row {
  scenario: string;
  case: string;
  metric: Metric;
  geartrain: number;
  /** The other side's figure: gearmand, or the case's `versus.baseline`. */
  gearmand: number;
  baseline: string;
  ratio: number;
  verdict: 'pass' | 'FAIL' | 'info' | 'error';
  runs: Record<ServerKind, number[]>;
  /** Runs (either server) during which other processes were busy. */
  disturbed: number;
  error?: string;
}

/** What bench/results/latest.json holds about one `npm run bench`. */
export interface RunRecord {
  /** ISO time the run ended. */
  date: string;
  revision: string;
  machine: Machine;
  reps: number;
  /** Every scenario and case ran, on both sides: the run can stand for the latest full run. */
  complete: boolean;
  rows: Row[];
}

export function targetText(m: Metric): string {
  if (m.target === undefined) return '—';
  return `${m.better === 'higher' ? '≥' : '≤'} ${m.target}×`;
}

/** A ratio within rounding of its target gets a third decimal, so "1.00× FAIL" cannot appear. */
const nearTarget = (r: Row): boolean => r.metric.target !== undefined && Math.abs(r.ratio - r.metric.target) < 0.005;

export function ratioText(r: Row): string {
  return Number.isFinite(r.ratio) ? `${r.ratio.toFixed(nearTarget(r) ? 3 : 2)}×` : '—';
}

/**
 * A row's metric as the table shows it: its label, and its case's name when another case of
 * the same scenario reports a metric of the same label (memory.ts measures two stores).
 */
function metricNames(rows: readonly Row[]): string[] {
  const count = new Map<string, number>();
  for (const r of rows) count.set(`${r.scenario}\0${r.metric.label}`, (count.get(`${r.scenario}\0${r.metric.label}`) ?? 0) + 1);
  return rows.map((r) => ((count.get(`${r.scenario}\0${r.metric.label}`) ?? 0) > 1 ? `${r.metric.label} (${r.case})` : r.metric.label));
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The run as a Markdown paragraph (when, at which commit, on what) and one table of medians. */
export function resultsMarkdown(run: RunRecord): string {
  const m = run.machine;
  const day = run.date.slice(0, 10);
  const disturbed = run.rows.some((r) => r.disturbed > 0);
  const head = [
    `\`npm run bench\` on ${day} at commit ${run.revision}: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.os};`,
    `Node ${m.node}; ${m.gearmand}. Medians of ${run.reps} run${run.reps === 1 ? '' : 's'} per side (fewer where a case sets its own).`,
    ...(disturbed ? ['Rows marked *disturbed* ran while other processes used over 15% of a core.'] : []),
    ...(run.complete ? [] : ['Not a full run: some scenarios, cases or sides were left out.']),
  ];
  const names = metricNames(run.rows);
  const body = run.rows.map((r, i) => {
    const error = r.verdict === 'error';
    const result = error ? `error: ${r.error ?? 'no figure'}` : `${r.verdict}${r.disturbed > 0 ? ' (disturbed)' : ''}`;
    const other = error ? '—' : Number.isFinite(r.gearmand) ? `${r.baseline} ${fmt(r.gearmand, r.metric.unit)}` : '—';
    const cells = [r.scenario, names[i]!, error ? '—' : fmt(r.geartrain, r.metric.unit), other, error ? '—' : ratioText(r), targetText(r.metric), result];
    return `| ${cells.map(cell).join(' | ')} |`;
  });
  return [
    ...head,
    '',
    '| scenario | metric | geartrain | compared with | ratio | target | result |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...body,
    '',
  ].join('\n');
}

export const LATEST_START = '<!-- bench:latest:start -->';
export const LATEST_END = '<!-- bench:latest:end -->';

/** `doc` with what lies between the latest-run markers replaced by `markdown`. */
export function replaceLatest(doc: string, markdown: string): string {
  const start = doc.indexOf(LATEST_START);
  const end = doc.indexOf(LATEST_END);
  if (start < 0 || end < start || doc.indexOf(LATEST_START, start + 1) >= 0 || doc.indexOf(LATEST_END, end + 1) >= 0) {
    throw new Error(`Expected one ${LATEST_START} … ${LATEST_END} section in the document`);
  }
  return `${doc.slice(0, start + LATEST_START.length)}\n${markdown.trimEnd()}\n${doc.slice(end)}`;
}
