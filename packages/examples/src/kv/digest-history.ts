/** Bytes of one digest of the chain (sha256). */
export const DIGEST_BYTES = 32;

/**
 * The most recent (index, digest) pairs of the digest chain, oldest dropped first, in a ring of
 * preallocated memory. Every applied entry adds one, on every node: a Map of Buffers allocated an
 * object and a backing store per entry and kept 100,000 of them alive for the garbage collector to
 * trace, and dropping its oldest needed a batch trim. Indices must increase (they are the log
 * indices of applied commands); lookups are a binary search.
 */
export class DigestHistory {
  private readonly indices: Float64Array;
  private readonly digests: Buffer;
  /** Ring position of the oldest pair. */
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.indices = new Float64Array(capacity);
    this.digests = Buffer.alloc(capacity * DIGEST_BYTES);
  }

  get size(): number {
    return this.count;
  }

  /** The newest index held, 0 if none. */
  get newestIndex(): number {
    return this.count === 0 ? 0 : this.indices[this.position(this.count - 1)]!;
  }

  /** Records the digest after `index` (the first 32 bytes of `digest`); drops the oldest pair when full. */
  push(index: number, digest: Uint8Array): void {
    if (!Number.isSafeInteger(index) || index < 1) throw new RangeError(`index must be a positive safe integer, got ${index}`);
    if (this.count > 0 && index <= this.newestIndex) throw new RangeError(`index ${index} does not follow ${this.newestIndex}`);
    if (digest.byteLength < DIGEST_BYTES) throw new RangeError(`a digest is ${DIGEST_BYTES} bytes, got ${digest.byteLength}`);
    let at: number;
    if (this.count === this.capacity) {
      at = this.start;
      this.start = (this.start + 1) % this.capacity;
    } else {
      at = this.position(this.count);
      this.count++;
    }
    this.indices[at] = index;
    this.digests.set(digest.subarray(0, DIGEST_BYTES), at * DIGEST_BYTES);
  }

  /** The digest after `index` in hex, if it is still held. */
  hexAt(index: number): string | undefined {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.position(mid);
      const found = this.indices[at]!;
      if (found === index) return this.digests.toString('hex', at * DIGEST_BYTES, (at + 1) * DIGEST_BYTES);
      if (found < index) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Every pair, oldest first, as records of [f64 LE index][32-byte digest] (a copy). */
  toRecords(): Buffer {
    const out = Buffer.allocUnsafe(this.count * (8 + DIGEST_BYTES));
    for (let i = 0, p = 0; i < this.count; i++, p += 8 + DIGEST_BYTES) {
      const at = this.position(i);
      out.writeDoubleLE(this.indices[at]!, p);
      this.digests.copy(out, p + 8, at * DIGEST_BYTES, (at + 1) * DIGEST_BYTES);
    }
    return out;
  }

  private position(i: number): number {
    const at = this.start + i;
    return at < this.capacity ? at : at - this.capacity;
  }
}
