import { invariant } from '../errors.js';
import type { LogStore } from '../storage.js';
import type { Entry, SnapshotMeta } from '../types.js';
import { EntryBuffer } from '../memory/entry-buffer.js';

/** The subset of LogStore the protocol reads synchronously. */
export type LogReader = Pick<LogStore, 'firstIndex' | 'lastIndex' | 'term' | 'entries'>;

/**
 * The protocol's view of the log: entries durable in the store, followed by an `unstable` suffix
 * held in memory until the store reports it durable. As in etcd's raftLog, the unstable suffix
 * shadows the store from `unstableOffset` on, so a conflicting suffix is replaced at once in the
 * view while the store catches up.
 */
export class RaftLog {
  private readonly unstable = new EntryBuffer();
  /** Index of unstable[0]; everything below comes from the store. */
  private unstableOffset: number;
  /** How many of the unstable entries were already handed to the runtime for writing. */
  private unstableHandedOut = 0;
  /** Highest index known to be durable in the local store. */
  persisted: number;
  committed: number;
  /** Highest index handed out for applying. */
  applying: number;
  /** Highest index the state machine has applied. */
  applied: number;
  /** The latest snapshot's point: its term is known even when the store no longer holds the entry. */
  private snapshotIndex: number;
  private snapshotTerm: number;
  /**
   * Set from restore() until the store reports its reset done: the store still shows the log that
   * the snapshot replaced, so below the unstable suffix the log is empty.
   */
  private storeStale = false;
  /** The snapshot index the store is being reset to, while storeStale. */
  private resettingTo = 0;
  /** Where the store's log starts over once its reset completes, and that entry's term. */
  private resetBase = 0;
  private resetTerm = 0;

  constructor(
    private readonly store: LogReader,
    commit: number,
    snapshot: { index: number; term: number } | undefined,
  ) {
    const last = store.lastIndex();
    this.unstableOffset = last + 1;
    this.persisted = last;
    this.snapshotIndex = snapshot?.index ?? 0;
    this.snapshotTerm = snapshot?.term ?? 0;
    invariant(this.snapshotIndex <= last, () => `the log ends at ${last}, below its snapshot at ${this.snapshotIndex}`);
    // The stored commit is a lower bound written alongside the log; never trust it past the log.
    this.committed = Math.min(Math.max(commit, this.snapshotIndex), last);
    this.applied = this.snapshotIndex;
    this.applying = this.applied;
    const first = store.firstIndex();
    invariant(this.applied >= first - 1, () => `the snapshot at ${this.applied} is below the log's start at ${first}`);
  }

  firstIndex(): number {
    return this.storeStale ? this.resetBase + 1 : this.store.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.unstableOffset + this.unstable.length - 1;
    // While the store resets, entries it made durable after the snapshot are still in memory
    // (stableTo keeps them while stale), so an empty unstable part means nothing past it.
    return this.storeStale ? this.unstableOffset - 1 : this.store.lastIndex();
  }

  /** Index and term of the latest snapshot this log knows of (0/0 if none). */
  snapshotPoint(): { index: number; term: number } {
    return { index: this.snapshotIndex, term: this.snapshotTerm };
  }

