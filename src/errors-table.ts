// The documented error table, printed from the registry in src/errors.ts so the docs cannot
// drift from what the code raises: `npm run errors-table` prints it, and a test checks that
// the docs hold it as printed.

import { ERRORS, type ErrorCode } from './errors.js';

export const ERROR_TABLE_HEADER = '| code | meaning | Gearman ERROR code | HTTP | exit |';

/** The Markdown table: a header, then one row per code in registry order. */
export function errorTable(): string {
  const rows = (Object.keys(ERRORS) as ErrorCode[]).map((code) => {
    const e = ERRORS[code];
    return `| \`${code}\` | ${e.doc} | ${e.gearman} | ${e.http} | ${e.exit} |`;
  });
  return [ERROR_TABLE_HEADER, '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
