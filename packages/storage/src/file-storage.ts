import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BusyError,
  ClosedError,
  CompactedError,
  EntryBuffer,
  type Entry,
  type HardState,
  type InitialState,
  type LogStore,
  type SnapshotMeta,
} from '@flotilla/core';
import { fromNative } from './errors.js';
import { decodeHardState, encodeHardState, MAX_VOTE_BYTES } from './hard-state.js';
import { native, type NativeError, type Wal } from './native.js';
import { RecordBuffers } from './record-buffers.js';
import { decodeRecords, encodeRecords, RECORD_HEADER_BYTES } from './records.js';
import { FileSnapshotStore } from './snapshots.js';

export interface FileStorageOptions {
  /** Size of each segment file (preallocated). Default 64 MiB; 4 KiB to 1 GiB. */
  readonly segmentBytes?: number;
  /** Largest entry payload accepted. Default 8 MiB (must fit in a segment). */
  readonly maxEntryBytes?: number;
  /** Most bytes the writer thread puts in one writev + fdatasync. Default 4 MiB. */
  readonly maxBatchBytes?: number;
  /**
   * Recent entries kept in memory for reads, by payload bytes. Default 1 MiB: a larger tail keeps
   * each entry alive past several young-generation collections under load, so V8 copies it and
   * then promotes it to the old generation, where it dies later at a higher cost. Older entries are
   * read from the segment files (the page cache, usually).
   */
  readonly tailCacheBytes?: number;
  /** Bytes of writes queued but not yet durable; beyond it write() rejects with BusyError. Default 64 MiB. */
  readonly maxPendingBytes?: number;
  /** Zero-fill the next segment on a background thread. Default true. */
  readonly preallocate?: boolean;
  /**
   * While writes keep coming, record a commit-only hard state with an append at most this often
   * (the newest is kept and goes with a later append). One that comes without entries, or is
   * left once no write is in flight, is written this long after (at once on close()). A restart
   * after a crash replays up to what was recorded. Default 2 ms; 0 records it with every append;
   * at most 60000.
   */
  readonly commitHintIntervalMs?: number;
  /** Told about each batch handed to the writer thread and each group commit (for metrics). */
  readonly observer?: StorageObserver;
}

/**
 * Per-batch observations, for metrics. Called on the JavaScript thread, once per native append
 * and once per writer batch (never per entry); must not throw.
 */
export interface StorageObserver {
  /** One append of `entries` records (`bytes` on disk, headers included) went to the writer thread. */
  appended(entries: number, bytes: number): void;
  /** The writer thread completed `syncs` group commits (write + fdatasync), taking `seconds` in total. */
  synced(syncs: number, seconds: number): void;
}

const DEFAULTS = {
  segmentBytes: 64 * 1024 * 1024,
  maxEntryBytes: 8 * 1024 * 1024,
  maxBatchBytes: 4 * 1024 * 1024,
  tailCacheBytes: 1024 * 1024,
  maxPendingBytes: 64 * 1024 * 1024,
  preallocate: true,
  commitHintIntervalMs: 2,
};

/** What the last open found and repaired, for logs and tests. */
export interface RecoveryReport {
  /** A torn tail that was cut off (never acknowledged), if any. */
  readonly torn: { readonly file: string; readonly offset: number; readonly bytes: number } | undefined;
}

