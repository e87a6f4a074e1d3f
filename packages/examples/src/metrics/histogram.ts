/**
 * Histograms for metrics: fixed memory, O(log buckets) to record, no allocation per observation.
 */

/** A Prometheus histogram: cumulative since start, with fixed upper bounds. */
export class BucketHistogram {
  /** counts[i]: observations ≤ bounds[i] and > bounds[i - 1]; the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError('bounds must increase');
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (value <= bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo]!++;
    this.sum += value;
    this.count++;
  }
}

/** Seconds: 50 µs to 10 s. */
export const LATENCY_BOUNDS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Entries per append: powers of two up to 16384. */
export const BATCH_BOUNDS = Array.from({ length: 15 }, (_, i) => 2 ** i);

const SLOT_MS = 250;
const SLOTS = 5;
const MIN_US = 1;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(100e6 / MIN_US) / LOG_GROWTH) + 1;

/**
 * Latencies of the last second, for the dashboard: five 250 ms slots of logarithmic buckets (5%
 * wide), of which the four complete ones (exactly the last second before the current slot) are
 * read. Percentiles are upper bucket bounds, so within 5% of the truth.
 */
export class RecentLatency {
  private readonly slots = Array.from({ length: SLOTS }, () => new Uint32Array(BUCKETS));
  private readonly epochs = new Float64Array(SLOTS).fill(-1);
  private readonly totals = new Float64Array(SLOTS);

  constructor(private readonly now: () => number = () => performance.now()) {}

  record(us: number): void {
    const epoch = Math.floor(this.now() / SLOT_MS);
    const slot = epoch % SLOTS;
    if (this.epochs[slot] !== epoch) {
      this.slots[slot]!.fill(0);
      this.totals[slot] = 0;
      this.epochs[slot] = epoch;
    }
    const bucket = us <= MIN_US ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us / MIN_US) / LOG_GROWTH));
    this.slots[slot]![bucket]!++;
    this.totals[slot]!++;
  }

  /** Observations per second over the last complete second, and their p50 and p99 in µs. */
  read(): { perSec: number; p50Us: number; p99Us: number } {
    const epoch = Math.floor(this.now() / SLOT_MS);
    const live: Uint32Array[] = [];
    let count = 0;
    for (let s = 0; s < SLOTS; s++) {
      const e = this.epochs[s]!;
      if (e >= epoch - (SLOTS - 1) && e < epoch) {
        live.push(this.slots[s]!);
        count += this.totals[s]!;
      }
    }
    const perSec = count / (((SLOTS - 1) * SLOT_MS) / 1000);
    if (count === 0) return { perSec: 0, p50Us: 0, p99Us: 0 };
    const rank50 = Math.ceil(0.5 * count);
    const rank99 = Math.ceil(0.99 * count);
    let seen = 0;
    let p50 = 0;
    for (let b = 0; b < BUCKETS; b++) {
      for (const slot of live) seen += slot[b]!;
      if (p50 === 0 && seen >= rank50) p50 = MIN_US * GROWTH ** b;
      if (seen >= rank99) return { perSec, p50Us: Math.round(p50), p99Us: Math.round(MIN_US * GROWTH ** b) };
    }
    return { perSec, p50Us: Math.round(p50), p99Us: Math.round(MIN_US * GROWTH ** (BUCKETS - 1)) };
  }
}
