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
  private readonly free: Buffer[] = [];
  /** Buffers in the addon's hands, with the sequence number of the append that took each. */
  private readonly lent: { seq: number; buffer: Buffer }[] = [];
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

  /** A buffer of exactly `bytes` bytes (a view of a reused one when possible). */
  take(bytes: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!;
      if (b.byteLength >= bytes) {
        this.free.splice(i, 1);
        this.freeBytes -= b.byteLength;
        return b.subarray(0, bytes);
      }
    }
    if (bytes > this.maxPooledBytes) return Buffer.allocUnsafeSlow(bytes);
    // Sized up so that a slightly larger batch next time still fits.
    let size = 64 * 1024;
    while (size < bytes) size *= 2;
    return Buffer.allocUnsafeSlow(size).subarray(0, bytes);
  }

  /** `buffer` (from take()) went to the addon with the append numbered `seq`. */
  lend(seq: number, buffer: Buffer): void {
    this.lent.push({ seq, buffer });
  }

  /** `buffer` (from take()) was not handed over after all. */
  giveBack(buffer: Buffer): void {
    this.keep(buffer);
  }

  /** The writer thread is done with every append numbered up to `seq`. */
  returned(seq: number): void {
    const lent = this.lent;
    while (this.lentHead < lent.length && lent[this.lentHead]!.seq <= seq) {
      this.keep(lent[this.lentHead]!.buffer);
      lent[this.lentHead++] = undefined as unknown as { seq: number; buffer: Buffer };
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

  private keep(view: Buffer): void {
    // take() made every buffer with allocUnsafeSlow: each owns its whole ArrayBuffer.
    const whole = Buffer.from(view.buffer, 0, view.buffer.byteLength);
    if (whole.byteLength > this.maxPooledBytes || this.freeBytes + whole.byteLength > this.maxFreeBytes) return;
    this.free.push(whole);
    this.freeBytes += whole.byteLength;
  }
}
