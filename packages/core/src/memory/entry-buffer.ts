import { invariant } from '../errors.js';
import type { Entry } from '../types.js';

/**
 * A run of log entries in one array whose capacity is managed here, for in-memory logs and tail
 * caches. Pushing entry by entry onto a plain array that keeps growing costs V8 a new backing store
 * again and again (on large logs, many times the cost of writing into room kept ahead); here
 * the capacity doubles only when the live entries fill it, and entries dropped from the front
 * leave room that is reused by moving the live ones down once half the array is dead; an array
 * mostly dead is replaced by a smaller one, so a compacted log gives its memory back.
 */
export class EntryBuffer {
  private items: (Entry | undefined)[];
  private head = 0;
  private count = 0;

  constructor(initialCapacity = 64) {
    invariant(Number.isSafeInteger(initialCapacity) && initialCapacity > 0, 'EntryBuffer capacity must be a positive integer');
    this.items = new Array<Entry | undefined>(initialCapacity).fill(undefined);
  }

  get length(): number {
    return this.count;
  }

  /** The entry at position `i` (0 is the oldest held). */
  at(i: number): Entry {
    if (!(i >= 0 && i < this.count)) invariant(false, `EntryBuffer position ${i} outside [0, ${this.count})`);
    return this.items[this.head + i]!;
  }

  pushAll(entries: readonly Entry[]): void {
    const n = entries.length;
    if (this.head + this.count + n > this.items.length) this.makeRoom(n);
    const items = this.items;
    let at = this.head + this.count;
    for (let i = 0; i < n; i++) items[at++] = entries[i];
    this.count += n;
  }

  /** Entries at positions [from, to), as a new array. */
  slice(from: number, to: number): Entry[] {
    if (!(from >= 0 && from <= to && to <= this.count)) invariant(false, `EntryBuffer slice [${from}, ${to}) outside [0, ${this.count}]`);
    return this.items.slice(this.head + from, this.head + to) as Entry[];
  }

  /**
   * Entries from position `from` on, before `to`, while their payloads fit in `maxBytes`; the
   * first one is taken even if it alone is larger, unless `takeFirst` is false (the caller has
   * already taken some). Copied as one block once the end is found.
   */
  sliceWithin(from: number, to: number, maxBytes: number, takeFirst = true): Entry[] {
    if (from >= to) return [];
    let end = from;
    let bytes = 0;
    while (end < to) {
      const next = bytes + this.at(end).data.byteLength;
      if (next > maxBytes && !(takeFirst && end === from)) break;
      bytes = next;
      end++;
    }
    return this.slice(from, end);
  }

  /** Keeps the first `length` entries. */
  truncate(length: number): void {
    if (length >= this.count) return;
    invariant(length >= 0, 'EntryBuffer cannot truncate to a negative length');
    this.items.fill(undefined, this.head + length, this.head + this.count);
    this.count = length;
    if (length === 0) this.head = 0;
    this.shrinkIfSparse();
  }

  /** Drops the oldest `n` entries. */
  dropFront(n: number): void {
    if (n <= 0) return;
    if (n >= this.count) {
      this.clear();
      return;
    }
    this.items.fill(undefined, this.head, this.head + n);
    this.head += n;
    this.count -= n;
  }

  clear(): void {
    this.items.fill(undefined, this.head, this.head + this.count);
    this.head = 0;
    this.count = 0;
    this.shrinkIfSparse();
  }

  /**
   * Room for `extra` more entries after the live ones: move them into an array twice as large if
   * they fill more than half of this one, into a smaller one if they fill less than an eighth (the
   * log was compacted), else down to the start of this one. Shrinking waits until room is needed:
   * doing it at each compaction would reallocate and regrow the array over and over.
   */
  private makeRoom(extra: number): void {
    const items = this.items;
    const needed = this.count + extra;
    if (needed > items.length / 2 || (items.length > 1024 && needed * 8 <= items.length)) {
      this.reallocate(needed);
      return;
    }
    items.copyWithin(0, this.head, this.head + this.count);
    items.fill(undefined, this.count, this.head + this.count);
    this.head = 0;
  }

  /** An array mostly dead after a truncation or a reset is replaced by a smaller one. */
  private shrinkIfSparse(): void {
    if (this.items.length > 1024 && this.count * 8 <= this.items.length) this.reallocate(this.count);
  }

  /** Moves the live entries into a new array with room for at least as many again as `needed`. */
  private reallocate(needed: number): void {
    let capacity = 64;
    while (capacity < needed * 2) capacity *= 2;
    const next = new Array<Entry | undefined>(capacity).fill(undefined);
    for (let i = 0; i < this.count; i++) next[i] = this.items[this.head + i];
    this.items = next;
    this.head = 0;
  }
}