/** One write(), compact() or reset() waiting for the writer thread. */
class Pending {
  seq = 0;
  resolve!: () => void;
  reject!: (e: Error) => void;
  readonly promise: Promise<void>;
  constructor(
    readonly kind: 'write' | 'compact' | 'noop' | 'reset',
    readonly bytes: number,
    readonly entries: readonly Entry[] | undefined,
    readonly hardState: HardState | undefined,
    readonly snapshot: SnapshotMeta | undefined,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/** Per-entry overhead counted against the tail cache besides its payload. */
const TAIL_ENTRY_OVERHEAD = 64;

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function checkIndex(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!isIndex(value)) throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  return value;
}

function checkHardState(hs: unknown): HardState {
  if (typeof hs !== 'object' || hs === null) throw new TypeError('hardState must be an object or undefined');
  const { term, vote, commit } = hs as Record<string, unknown>;
  checkIndex('hardState.term', term);
  checkIndex('hardState.commit', commit);
  if (typeof vote !== 'string') throw new TypeError('hardState.vote must be a string');
  if (Buffer.byteLength(vote, 'utf8') > MAX_VOTE_BYTES) throw new RangeError(`hardState.vote is longer than ${MAX_VOTE_BYTES} bytes`);
  return hs as HardState;
}

/**
 * The durable Raft log, hard state and snapshots of one node, in one directory:
 * `wal/` (segments, STATE, LOCK) and `snapshots/`.
 */
export class FileStorage implements LogStore {
  readonly dir: string;
  readonly snapshots: FileSnapshotStore;
  readonly recovery: RecoveryReport;
  private readonly wal: Wal;
  private readonly opts: typeof DEFAULTS;
  private readonly observer: StorageObserver | undefined;

  private first: number;
  private last: number;
  private baseTerm: number;
  private hardState: HardState;
  private snapshotMeta: SnapshotMeta | undefined;

  /** Term runs: runStart[i] is the first index with term runTerm[i]. */
  private runStart: number[] = [];
  private runTerm: number[] = [];

  /** In-memory tail: entries [tailStart, last]. */
  private readonly tail = new EntryBuffer(1024);
  private tailStart: number;
  private tailBytes = 0;

  private pending: Pending[] = [];
  private readonly recordBuffers = new RecordBuffers();
  private pendingHead = 0;
  private pendingBytes = 0;
  private pendingLast: number;
  private lastSeq = 0;
  /** The first index once a submitted reset completes (writes may follow it before it does). */
  private resetFirst: number | undefined;

  /**
   * Writes issued in the same tick are coalesced into one native append (one buffer, one N-API
   * call), flushed from a microtask, when they reach maxBatchBytes, or before a write that is not
   * contiguous with them, a compact or a reset.
   */
  private batch: Pending[] = [];
  private batchFirst = 0;
  private batchEntries = 0;
  private batchBytes = 0;
  private batchHardState: HardState | undefined;
  /** A commit index to record without a sync: a hard state whose term and vote are unchanged. */
  private batchCommitHint = 0;
  /**
   * A commit index that came without entries: it rides with the next append, or is written on
   * this thread once every submitted write is durable. It never costs the writer thread a wakeup
   * of its own (which would delay the next group commit).
   */
  private deferredCommitHint = 0;
  private commitHintTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly commitHintTask = (): void => {
    this.commitHintTimer = undefined;
    // A write in flight or queued will carry the hint, or reschedule this once it completes.
    if (this.closing || this.pendingHead !== this.pending.length || this.batch.length > 0) return;
    this.writeDeferredCommitHint();
  };
  /** When a commit hint last went to the writer thread with an append (performance.now()). */
  private lastCommitHintAt = -Infinity;
  /** Term and vote of the last hard state handed over for a synced write. */
  private syncedTerm: number;
  private syncedVote: string;
  private flushScheduled = false;
  private readonly flushTask = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private closed = false;
  private closing: Promise<void> | undefined;
  private brokenError: Error | undefined;

