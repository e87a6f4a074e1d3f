import { CompactedError, invariant } from '../errors.js';
import type { Entry, SnapshotMeta } from '../types.js';
import { EntryBuffer } from './entry-buffer.js';

/**
 * A log held in an array, starting after a snapshot point. The building block of MemoryStorage
 * and of the simulator's disk.
 */
export class MemoryLog {
  private items = new EntryBuffer();
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
    return this.items.at(index - this.baseIndex - 1).term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.baseIndex) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new RangeError(`entries [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    return this.items.sliceWithin(lo - this.baseIndex - 1, hi - this.baseIndex - 1, maxBytes);
  }

  /** Appends consecutive entries, replacing the suffix from the first one's index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    invariant(first > this.baseIndex, () => `append at ${first} at or below the snapshot at ${this.baseIndex}`);
    invariant(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.items.truncate(first - this.baseIndex - 1);
    for (let i = 1; i < entries.length; i++) invariant(entries[i]!.index === first + i, 'appended entries are not consecutive');
    this.items.pushAll(entries);
  }

  /** Keeps only a prefix ending at `index` (a crash that lost the rest). */
  truncateAfter(index: number): void {
    if (index < this.lastIndex()) this.items.truncate(Math.max(0, index - this.baseIndex));
  }

  compact(index: number): void {
    if (index <= this.baseIndex) return;
    invariant(index <= this.lastIndex(), () => `compact to ${index} beyond last index ${this.lastIndex()}`);
    this.baseTerm = this.term(index)!;
    this.items.dropFront(index - this.baseIndex);
    this.baseIndex = index;
  }

  reset(snapshot: SnapshotMeta): void {
    this.items.clear();
    this.baseIndex = snapshot.index;
    this.baseTerm = snapshot.term;
  }

  clone(): MemoryLog {
    const copy = new MemoryLog();
    copy.items.pushAll(this.items.slice(0, this.items.length));
    copy.baseIndex = this.baseIndex;
    copy.baseTerm = this.baseTerm;
    return copy;
  }
}
