// tsc compiles src/ to dist/ but copies nothing else: this copies the non-TypeScript files the
// code reads at run time (the dashboard's HTML, JS and CSS) to the same place under dist/, and
// makes the CLI executable (tsc writes it 0644; `npx pipeline` in a fresh clone then failed with
// "Permission denied", as npm had nothing to link yet when it set bin modes).
// Run by `npm run build` and `prepare`.

import { chmodSync, cpSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ASSET_DIRS = ['server/http/dashboard'];

for (const dir of ASSET_DIRS) {
  const from = path.join(ROOT, 'src', dir);
  const to = path.join(ROOT, 'dist', dir);
  if (!existsSync(from)) {
    console.error(`copy-assets: ${path.relative(ROOT, from)} is missing`);
    process.exit(1);
  }
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}

chmodSync(path.join(ROOT, 'dist', 'cli', 'index.js'), 0o755);
