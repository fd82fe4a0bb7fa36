// `npm run bench` writes its table as Markdown, and `npm run bench:docs` puts the table of a full
// run into docs/benchmarks.md between its markers (and refuses a partial run).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LATEST_END, LATEST_START, type Row, type RunRecord, replaceLatest, resultsMarkdown } from '../../bench/lib/results.js';
import { ROOT } from '../helpers/prose.js';

function row(over: Partial<Row> & Pick<Row, 'scenario' | 'case' | 'geartrain' | 'gearmand'>): Row {
  const ratio = over.geartrain / over.gearmand;
  return {
    metric: { key: 'jobs', label: 'bg no-op jobs/s', unit: 'jobs/s', better: 'higher' },
    baseline: 'gearmand',
    ratio,
    verdict: 'info',
    runs: { geartrain: [over.geartrain], gearmand: [over.gearmand] },
    disturbed: 0,
    ...over,
  };
}

const machine = { cpus: 2, cpuModel: 'AMD EPYC 7B13', node: 'v20.20.0', gearmand: 'gearmand 1.1.20', os: 'Linux 6.1.0', memGiB: 8 };

function record(over: Partial<RunRecord> = {}): RunRecord {
  return {
    date: '2026-11-28T21:00:00.000Z',
    revision: '52b8171',
    machine,
    reps: 3,
    complete: true,
    rows: [
      row({
        scenario: 'background-noop',
        case: 'e2e',
        geartrain: 13823,
        gearmand: 14260,
        verdict: 'FAIL',
        metric: { key: 'jobs', label: 'bg no-op jobs/s', unit: 'jobs/s', better: 'higher', target: 2 },
      }),
      row({
        scenario: 'memory',
        case: 'memory store',
        geartrain: 374,
        gearmand: 925,
        verdict: 'pass',
        metric: { key: 'rss', label: 'RSS', unit: 'MB', better: 'lower', target: 0.5 },
      }),
      row({
        scenario: 'memory',
        case: 'sqlite store',
        geartrain: 445,
        gearmand: 925,
        verdict: 'pass',
        disturbed: 1,
        metric: { key: 'rss', label: 'RSS', unit: 'MB', better: 'lower', target: 0.5 },
      }),
      row({
        scenario: 'thumbnail',
        case: 'photos',
        geartrain: 15.06,
        gearmand: 13.03,
        baseline: 'sharp | loop',
        metric: { key: 'images', label: 'images/s', unit: 'images/s', better: 'higher', target: 0.9 },
      }),
      row({ scenario: 'durable', case: 'mariadb', geartrain: NaN, gearmand: NaN, verdict: 'error', error: 'connect ECONNREFUSED' }),
    ],
    ...over,
  };
}

test('a run renders as a dated Markdown table naming the commit and the machine', () => {
  const md = resultsMarkdown(record());
  const lines = md.split('\n');
  assert.match(lines[0]!, /^`npm run bench` on 2026-11-28 at commit 52b8171: 2 × AMD EPYC 7B13, 8 GiB, Linux 6\.1\.0;$/);
  assert.match(md, /Node v20\.20\.0; gearmand 1\.1\.20\. Medians of 3 runs per side/);
  assert.match(md, /Rows marked \*disturbed\* ran while other processes used over 15% of a core\./);
  const table = lines.filter((l) => l.startsWith('|'));
  assert.deepEqual(table.slice(0, 2), [
    '| scenario | metric | geartrain | compared with | ratio | target | result |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ]);
  assert.deepEqual(table.slice(2), [
    '| background-noop | bg no-op jobs/s | 13,823 jobs/s | gearmand 14,260 jobs/s | 0.97× | ≥ 2× | FAIL |',
    '| memory | RSS (memory store) | 374 MB | gearmand 925 MB | 0.40× | ≤ 0.5× | pass |',
    '| memory | RSS (sqlite store) | 445 MB | gearmand 925 MB | 0.48× | ≤ 0.5× | pass (disturbed) |',
    '| thumbnail | images/s | 15.06 images/s | sharp \\| loop 13.03 images/s | 1.16× | ≥ 0.9× | info |',
    '| durable | bg no-op jobs/s | — | — | — | — | error: connect ECONNREFUSED |',
  ]);
});

test('a partial run says so in its Markdown', () => {
  assert.match(resultsMarkdown(record({ complete: false })), /Not a full run: some scenarios, cases or sides were left out\./);
  assert.doesNotMatch(resultsMarkdown(record()), /Not a full run/);
});

test('the latest-run section is replaced between its markers, and only there', () => {
  const doc = `# B\n\nintro\n\n${LATEST_START}\nold table\n${LATEST_END}\n\nafter\n`;
  assert.equal(replaceLatest(doc, 'new table\n'), `# B\n\nintro\n\n${LATEST_START}\nnew table\n${LATEST_END}\n\nafter\n`);
  assert.throws(() => replaceLatest('# no markers\n', 'x'), /Expected one <!-- bench:latest:start --> … <!-- bench:latest:end --> section/);
  assert.throws(() => replaceLatest(`${LATEST_START}\n${LATEST_END}\n${LATEST_START}\n${LATEST_END}\n`, 'x'), /Expected one/);
  assert.throws(() => replaceLatest(`${LATEST_END}\n${LATEST_START}\n`, 'x'), /Expected one/);
});

test('docs/benchmarks.md has one latest-run section', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/benchmarks.md'), 'utf8');
  assert.doesNotThrow(() => replaceLatest(doc, 'x'));
});

test('npm run bench:docs puts a full run into the docs and refuses a partial one', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gt-bench-docs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const results = path.join(dir, 'latest.json');
  const doc = path.join(dir, 'benchmarks.md');
  const before = `# Benchmarks\n\n${LATEST_START}\nhand-written\n${LATEST_END}\n`;
  writeFileSync(doc, before);
  const run = (): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, ['--import', 'tsx', 'bench/update-docs.ts', '--results', results, '--doc', doc], { cwd: ROOT, encoding: 'utf8' });

  writeFileSync(results, JSON.stringify(record({ complete: false })));
  const partial = run();
  assert.equal(partial.status, 1);
  assert.match(
    String(partial.stderr),
    /^bench:docs: .*latest\.json is from a partial run \(some scenarios, cases or sides left out\); run `npm run bench` with no filter\n$/,
  );
  assert.equal(readFileSync(doc, 'utf8'), before, 'the docs are left as they were');

  writeFileSync(results, '{"not": "results"}');
  assert.match(String(run().stderr), /is not a bench results file \(no rows, date or machine\)/);

  writeFileSync(results, JSON.stringify(record()));
  const full = run();
  assert.equal(full.status, 0, String(full.stderr));
  assert.equal(readFileSync(doc, 'utf8'), `# Benchmarks\n\n${LATEST_START}\n${resultsMarkdown(record()).trimEnd()}\n${LATEST_END}\n`);
});
