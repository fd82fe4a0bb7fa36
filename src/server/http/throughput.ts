// The last minutes of completed and failed totals, sampled on a timer whether or not anyone
// watches, so a dashboard that opens draws its throughput chart at once from the first event
// snapshot. A fixed ring: one slot per sample over the window, nothing grows.

import type { Totals } from './views.js';

/** How far back the history goes: the dashboard chart's window. */
export const HISTORY_WINDOW_MS = 5 * 60_000;

export interface TotalsSample {
  /** ms since the epoch */
  t: number;
  completed: number;
  failed: number;
}

export class ThroughputHistory {
  private readonly ring: (TotalsSample | undefined)[];
  private next = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly totals: () => Totals,
    intervalMs: number,
  ) {
    this.ring = new Array<TotalsSample | undefined>(Math.ceil(HISTORY_WINDOW_MS / intervalMs) + 1);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    // A history alone does not keep the process alive.
    this.timer.unref();
  }

  private sample(): void {
    const { completed, failed } = this.totals();
    this.ring[this.next] = { t: Date.now(), completed, failed };
    this.next = (this.next + 1) % this.ring.length;
  }

  /** Samples of the window, oldest first. */
  samples(): TotalsSample[] {
    const out: TotalsSample[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const s = this.ring[(this.next + i) % this.ring.length];
      if (s) out.push(s);
    }
    return out;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
