// The documented error table is the one src/errors.ts prints (code, meaning, Gearman code, HTTP
// status, exit code), row for row, in docs/errors.md and wherever else the docs carry it (fastify's errors test does the
// same for its codes). `npm run errors-table` prints it.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ERROR_TABLE_HEADER, errorTable } from '../../src/errors-table.js';
import { ROOT } from '../helpers/servers.js';

/** The table starting at the header line, up to the first line that is not a table row. */
function tableIn(text: string): string | null {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| code | meaning |'));
  if (start < 0) return null;
  let end = start;
  while (end < lines.length && lines[end]!.startsWith('|')) end++;
  return lines.slice(start, end).join('\n');
}

test('the error table in the docs is the one src/errors.ts prints', () => {
  const files = ['README.md', 'docs/errors.md'].map((f) => path.join(ROOT, f)).filter((f) => existsSync(f));
  const tables = files.map((f) => ({ file: path.relative(ROOT, f), table: tableIn(readFileSync(f, 'utf8')) })).filter((t) => t.table !== null);
  assert.ok(
    tables.some((t) => t.file === path.join('docs', 'errors.md')),
    `no error table (${ERROR_TABLE_HEADER}) in docs/errors.md`,
  );
  const expected = errorTable().split('\n');
  for (const { file, table } of tables) {
    const got = table!.split('\n');
    // Row by row, so a failure names the code that differs.
    for (let i = 0; i < Math.max(got.length, expected.length); i++) {
      assert.equal(got[i], expected[i], `${file}: error table line ${i + 1} differs from \`npm run errors-table\``);
    }
  }
});
