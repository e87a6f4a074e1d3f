/**
 * Deadlines bucketed by timer resolution, so thousands of pending operations cost one check per
 * tick instead of one timer each.
 */
export class DeadlineWheel {
  private readonly buckets = new Map<number, number[]>();
  private lastExpired = Number.NEGATIVE_INFINITY;

  constructor(private readonly resolutionMs: number) {}

  add(deadlineMs: number, key: number): void {
    const bucket = Math.max(Math.ceil(deadlineMs / this.resolutionMs), this.lastExpired + 1);
    let keys = this.buckets.get(bucket);
    if (!keys) this.buckets.set(bucket, (keys = []));
    keys.push(key);
  }

  /** Keys whose deadline is at or before `nowMs` (some may be done already: callers check). */
  expire(nowMs: number, out: (key: number) => void): void {
    const current = Math.floor(nowMs / this.resolutionMs);
    for (const [bucket, keys] of this.buckets) {
      if (bucket > current) continue;
      this.buckets.delete(bucket);
      for (const key of keys) out(key);
    }
    this.lastExpired = current;
  }

  clear(): void {
    this.buckets.clear();
  }
}
