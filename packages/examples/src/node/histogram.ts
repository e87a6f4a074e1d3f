/**
 * Latency histogram: exact to 1 µs up to 100 ms, then 1% buckets up to an hour. Fixed memory,
 * O(1) record, nearest-rank percentiles.
 */
const LINEAR_US = 100_000;
const LOG_BASE = 1.01;
const LOG_BUCKETS = Math.ceil(Math.log(3_600_000_000 / LINEAR_US) / Math.log(LOG_BASE)) + 1;

export class LatencyHistogram {
  private readonly linear = new Uint32Array(LINEAR_US);
  private readonly logarithmic = new Uint32Array(LOG_BUCKETS);
  count = 0;
  maxUs = 0;

  record(us: number): void {
    const value = Math.max(0, us);
    if (value < LINEAR_US) this.linear[Math.floor(value)]!++;
    else this.logarithmic[Math.min(LOG_BUCKETS - 1, Math.floor(Math.log(value / LINEAR_US) / Math.log(LOG_BASE)))]!++;
    this.count++;
    if (value > this.maxUs) this.maxUs = value;
  }

  /** The nearest-rank percentile (q in (0, 1]), in µs. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < LINEAR_US; i++) {
      seen += this.linear[i]!;
      if (seen >= rank) return i;
    }
    for (let i = 0; i < LOG_BUCKETS; i++) {
      seen += this.logarithmic[i]!;
      if (seen >= rank) return Math.round(LINEAR_US * LOG_BASE ** (i + 1));
    }
    return this.maxUs;
  }

  reset(): void {
    this.linear.fill(0);
    this.logarithmic.fill(0);
    this.count = 0;
    this.maxUs = 0;
  }
}
