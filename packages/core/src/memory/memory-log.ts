import { CompactedError, invariant } from '../errors.js';
import type { Entry, SnapshotMeta } from '../types.js';

/**
 * A log held in an array, starting after a snapshot point. The building block of MemoryStorage
 * and of the simulator's disk.
 */
export class MemoryLog {
  private items: Entry[] = [];
  /** Index and term of the entry just before items[0] (the snapshot point, or 0/0). */
  private baseIndex = 0;
  private baseTerm = 0;

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.baseIndex + this.items.length;
  }

  term(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseTerm;
    if (index < this.baseIndex || index > this.lastIndex()) return undefined;
    return this.items[index - this.baseIndex - 1]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.baseIndex) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new RangeError(`entries [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.items[i - this.baseIndex - 1]!;
      if (out.length > 0 && bytes + entry.data.byteLength > maxBytes) break;
      out.push(entry);
      bytes += entry.data.byteLength;
    }
    return out;
  }

  /** Appends consecutive entries, replacing the suffix from the first one's index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    invariant(first > this.baseIndex, () => `append at ${first} at or below the snapshot at ${this.baseIndex}`);
    invariant(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.items.length = first - this.baseIndex - 1;
    for (const entry of entries) {
      invariant(entry.index === this.baseIndex + this.items.length + 1, 'appended entries are not consecutive');
      this.items.push(entry);
    }
  }

  /** Keeps only a prefix ending at `index` (a crash that lost the rest). */
  truncateAfter(index: number): void {
    if (index < this.lastIndex()) this.items.length = Math.max(0, index - this.baseIndex);
  }

  compact(index: number): void {
    if (index <= this.baseIndex) return;
    invariant(index <= this.lastIndex(), () => `compact to ${index} beyond last index ${this.lastIndex()}`);
    this.baseTerm = this.term(index)!;
    this.items = this.items.slice(index - this.baseIndex);
    this.baseIndex = index;
  }

  reset(snapshot: SnapshotMeta): void {
    this.items = [];
    this.baseIndex = snapshot.index;
    this.baseTerm = snapshot.term;
  }

  clone(): MemoryLog {
    const copy = new MemoryLog();
    copy.items = this.items.slice();
    copy.baseIndex = this.baseIndex;
    copy.baseTerm = this.baseTerm;
    return copy;
  }
}