  private constructor(dir: string, opts: typeof DEFAULTS, opened: import('./native.js').WalOpened, snapshots: FileSnapshotStore, observer: StorageObserver | undefined) {
    this.dir = dir;
    this.opts = opts;
    this.observer = observer;
    this.wal = opened.wal;
    this.snapshots = snapshots;
    this.first = opened.firstIndex;
    this.last = opened.lastIndex;
    this.baseTerm = opened.baseTerm;
    this.pendingLast = this.last;
    this.tailStart = this.last + 1;
    const recovered = decodeHardState(opened.hardState);
    // The hint survives a process crash but is written without a sync; it only ever raises the
    // commit index, and never past the log (the RaftLog would cap it too).
    const hint = Math.min(opened.commitHint, opened.lastIndex);
    this.hardState = hint > recovered.commit ? { ...recovered, commit: hint } : recovered;
    this.syncedTerm = recovered.term;
    this.syncedVote = recovered.vote;
    this.snapshotMeta = snapshots.latest();
    for (let i = 0; i + 1 < opened.runs.length; i += 2) {
      this.runStart.push(opened.runs[i]!);
      this.runTerm.push(opened.runs[i + 1]!);
    }
    this.recovery = { torn: opened.torn };
    this.wal.start((seq, lastIndex, firstIndex, baseTerm, failedSeq, error, broken, syncs, syncNs) => {
      if (syncs > 0) this.observer?.synced(syncs, syncNs / 1e9);
      this.onDone(seq, lastIndex, firstIndex, baseTerm, failedSeq, error, broken);
    });
  }

  /**
   * Opens (creating if needed), locks and recovers the storage in `dir`. Rejects with
   * CorruptLogError if the log fails verification anywhere but a torn tail, and with LockedError
   * if another handle has it open.
   */
  static async open(dir: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError('dir must be a non-empty string');
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const opts = { ...DEFAULTS };
    const observer = (options as Record<string, unknown>).observer as StorageObserver | undefined;
    if (observer !== undefined && (typeof observer !== 'object' || observer === null || typeof observer.appended !== 'function' || typeof observer.synced !== 'function'))
      throw new TypeError('observer must have appended() and synced()');
    for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
      const value = (options as Record<string, unknown>)[key];
      if (value === undefined) continue;
      if (key === 'preallocate') {
        if (typeof value !== 'boolean') throw new TypeError('preallocate must be a boolean');
        opts.preallocate = value;
      } else {
        opts[key] = checkIndex(key, value);
      }
    }
    if ((options as Record<string, unknown>).maxEntryBytes === undefined)
      opts.maxEntryBytes = Math.min(opts.maxEntryBytes, opts.segmentBytes - 64 - RECORD_HEADER_BYTES);
    if (opts.segmentBytes < 4096 || opts.segmentBytes > 2 ** 30) throw new RangeError('segmentBytes must be between 4 KiB and 1 GiB');
    if (opts.maxEntryBytes + RECORD_HEADER_BYTES > opts.segmentBytes - 64)
      throw new RangeError('maxEntryBytes must fit in a segment (segmentBytes - 89)');
    if (opts.maxBatchBytes < 1) throw new RangeError('maxBatchBytes must be positive');
    if (opts.commitHintIntervalMs > 60_000) throw new RangeError('commitHintIntervalMs must be at most 60000');
    await mkdir(dir, { recursive: true });
    let opened;
    try {
      opened = await native.openWal(join(dir, 'wal'), {
        segmentSize: opts.segmentBytes,
        maxBatchBytes: opts.maxBatchBytes,
        maxRecordBytes: opts.maxEntryBytes + RECORD_HEADER_BYTES,
        preallocate: opts.preallocate,
      });
    } catch (error) {
      throw fromNative(error);
    }
    let snapshots;
    try {
      snapshots = await FileSnapshotStore.open(join(dir, 'snapshots'));
    } catch (error) {
      opened.wal.close();
      throw error;
    }
    return new FileStorage(dir, opts, opened, snapshots, observer);
  }

  initialState(): InitialState {
    return { hardState: this.hardState, snapshot: this.snapshotMeta };
  }

  firstIndex(): number {
    this.checkOpen();
    return this.first;
  }

  lastIndex(): number {
    this.checkOpen();
    return this.last;
  }

