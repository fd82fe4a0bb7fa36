// V8's heap growth for a job server process, as an operator's choice. By default V8 lets the
// old generation grow to up to four times what survived the last full collection when the
// program allocates fast, which a server filling its queue does: a million queued jobs on
// SQLite (about 400 MB live) left 823-1,044 MB of RSS right after the fill, returned only when
// V8's memory reducer ran 10-20 s later. GEARTRAIN_HEAP_GROWING_PERCENT=50 (a fixed factor of
// 1.5) kept it at 611 MB (memory store: 446 → 413 MB), but cost 6% of background end-to-end
// throughput (33.1k/35.1k against 35.4k/37.5k jobs/s, alternating runs) and 10-17% of the
// queue-fill rate on SQLite (bench/, 2-core machine). Throughput is the default; memory is the
// setting.

import v8 from 'node:v8';
import { invalidArgument } from '../errors.js';

/** The heap may grow to (1 + this / 100) times what survived the last full collection. */
export const DEFAULT_HEAP_GROWING_PERCENT = 0;

/**
 * Apply GEARTRAIN_HEAP_GROWING_PERCENT (default 0: V8's own heuristics) to this
 * process. Call it before the queue fills: it changes how V8 sizes the heap from then on.
 */
export function tuneHeapGrowth(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GEARTRAIN_HEAP_GROWING_PERCENT;
  let percent = DEFAULT_HEAP_GROWING_PERCENT;
  if (raw !== undefined && raw !== '') {
    percent = Number(raw);
    if (!/^\d+$/.test(raw) || percent > 1000) throw invalidArgument('an integer percentage between 0 and 1000', 'GEARTRAIN_HEAP_GROWING_PERCENT', raw);
  }
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
