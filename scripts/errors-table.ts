// Print the error table of src/errors.ts as Markdown (paste it into docs/errors.md).
import { errorTable } from '../src/errors-table.js';

process.stdout.write(`${errorTable()}\n`);
