/**
 * Deadlines bucketed by timer resolution, so thousands of pending operations cost one check per
 * tick instead of one timer each.
 *
 * A bucket holds ranges of keys, not the keys: callers add keys that mostly increase (log indices,
 * request ids), so a bucket is usually one range however many operations it covers. A bucket kept
 * every key until its deadline passed, long after the operation had completed: with 5 s timeouts at
 * 200k proposals/s, a million numbers in arrays that outlived young-generation collections (about
 * 40 MB of a leader's old-generation growth under load). The price is that a range can cover keys
 * that were added to other buckets: expire() reports ranges whose keys *may* be due, and the caller
 * checks each operation's own deadline.
 */
export class DeadlineWheel {
  /** Per bucket: [lo0, hi0, lo1, hi1, ...]. */
  private readonly buckets = new Map<number, number[]>();
  private lastExpired = Number.NEGATIVE_INFINITY;

  constructor(private readonly resolutionMs: number) {}

  add(deadlineMs: number, key: number): void {
    const bucket = Math.max(Math.ceil(deadlineMs / this.resolutionMs), this.lastExpired + 1);
    const ranges = this.buckets.get(bucket);
    if (!ranges) {
      this.buckets.set(bucket, [key, key]);
      return;
    }
    const last = ranges.length - 1;
    if (key > ranges[last]!) ranges[last] = key;
    else if (key < ranges[last - 1]!) ranges.push(key, key);
  }

  /**
   * Calls `out(lo, hi)` for ranges of keys among which every key whose deadline is at or before
   * `nowMs` lies (with others: callers check each operation's deadline, and whether it is done).
   */
  expire(nowMs: number, out: (lo: number, hi: number) => void): void {
    const current = Math.floor(nowMs / this.resolutionMs);
    for (const [bucket, ranges] of this.buckets) {
      if (bucket > current) continue;
      this.buckets.delete(bucket);
      for (let i = 0; i < ranges.length; i += 2) out(ranges[i]!, ranges[i + 1]!);
    }
    this.lastExpired = current;
  }

  clear(): void {
    this.buckets.clear();
  }
}

/**
 * The keys of `map` within [lo, hi], by whichever is shorter to walk: the range or the map.
 * Collected first, so that the caller may delete while going through them.
 */
export function keysWithin<V>(map: ReadonlyMap<number, V>, lo: number, hi: number): number[] {
  const out: number[] = [];
  if (hi - lo < map.size * 4) {
    for (let key = lo; key <= hi; key++) if (map.has(key)) out.push(key);
  } else {
    for (const key of map.keys()) if (key >= lo && key <= hi) out.push(key);
  }
  return out;
}