  term(index: number): number | undefined {
    this.checkOpen();
    checkIndex('index', index);
    if (index === this.first - 1) return this.baseTerm;
    if (index < this.first || index > this.last) return undefined;
    const starts = this.runStart;
    let lo = 0;
    let hi = starts.length - 1;
    if (starts[hi]! <= index) return this.runTerm[hi];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.runTerm[lo];
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.checkOpen();
    checkIndex('lo', lo);
    checkIndex('hi', hi);
    if (typeof maxBytes !== 'number' || Number.isNaN(maxBytes) || maxBytes < 0)
      throw new TypeError('maxBytes must be a non-negative number');
    if (lo < this.first) throw new CompactedError(lo, this.first);
    if (hi > this.last + 1) throw new RangeError(`entries [${lo}, ${hi}) beyond last index ${this.last}`);
    if (lo > hi) throw new RangeError(`entries [${lo}, ${hi}): lo is above hi`);
    if (lo === hi) return [];
    if (lo >= this.tailStart) {
      return this.tail.sliceWithin(lo - this.tailStart, hi - this.tailStart, maxBytes);
    }
    let buf: Buffer;
    try {
      buf = this.wal.read(lo, hi, Math.min(maxBytes, Number.MAX_SAFE_INTEGER));
    } catch (error) {
      throw fromNative(error);
    }
    return decodeRecords(buf);
  }

  write(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    try {
      return this.submitWrite(hardState, entries);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  private submitWrite(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    this.checkWritable();
    if (hardState !== undefined) checkHardState(hardState);
    if (!Array.isArray(entries)) throw new TypeError('entries must be an array');
    const count = entries.length;
    let bytes = 0;
    let firstIndex = 0;
    const maxEntry = this.opts.maxEntryBytes;
    for (let i = 0; i < count; i++) {
      const e = entries[i] as Entry | undefined;
      if (typeof e !== 'object' || e === null) throw new TypeError(`entries[${i}] must be an entry object`);
      if (!(e.data instanceof Uint8Array)) throw new TypeError(`entries[${i}].data must be a Uint8Array`);
      if (!isIndex(e.index) || e.index < 1) throw new RangeError(`entries[${i}].index must be a positive safe integer`);
      if (!isIndex(e.term)) throw new RangeError(`entries[${i}].term must be a non-negative safe integer`);
      if (typeof e.type !== 'number' || !Number.isInteger(e.type) || e.type < 0 || e.type > 255)
        throw new RangeError(`entries[${i}].type must be an integer 0..255`);
      if (e.data.byteLength > maxEntry) throw new RangeError(`entries[${i}] is ${e.data.byteLength} bytes, above maxEntryBytes ${maxEntry}`);
      if (i === 0) firstIndex = e.index;
      else if (e.index !== firstIndex + i) throw new RangeError(`entries are not consecutive at entries[${i}] (index ${e.index})`);
      bytes += RECORD_HEADER_BYTES + e.data.byteLength;
    }
    if (count > 0) {
      const floor = this.resetFirst ?? this.first;
      if (firstIndex < floor) throw new RangeError(`cannot write at ${firstIndex}: the log starts at ${floor}`);
      if (firstIndex > this.pendingLast + 1) throw new RangeError(`writing at ${firstIndex} would leave a gap after ${this.pendingLast}`);
    }
    const commitOnly =
      hardState !== undefined && this.batchHardState === undefined && hardState.term === this.syncedTerm && hardState.vote === this.syncedVote;
    if (count === 0 && (hardState === undefined || commitOnly)) {
      if (commitOnly && hardState.commit > this.deferredCommitHint) this.deferredCommitHint = hardState.commit;
      if (this.batch.length > 0) return this.join(new Pending('noop', 0, undefined, undefined, undefined));
      if (this.pendingHead === this.pending.length) {
        this.scheduleDeferredCommitHint();
        return Promise.resolve();
      }
      const p = new Pending('noop', 0, undefined, undefined, undefined);
      p.seq = this.lastSeq;
      this.pending.push(p);
      return p.promise;
    }
    if (this.pendingBytes + this.batchBytes + bytes > this.opts.maxPendingBytes && this.pendingBytes + this.batchBytes > 0)
      throw new BusyError(`${this.pendingBytes + this.batchBytes} bytes of writes are pending (maxPendingBytes ${this.opts.maxPendingBytes})`);
    if (count > 0) {
      if (this.batchEntries > 0 && firstIndex !== this.batchFirst + this.batchEntries) this.flush();
      if (this.batchEntries === 0) this.batchFirst = firstIndex;
      this.batchEntries += count;
      this.pendingLast = firstIndex + count - 1;
    }
    if (hardState !== undefined) {
      if (commitOnly) {
        // Only the commit index moved: it is a lower bound, recorded without its own fdatasync.
        if (hardState.commit > this.batchCommitHint) this.batchCommitHint = hardState.commit;
      } else {
        this.batchHardState = hardState;
        this.syncedTerm = hardState.term;
        this.syncedVote = hardState.vote;
      }
    }
    this.batchBytes += bytes;
    const promise = this.join(new Pending('write', bytes, entries, hardState, undefined));
    // The writer thread idle: hand this over at once, so the disk starts while the rest of the
    // tick's writes gather into the next batch (this keeps two batches in the pipeline).
    if (this.batchBytes >= this.opts.maxBatchBytes || this.pendingHead === this.pending.length) this.flush();
    return promise;
  }

  private join(p: Pending): Promise<void> {
    this.batch.push(p);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushTask);
    }
    return p.promise;
  }

