// Waveform peaks in one pass over a stream of samples whose length is not known in advance:
// min and max per block, blocks merged pairwise whenever the table fills, then grouped into
// exactly N buckets at the end. Memory stays at the table's size whatever the duration.

/** Blocks per bucket kept at least: a bucket's edge is off by at most 1/16 of a bucket. */
const BLOCKS_PER_BUCKET = 16;

export class PeakBlocks {
  private readonly cap: number;
  private readonly min: Int16Array;
  private readonly max: Int16Array;
  /** Complete blocks in the table. */
  private count = 0;
  /** Samples per block: doubles each time the table is merged. */
  private size = 1;
  private filled = 0;
  private curMin = 32767;
  private curMax = -32768;
  samples = 0;

  /** Enough blocks for `buckets` buckets, at least 16 blocks each. */
  constructor(buckets: number) {
    this.cap = 2 * BLOCKS_PER_BUCKET * buckets;
    this.min = new Int16Array(this.cap);
    this.max = new Int16Array(this.cap);
  }

  push(s: Int16Array): void {
    // The running block in locals, not fields, inside the loop over every sample.
    let { curMin, curMax, filled } = this;
    let size = this.size;
    for (let i = 0; i < s.length; i++) {
      const v = s[i]!;
      if (v < curMin) curMin = v;
      if (v > curMax) curMax = v;
      if (++filled === size) {
        this.close(curMin, curMax);
        size = this.size;
        curMin = 32767;
        curMax = -32768;
        filled = 0;
      }
    }
    Object.assign(this, { curMin, curMax, filled });
    this.samples += s.length;
  }

  private close(mn: number, mx: number): void {
    this.min[this.count] = mn;
    this.max[this.count] = mx;
    if (++this.count < this.cap) return;
    // Full: merge neighbours, so each block covers twice the samples.
    const half = this.cap / 2;
    for (let i = 0; i < half; i++) {
      this.min[i] = Math.min(this.min[2 * i]!, this.min[2 * i + 1]!);
      this.max[i] = Math.max(this.max[2 * i]!, this.max[2 * i + 1]!);
    }
    this.count = half;
    this.size *= 2;
  }

  /**
   * Exactly `n` [min, max] pairs in [-1, 1], 4 decimals. With fewer samples than `n` (a very
   * short file) neighbouring buckets repeat a sample; with none, all are [0, 0].
   */
  buckets(n: number): [number, number][] {
    const min = Array.from(this.min.subarray(0, this.count));
    const max = Array.from(this.max.subarray(0, this.count));
    if (this.filled > 0) {
      min.push(this.curMin);
      max.push(this.curMax);
    }
    const b = min.length;
    const round = (v: number): number => Math.round((v / 32768) * 10_000) / 10_000;
    const out: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      if (b === 0) {
        out.push([0, 0]);
        continue;
      }
      const from = Math.floor((i * b) / n);
      const to = Math.max(from + 1, Math.floor(((i + 1) * b) / n));
      let lo = 32767;
      let hi = -32768;
      for (let j = from; j < to; j++) {
        if (min[j]! < lo) lo = min[j]!;
        if (max[j]! > hi) hi = max[j]!;
      }
      out.push([round(lo), round(hi)]);
    }
    return out;
  }
}
