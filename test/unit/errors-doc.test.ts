// Every error code is documented in docs/errors.md's table, with the same Gearman code, exit
// code and HTTP status as the registry (fastify's errors test does the same for its codes).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { ROOT } from '../helpers/servers.js';

const DOC = 'docs/errors.md';

test('every error code is documented in docs/errors.md with its Gearman code, exit code and HTTP status', () => {
  const rows = readFileSync(path.join(ROOT, DOC), 'utf8').split('\n');
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    const row = rows.find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `${DOC} has no row for ${code}`);
    const cells = row.split('|').map((c) => c.trim());
    assert.equal(cells[3], ERRORS[code].gearman, `${code}: Gearman code in ${DOC}`);
    assert.equal(Number(cells[4]), ERRORS[code].exit, `${code}: exit code in ${DOC}`);
    assert.equal(Number(cells[5]), ERRORS[code].http, `${code}: HTTP status in ${DOC}`);
  }
});

test('docs/errors.md lists no code the registry does not have', () => {
  const documented = readFileSync(path.join(ROOT, DOC), 'utf8')
    .split('\n')
    .map((l) => /^\| `(GT_[A-Z_]+)` \|/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined);
  assert.deepEqual(documented.filter((c) => !(c in ERRORS)), []);
});