  /** Hands the coalesced writes to the addon: one buffer, one call. */
  private flush(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    const count = this.batchEntries;
    const records = this.recordBuffers.take(this.batchBytes);
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    let off = 0;
    for (const p of batch) {
      if (p.entries) off = encodeRecords(records, view, off, p.entries);
    }
    const hs = this.batchHardState;
    const hint = Math.max(this.batchCommitHint, this.deferredCommitHint);
    let commitHint = hs !== undefined && hs.commit >= hint ? 0 : hint;
    if (commitHint > 0 && count > 0) {
      // Each hint costs the group a pwrite after its fdatasync: under load, one every interval.
      const now = performance.now();
      if (now - this.lastCommitHintAt < this.opts.commitHintIntervalMs) commitHint = 0;
      else this.lastCommitHintAt = now;
    }
    const first = this.batchFirst;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchFirst = 0;
    this.batchEntries = 0;
    this.batchBytes = 0;
    this.batchHardState = undefined;
    this.batchCommitHint = 0;
    if (count === 0 && hs === undefined) {
      this.recordBuffers.giveBack(records);
      // Only empty writes: they complete with whatever was submitted before them.
      const idle = this.pendingHead === this.pending.length;
      if (idle) this.scheduleDeferredCommitHint();
      for (const p of batch) {
        if (idle) {
          p.resolve();
        } else {
          p.seq = this.lastSeq;
          this.pending.push(p);
        }
      }
      return;
    }
    let seq: number;
    try {
      seq = this.wal.append(records, first, count, hs === undefined ? null : encodeHardState(hs), commitHint);
      this.deferredCommitHint = commitHint > 0 || (hs !== undefined && hs.commit >= hint) ? 0 : hint;
    } catch (error) {
      this.recordBuffers.giveBack(records);
      const failure = fromNative(error);
      for (const p of batch) p.reject(failure);
      this.pendingLast = this.last;
      // Whatever hard state this batch carried was not written: the next one goes out synced.
      this.syncedTerm = -1;
      return;
    }
    this.lastSeq = seq;
    this.recordBuffers.lend(seq, records);
    if (count > 0) this.observer?.appended(count, bytes);
    for (const p of batch) {
      p.seq = seq;
      this.pending.push(p);
      this.pendingBytes += p.bytes;
    }
  }