  /** A snapshot was taken locally at (index, term); the log itself is unchanged. */
  snapshotTaken(index: number, term: number): void {
    if (index <= this.snapshotIndex) return;
    invariant(index <= this.applied, () => `snapshot at ${index} beyond applied ${this.applied}`);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /**
   * Replaces the whole log with a snapshot received from the leader: everything up to it counts as
   * committed and applied (the runtime restores the state machine before applying anything more).
   */
  restore(meta: SnapshotMeta): void {
    invariant(meta.index > this.committed, () => `restoring snapshot ${meta.index} at or below commit ${this.committed}`);
    this.unstable.clear();
    this.unstableOffset = meta.index + 1;
    this.unstableHandedOut = 0;
    this.snapshotIndex = meta.index;
    this.snapshotTerm = meta.term;
    this.storeStale = true;
    this.resettingTo = meta.index;
    this.resetBase = meta.index;
    this.resetTerm = meta.term;
    this.persisted = meta.index;
    this.committed = meta.index;
    this.applying = meta.index;
    this.applied = meta.index;
  }

  /** The store finished resetting to the snapshot at `index`. */
  storeReset(index: number): void {
    if (this.storeStale && index === this.resettingTo) this.storeStale = false;
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    invariant(term !== undefined, 'the last entry has no term');
    return term;
  }

  /** The term at `index`, or undefined if it is compacted or beyond the end. */
  term(index: number): number | undefined {
    if (index >= this.unstableOffset) {
      const at = index - this.unstableOffset;
      return at < this.unstable.length ? this.unstable.at(at).term : undefined;
    }
    if (index === 0) return 0;
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (this.storeStale) return index === this.resetBase ? this.resetTerm : undefined;
    return this.store.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's up-to-date rule (§5.4.1): is (lastTerm, lastIndex) at least as current as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in [lo, hi) up to about `maxBytes` of payload (always at least one when lo < hi).
   * Reads the store below the unstable suffix and memory above it.
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    invariant(hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    let stored: Entry[] | undefined;
    let bytes = 0;
    if (lo < this.unstableOffset) {
      const storedHi = Math.min(hi, this.unstableOffset);
      stored = this.store.entries(lo, storedHi, maxBytes);
      for (const entry of stored) bytes += entry.data.byteLength;
      if (hi <= this.unstableOffset || stored.length < storedHi - lo || bytes >= maxBytes) return stored;
    }
    const from = Math.max(lo, this.unstableOffset) - this.unstableOffset;
    const fresh = this.unstable.sliceWithin(from, hi - this.unstableOffset, maxBytes - bytes, stored === undefined);
    return stored === undefined ? fresh : stored.concat(fresh);
  }

  /**
   * Appends entries after `entries[0].index - 1`, replacing any suffix from there. The caller has
   * already checked that the entries do not conflict with committed ones.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    invariant(first > this.committed, () => `append at ${first} would overwrite committed ${this.committed}`);
    invariant(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first === this.unstableOffset + this.unstable.length) {
      this.unstable.pushAll(entries);
    } else if (first <= this.unstableOffset) {
      // Replaces everything from `first`, including entries the store holds.
      this.unstable.clear();
      this.unstable.pushAll(entries);
      this.unstableOffset = first;
      this.unstableHandedOut = 0;
    } else {
      const keep = first - this.unstableOffset;
      this.unstable.truncate(keep);
      this.unstable.pushAll(entries);
      if (this.unstableHandedOut > keep) this.unstableHandedOut = keep;
    }
    if (this.persisted >= first) this.persisted = first - 1;
  }

  hasUnpersisted(): boolean {
    return this.unstableHandedOut < this.unstable.length;
  }

  /** Unstable entries not yet handed out for writing; marks them handed out. */
  takeUnpersisted(): Entry[] {
    if (this.unstableHandedOut === this.unstable.length) return [];
    const out = this.unstable.slice(this.unstableHandedOut, this.unstable.length);
    this.unstableHandedOut = this.unstable.length;
    return out;
  }

  /**
   * The store made entries up to (index, term) durable. Ignored if that entry was replaced since
   * (a later write carries the replacement).
   */
  stableTo(index: number, term: number): boolean {
    if (this.term(index) !== term) return false;
    if (index >= this.unstableOffset) {
      const drop = index - this.unstableOffset + 1;
      this.unstable.dropFront(drop);
      this.unstableOffset = index + 1;
      this.unstableHandedOut = Math.max(0, this.unstableHandedOut - drop);
    }
    if (index > this.persisted) this.persisted = index;
    return true;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    invariant(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Committed entries not yet handed out for applying, up to `maxBytes`; marks them handed out. */
  takeCommitted(maxBytes: number): Entry[] {
    if (this.applying >= this.committed) return [];
    const entries = this.slice(this.applying + 1, this.committed + 1, maxBytes);
    if (entries.length > 0) this.applying = entries[entries.length - 1]!.index;
    return entries;
  }

  appliedTo(index: number): void {
    invariant(index <= this.applying, () => `applied ${index} beyond what was handed out (${this.applying})`);
    if (index > this.applied) this.applied = index;
  }

  /**
   * The highest index ≤ `index` whose term is ≤ `term` (the leader's side of fast backtracking,
   * and the follower's hint). Stops at the first compacted index.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) break;
    }
    return i;
  }
}
