/**
 * Buffers for the records of a native append, reused once the writer thread is done with them.
 *
 * Each append needs one buffer of its batch's size, which the addon holds until its group commit
 * completes. Allocated fresh, every such buffer is a new ArrayBuffer outside V8's heap: tens of
 * megabytes a second under load, and V8 answers external memory growth with full collections
 * (every few hundred milliseconds on a follower at 200k appends/s). Here a handful of buffers go
 * round instead.
 */
export class RecordBuffers {
  /** Whole buffers ready for reuse (each take() hands out a view of one). */
  private readonly free: ArrayBuffer[] = [];
  /** Buffers in the addon's hands, with the sequence number of the append that took each. */
  private readonly lent: ({ seq: number; buffer: ArrayBuffer } | undefined)[] = [];
  private lentHead = 0;
  private freeBytes = 0;

  /**
   * @param maxFreeBytes most bytes kept for reuse
   * @param maxPooledBytes buffers larger than this are neither reused nor kept
   */
  constructor(
    private readonly maxFreeBytes = 8 * 1024 * 1024,
    private readonly maxPooledBytes = 4 * 1024 * 1024,
  ) {}

  /** A buffer of exactly `bytes` bytes, the start of a reused one when possible. */
  take(bytes: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!;
      if (b.byteLength >= bytes) {
        this.free.splice(i, 1);
        this.freeBytes -= b.byteLength;
        return Buffer.from(b, 0, bytes);
      }
    }
    // Sized up so that a slightly larger batch next time still fits; allocUnsafeSlow, so that the
    // buffer owns its ArrayBuffer (not a slice of Buffer's shared pool).
    let size = 64 * 1024;
    while (size < bytes) size *= 2;
    return Buffer.allocUnsafeSlow(bytes > this.maxPooledBytes ? bytes : size).subarray(0, bytes);
  }

  /** `buffer` (from take()) went to the addon with the append numbered `seq`. */
  lend(seq: number, buffer: Buffer): void {
    this.lent.push({ seq, buffer: buffer.buffer as ArrayBuffer });
  }

  /** `buffer` (from take()) was not handed over after all. */
  giveBack(buffer: Buffer): void {
    this.keep(buffer.buffer as ArrayBuffer);
  }

  /** The writer thread is done with every append numbered up to `seq`. */
  returned(seq: number): void {
    const lent = this.lent;
    while (this.lentHead < lent.length && lent[this.lentHead]!.seq <= seq) {
      this.keep(lent[this.lentHead]!.buffer);
      lent[this.lentHead++] = undefined;
    }
    if (this.lentHead === lent.length) {
      lent.length = 0;
      this.lentHead = 0;
    } else if (this.lentHead >= 1024 && this.lentHead * 2 >= lent.length) {
      lent.copyWithin(0, this.lentHead);
      lent.length -= this.lentHead;
      this.lentHead = 0;
    }
  }

  private keep(buffer: ArrayBuffer): void {
    if (buffer.byteLength > this.maxPooledBytes || this.freeBytes + buffer.byteLength > this.maxFreeBytes) return;
    this.free.push(buffer);
    this.freeBytes += buffer.byteLength;
  }
}