  compact(index: number): Promise<void> {
    try {
      this.checkWritable();
      checkIndex('index', index);
      if (index > this.pendingLast) throw new RangeError(`cannot compact to ${index}: beyond last index ${this.pendingLast}`);
      if (index < this.first) return Promise.resolve();
      this.flush();
      return this.submitOp(new Pending('compact', 0, undefined, undefined, undefined), () => this.wal.compact(index));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  reset(snapshot: SnapshotMeta): Promise<void> {
    try {
      this.checkWritable();
      if (typeof snapshot !== 'object' || snapshot === null) throw new TypeError('snapshot must be a SnapshotMeta');
      checkIndex('snapshot.index', snapshot.index);
      checkIndex('snapshot.term', snapshot.term);
      this.flush();
      const promise = this.submitOp(new Pending('reset', 0, undefined, undefined, snapshot), () => this.wal.reset(snapshot.index, snapshot.term));
      this.pendingLast = snapshot.index;
      this.resetFirst = snapshot.index + 1;
      return promise;
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Waits for pending writes, stops the writer thread and releases the lock. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      this.flush();
      this.closed = true;
      const waits = this.pending.slice(this.pendingHead).map((p) => new Promise<void>((resolve) => {
        const { resolve: res, reject: rej } = p;
        p.resolve = () => { res(); resolve(); };
        p.reject = (e) => { rej(e); resolve(); };
      }));
      this.closing = Promise.all(waits).then(() => {
        if (this.commitHintTimer !== undefined) clearTimeout(this.commitHintTimer);
        this.commitHintTimer = undefined;
        if (this.batch.length === 0) this.writeDeferredCommitHint();
        this.wal.close();
      });
    }
    return this.closing;
  }

  /** Test hook: the write syscall after `countdown` more fails with `errno`. */
  injectFault(errno: number, countdown = 0): void {
    this.checkOpen();
    this.wal.injectFault(errno, countdown);
  }

  /**
   * The log is idle with a commit hint deferred: write it from a timer (commitHintIntervalMs),
   * not at once, so that it never runs before what the event loop does next (a follower's
   * acknowledgement, a leader's reply to its client).
   */
  private scheduleDeferredCommitHint(): void {
    if (this.deferredCommitHint === 0 || this.commitHintTimer !== undefined || this.closing) return;
    this.commitHintTimer = setTimeout(this.commitHintTask, this.opts.commitHintIntervalMs);
    this.commitHintTimer.unref();
  }

  /**
   * Writes the deferred commit hint now. Only called while no write is in flight, so every entry it
   * covers is durable. A failure (the STATE file would not take 512 bytes) breaks the storage: the
   * next hard state would fail the same way.
   */
  private writeDeferredCommitHint(): void {
    const commit = Math.min(this.deferredCommitHint, this.last);
    this.deferredCommitHint = 0;
    if (commit <= 0 || this.brokenError) return;
    try {
      this.wal.writeCommitHint(commit);
    } catch (error) {
      this.brokenError = fromNative(error, true);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('the storage is closed');
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.brokenError) throw this.brokenError;
  }

  private submitOp(p: Pending, call: () => number): Promise<void> {
    p.seq = call();
    this.lastSeq = p.seq;
    this.pending.push(p);
    return p.promise;
  }

  private onDone(seq: number, lastIndex: number, firstIndex: number, baseTerm: number, failedSeq: number, error: NativeError | null, broken: boolean): void {
    this.recordBuffers.returned(seq);
    const okUpTo = error ? failedSeq - 1 : seq;
    const pending = this.pending;
    while (this.pendingHead < pending.length && pending[this.pendingHead]!.seq <= okUpTo) {
      const p = pending[this.pendingHead]!;
      pending[this.pendingHead++] = undefined as unknown as Pending;
      this.pendingBytes -= p.bytes;
      this.apply(p);
      p.resolve();
    }
    if (!error && this.pendingHead === pending.length && this.batch.length === 0) this.scheduleDeferredCommitHint();
    if (error) {
      const failure = fromNative(error, broken);
      while (this.pendingHead < pending.length) {
        const p = pending[this.pendingHead]!;
        pending[this.pendingHead++] = undefined as unknown as Pending;
        p.reject(failure);
      }
      for (const p of this.batch) p.reject(failure);
      this.batch = [];
      this.batchFirst = 0;
      this.batchEntries = 0;
      this.batchBytes = 0;
      this.batchHardState = undefined;
      this.batchCommitHint = 0;
      this.deferredCommitHint = 0;
      this.syncedTerm = this.hardState.term;
      this.syncedVote = this.hardState.vote;
      this.pendingBytes = 0;
      this.resetFirst = undefined;
      if (lastIndex < this.last) this.truncateView(lastIndex + 1);
      this.pendingLast = this.last;
      if (broken) this.brokenError = failure;
      else if (!this.closed) this.wal.clear();
    }
    if (firstIndex !== this.first) this.moveFirst(firstIndex, baseTerm);
    if (this.pendingHead > 1024 && this.pendingHead * 2 > pending.length) {
      this.pending = pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  private apply(p: Pending): void {
    if (p.kind === 'write') {
      if (p.entries && p.entries.length > 0) this.appendView(p.entries);
      if (p.hardState) this.hardState = p.hardState;
    } else if (p.kind === 'reset' && p.snapshot) {
      this.runStart = [];
      this.runTerm = [];
      this.clearTail(p.snapshot.index + 1);
      this.first = p.snapshot.index + 1;
      this.last = p.snapshot.index;
      this.baseTerm = p.snapshot.term;
      this.snapshotMeta = p.snapshot;
      if (this.resetFirst === p.snapshot.index + 1) this.resetFirst = undefined;
    }
  }

  private appendView(entries: readonly Entry[]): void {
    const k = entries[0]!.index;
    if (k <= this.last) this.truncateView(k);
    for (const e of entries) {
      const n = this.runTerm.length;
      if (n === 0 || this.runTerm[n - 1] !== e.term) {
        this.runStart.push(e.index);
        this.runTerm.push(e.term);
      }
      this.tailBytes += e.data.byteLength + TAIL_ENTRY_OVERHEAD;
    }
    this.tail.pushAll(entries);
    this.last = entries[entries.length - 1]!.index;
    const limit = this.opts.tailCacheBytes;
    let evict = 0;
    while (this.tailBytes > limit && evict < this.tail.length) {
      this.tailBytes -= this.tail.at(evict++).data.byteLength + TAIL_ENTRY_OVERHEAD;
    }
    this.tail.dropFront(evict);
    this.tailStart += evict;
  }

  private clearTail(start: number): void {
    this.tail.clear();
    this.tailBytes = 0;
    this.tailStart = start;
  }

  private truncateView(k: number): void {
    while (this.runStart.length > 0 && this.runStart[this.runStart.length - 1]! >= k) {
      this.runStart.pop();
      this.runTerm.pop();
    }
    if (k <= this.tailStart) {
      this.clearTail(k);
    } else {
      const keep = k - this.tailStart;
      for (let i = keep; i < this.tail.length; i++) this.tailBytes -= this.tail.at(i).data.byteLength + TAIL_ENTRY_OVERHEAD;
      this.tail.truncate(keep);
    }
    this.last = k - 1;
  }

  private moveFirst(firstIndex: number, baseTerm: number): void {
    this.first = firstIndex;
    this.baseTerm = baseTerm;
    let drop = 0;
    while (drop + 1 < this.runStart.length && this.runStart[drop + 1]! <= firstIndex) drop++;
    if (drop > 0) {
      this.runStart.splice(0, drop);
      this.runTerm.splice(0, drop);
    }
    if (this.runStart.length > 0 && this.runStart[0]! < firstIndex) this.runStart[0] = firstIndex;
    if (this.last < firstIndex) {
      this.runStart = [];
      this.runTerm = [];
    }
    let dropTail = 0;
    while (this.tailStart + dropTail < firstIndex && dropTail < this.tail.length) {
      this.tailBytes -= this.tail.at(dropTail++).data.byteLength + TAIL_ENTRY_OVERHEAD;
    }
    this.tail.dropFront(dropTail);
    this.tailStart += dropTail;
    if (this.tail.length === 0) this.clearTail(Math.max(this.tailStart, this.last + 1));
  }
}
