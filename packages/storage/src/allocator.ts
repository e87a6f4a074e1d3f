import { native } from './native.js';

export interface AllocatorTuning {
  /** Allocations at least this large get their own mmap; smaller ones come from the heap. Default 4 MiB, at most 32 MiB. */
  readonly mmapThresholdBytes?: number;
  /** Free memory at the top of the heap beyond this is returned to the system. Default 64 MiB. */
  readonly trimThresholdBytes?: number;
  /** Extra memory asked of the system whenever the heap grows. Default 16 MiB. */
  readonly topPadBytes?: number;
}

export interface AllocatorTuningResult {
  /** False where the C library is not glibc (nothing was changed). */
  readonly applied: boolean;
  readonly mmapThresholdBytes: number;
  readonly trimThresholdBytes: number;
  readonly topPadBytes: number;
}

const MiB = 1024 * 1024;
const MAX_MMAP_THRESHOLD = 32 * MiB; // glibc's limit on 64-bit (HEAP_MAX_SIZE / 2)

function size(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) throw new RangeError(`${name} must be an integer from 0 to ${max}, got ${String(value)}`);
  return value;
}

/**
 * Tunes glibc's allocator of this process for a node that moves large messages (snapshot chunks,
 * bulk appends). By default glibc gives every allocation of 128 KiB or more its own fresh mmap
 * (raising that bound only after such a block is freed) and hands free memory above 128 KiB at the
 * top of the heap back to the system: each megabyte-sized frame a socket library or V8 allocates
 * then touches new pages, one page fault per 4 KiB, and page faults are expensive, most of all in
 * virtual machines. Serving blocks up to `mmapThresholdBytes` from the heap and keeping up to
 * `trimThresholdBytes` of it costs at most that much resident memory once freed.
 *
 * Process-wide: an application embedding Flotilla decides whether to call it (the `flotilla` CLI
 * does, at startup). Returns what was set, and whether it could be (glibc only).
 */
export function tuneAllocator(options: AllocatorTuning = {}): AllocatorTuningResult {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const mmapThresholdBytes = size('mmapThresholdBytes', options.mmapThresholdBytes, 4 * MiB, MAX_MMAP_THRESHOLD);
  const trimThresholdBytes = size('trimThresholdBytes', options.trimThresholdBytes, 64 * MiB, 2 ** 31 - 1);
  const topPadBytes = size('topPadBytes', options.topPadBytes, 16 * MiB, 2 ** 31 - 1);
  const applied = native.tuneAllocator(mmapThresholdBytes, trimThresholdBytes, topPadBytes);
  return { applied, mmapThresholdBytes, trimThresholdBytes, topPadBytes };
}
