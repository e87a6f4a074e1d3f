import type { Entry, HardState, SnapshotMeta } from './types.js';

/** What a store found on disk when it was opened. */
export interface InitialState {
  readonly hardState: HardState;
  /** The latest durable snapshot, if any; the log continues at `snapshot.index + 1`. */
  readonly snapshot: SnapshotMeta | undefined;
}

/**
 * The durable Raft log, as the runtime sees it. Reads are synchronous (served from memory or
 * page cache); writes are asynchronous and ordered.
 *
 * Reads cover at least every entry whose write has resolved. The protocol core keeps entries that
 * are not yet durable in its own memory, so a store is never asked for an index it has not
 * acknowledged as durable.
 */
export interface LogStore {
  initialState(): InitialState;
  /** The first index still held (snapshot index + 1 after compaction; 1 for a new log). */
  firstIndex(): number;
  /** The last index held (firstIndex - 1 when empty). */
  lastIndex(): number;
  /** The term of `index`, for firstIndex - 1 ≤ index ≤ lastIndex; undefined outside that range. */
  term(index: number): number | undefined;
  /**
   * Entries in [lo, hi), stopping early once `maxBytes` of payload is reached (always at least one
   * entry). Throws CompactedError below firstIndex.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Make `entries` (consecutive; if the first is at or below lastIndex, the old suffix from there is
   * replaced) and `hardState` durable. Writes complete in call order. A rejected write leaves the
   * store as it was before that write. A hard state that changes only `commit` (a lower bound a
   * restart replays up to) may be written without a sync of its own, as long as it is never stored
   * ahead of the entries written before it and never overwrites a term or vote that was synced.
   */
  write(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void>;
  /**
   * Forget entries up to and including `index` (which must be covered by a durable snapshot).
   * May keep more than asked (whole segments); never keeps less.
   */
  compact(index: number): Promise<void>;
  /** Discard the whole log and start again after `snapshot` (a follower installing a snapshot). */
  reset(snapshot: SnapshotMeta): Promise<void>;
  close(): Promise<void>;
}

/** Writes one snapshot; nothing is visible until `commit` resolves. */
export interface SnapshotWriter {
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Make it the latest snapshot, durably. With `checksum` (a snapshot received from a peer), first
   * verify that the CRC32C of everything written matches, and reject (keeping the previous
   * snapshot) if not. Without it (a snapshot made locally) the store records its own CRC32C.
   */
  commit(checksum?: number): Promise<void>;
  abort(): Promise<void>;
}

/** Reads one snapshot in chunks. */
export interface SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly size: number;
  /** CRC32C of the whole snapshot. */
  readonly checksum: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface SnapshotStore {
  latest(): SnapshotMeta | undefined;
  create(meta: SnapshotMeta): Promise<SnapshotWriter>;
  /** Open the latest snapshot, or undefined if there is none. */
  open(): Promise<SnapshotReader | undefined>;
}
