import { invariant } from '../errors.js';

/**
 * The AppendEntries messages sent to one follower and not yet acknowledged, as a ring buffer of
 * (last index, payload bytes). Bounded by count and by bytes: by Little's law the window needed to
 * keep a link busy is rate × round trip, so a fixed count alone either starves fast links or lets
 * large entries pile up in memory on slow ones.
 */
export class Inflights {
  private readonly lastIndexes: Float64Array;
  private readonly sizes: Float64Array;
  private start = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    invariant(maxMessages > 0, 'inflight window needs room for at least one message');
    this.lastIndexes = new Float64Array(maxMessages);
    this.sizes = new Float64Array(maxMessages);
  }

  get length(): number {
    return this.count;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  full(): boolean {
    return this.count === this.maxMessages || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  add(lastIndex: number, bytes: number): void {
    invariant(this.count < this.maxMessages, 'inflight window overflow');
    if (this.count > 0) {
      const prev = this.lastIndexes[(this.start + this.count - 1) % this.maxMessages]!;
      invariant(lastIndex > prev, () => `inflight indexes must increase (${lastIndex} after ${prev})`);
    }
    const slot = (this.start + this.count) % this.maxMessages;
    this.lastIndexes[slot] = lastIndex;
    this.sizes[slot] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is at or below `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.lastIndexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.maxMessages;
      this.count--;
    }
    if (this.count === 0) {
      this.start = 0;
      this.bytes = 0;
    }
  }

  /** Frees the oldest message (it was probably lost). */
  freeFirst(): void {
    if (this.count === 0) return;
    this.freeLE(this.lastIndexes[this.start]!);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
