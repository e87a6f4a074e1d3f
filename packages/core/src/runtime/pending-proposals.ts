import { invariant } from '../errors.js';

/** What the queue needs to know of a proposal: how many log entries it covers from its first index. */
export interface PendingRun {
  readonly count: number;
}

/**
 * The proposals a node appended to its log and still waits on, in log order: first indices
 * increase from the oldest to the newest. Settling happens almost always at the oldest, so that is
 * the fast path; anything else is a binary search.
 *
 * Two arrays with a moving head rather than a Map keyed by index: a Map churned by one insert and
 * one delete per proposal reallocates its table again and again, and under load those tables live
 * just long enough to be promoted to the old generation before they die (a third of what the
 * leader promoted at C = 256). Removed slots in the middle (timeouts) stay as holes until they
 * reach an end.
 */
export class PendingProposals<P extends PendingRun> {
  private firsts: number[] = [];
  private items: (P | undefined)[] = [];
  private head = 0;
  private live = 0;

  get size(): number {
    return this.live;
  }

  /**
   * Records `item`, covering entries [first, first + item.count). The log now continues at `first`,
   * so every pending proposal with an entry at or after `first` lost that entry to a truncation and
   * can never complete: they are removed and returned (oldest first) for the caller to reject.
   */
  add(first: number, item: P): readonly P[] {
    invariant(Number.isSafeInteger(first) && first >= 1 && item.count >= 1, () => `bad pending proposal at ${first} (${item.count} entries)`);
    let obsolete: P[] | undefined;
    while (this.firsts.length > this.head) {
      const last = this.firsts.length - 1;
      const lastItem = this.items[last];
      if (lastItem !== undefined && this.firsts[last]! + lastItem.count - 1 < first) break;
      if (lastItem !== undefined) {
        (obsolete ??= []).push(lastItem);
        this.live--;
      }
      this.firsts.pop();
      this.items.pop();
    }
    this.firsts.push(first);
    this.items.push(item);
    this.live++;
    return obsolete ? obsolete.reverse() : NONE;
  }

  /** The proposal whose first entry is at `first`, if one is pending. */
  get(first: number): P | undefined {
    const at = this.find(first);
    return at < 0 ? undefined : this.items[at];
  }

  /** Removes the proposal whose first entry is at `first`; false if none was pending. */
  delete(first: number): boolean {
    const at = this.find(first);
    if (at < 0 || this.items[at] === undefined) return false;
    this.items[at] = undefined;
    this.live--;
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
    while (this.items.length > this.head && this.items[this.items.length - 1] === undefined) {
      this.items.pop();
      this.firsts.pop();
    }
    if (this.head === this.items.length) {
      this.head = 0;
      this.firsts.length = 0;
      this.items.length = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // Move the live part down once the dead prefix is as long as it: amortized O(1).
      this.firsts.copyWithin(0, this.head);
      this.items.copyWithin(0, this.head);
      this.firsts.length -= this.head;
      this.items.length -= this.head;
      this.head = 0;
    }
    return true;
  }

  /** The first indices of the pending proposals that start within [lo, hi], oldest first. */
  firstsWithin(lo: number, hi: number): number[] {
    const firsts = this.firsts;
    // The lowest held slot at or above lo.
    let a = this.head;
    let b = firsts.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (firsts[mid]! < lo) a = mid + 1;
      else b = mid;
    }
    const out: number[] = [];
    for (let i = a; i < firsts.length && firsts[i]! <= hi; i++) if (this.items[i] !== undefined) out.push(firsts[i]!);
    return out;
  }

  /** Every pending proposal, oldest first. */
  *values(): IterableIterator<P> {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item !== undefined) yield item;
    }
  }

  clear(): void {
    this.firsts = [];
    this.items = [];
    this.head = 0;
    this.live = 0;
  }

  /** Position of `first` among the held slots (live or hole), or -1. */
  private find(first: number): number {
    const firsts = this.firsts;
    if (this.head < firsts.length && firsts[this.head] === first) return this.head;
    let lo = this.head;
    let hi = firsts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const value = firsts[mid]!;
      if (value === first) return mid;
      if (value < first) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

const NONE: readonly never[] = [];
