/** Errors thrown or rejected by the addon carry these fields. */
export interface NativeError extends Error {
  /** 'CORRUPT_LOG', 'LOCKED' or 'ERRNO' (then `errno` and `syscall` are set). */
  code: string;
  errno?: number;
  syscall?: string;
  file?: string;
  offset?: number;
}

export interface WalOpenOptions {
  segmentSize?: number;
  maxBatchBytes?: number;
  maxRecordBytes?: number;
  preallocate?: boolean;
}

/**
 * Called once per writer batch: every op up to `seq` is done. If `error` is set, ops from
 * `failedSeq` on failed (and the writer drops further ops until `clear()`). `syncs` group commits
 * (pwritev + fdatasync of the segments, and the hard state if any) completed in the batch, taking
 * `syncNs` nanoseconds in total.
 */
export type WalDoneCallback = (
  seq: number,
  lastIndex: number,
  firstIndex: number,
  baseTerm: number,
  failedSeq: number,
  error: NativeError | null,
  broken: boolean,
  syncs: number,
  syncNs: number,
) => void;

export interface Wal {
  start(callback: WalDoneCallback): void;
  /** Queues records (laid out as on disk, CRC fields left for the writer) and/or a hard state. */
  /**
   * Queues records (and a hard state, synced with the group) for the writer thread. `commitHint`,
   * when above 0, is recorded after the group is durable without a sync of its own.
   */
  append(records: Buffer, firstIndex: number, count: number, hardState: Buffer | null, commitHint?: number): number;
  /** Records a commit hint at once on the calling thread; only while no write is in flight. */
  writeCommitHint(commit: number): void;
  compact(index: number): number;
  reset(index: number, term: number): number;
  clear(): number;
  /** Raw records [lo, hi), stopping once maxBytes of payload is reached (at least one). */
  read(lo: number, hi: number, maxBytes: number): Buffer;
  close(): void;
  /** Test hook: the write syscall after `countdown` more fails with `errno`. */
  injectFault(errno: number, countdown: number): void;
}

export interface WalOpened {
  wal: Wal;
  firstIndex: number;
  lastIndex: number;
  baseTerm: number;
  /** Pairs (first index of a run, term). */
  runs: Float64Array;
  hardState: Buffer;
  /** The newest commit hint in the STATE file (0 if none). */
  commitHint: number;
  torn?: { file: string; offset: number; bytes: number };
}

export function openWal(dir: string, options?: WalOpenOptions): Promise<WalOpened>;
export function crc32c(data: Uint8Array, initial?: number): number;
export const crc32cHardware: boolean;
export const recordHeaderSize: number;
export function baselineWriteSync(
  path: string,
  recordSize: number,
  count: number,
  batch: number,
): Promise<{ elapsedNs: number; batchLatencyNs: Float64Array }>;
/**
 * Sets glibc's malloc parameters for the whole process (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD,
 * M_TOP_PAD). True if all three were applied; false where the C library is not glibc.
 */
export function tuneAllocator(mmapThresholdBytes: number, trimThresholdBytes: number, topPadBytes: number): boolean;
