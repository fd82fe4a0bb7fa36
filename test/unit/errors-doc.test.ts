// Every error code is documented in the README's error table, with the same Gearman code and
// exit code as the registry (fastify's errors test does the same for its codes).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { ROOT } from '../helpers/servers.js';

test('every error code is documented in the README with its Gearman code and exit code', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `README has no row for ${code}`);
    const cells = row.split('|').map((c) => c.trim());
    assert.equal(cells[3], ERRORS[code].gearman, `${code}: Gearman code in README`);
    assert.equal(Number(cells[4]), ERRORS[code].exit, `${code}: exit code in README`);
  }
});
