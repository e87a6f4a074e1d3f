import { invariant } from '../errors.js';
import { Inflights } from './inflights.js';

/**
 * How the leader replicates to one follower:
 * - probe: the follower's position is unknown; one AppendEntries at a time until one is accepted.
 * - replicate: the position is known; entries are pipelined up to the inflight window.
 * - snapshot: the follower needs entries the log no longer holds; a snapshot is streaming to it and
 *   nothing else is sent until it acknowledges the snapshot or the stream fails.
 */
export type ReplicationState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be replicated (durably) on the follower. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ReplicationState = 'probe';
  /** In probe state: a message is out and we wait for its answer (or a heartbeat response). */
  probeSent = false;
  /** Heard from within the current check-quorum window. */
  recentActive = false;
  /** The leader's tick count when this follower last answered anything. */
  lastResponseTick = 0;
  /** The commit index last sent to this follower (to avoid commit-only messages it does not need). */
  sentCommit = 0;
  /** Send an append even with nothing new, as a probe (the follower answered a heartbeat but lags). */
  probeWanted = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMessages: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMessages, maxInflightBytes);
  }

  /** Can another AppendEntries with entries go out now? */
  paused(): boolean {
    if (this.state === 'snapshot') return true;
    return this.state === 'probe' ? this.probeSent : this.inflights.full();
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeProbe(): void {
    this.pendingSnapshot = 0;
    this.state = 'probe';
    this.probeSent = false;
    this.next = this.match + 1;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.pendingSnapshot = 0;
    this.state = 'replicate';
    this.probeSent = false;
    this.next = this.match + 1;
    this.inflights.reset();
  }

  /** Records that entries up to `lastIndex` were sent. */
  sentEntries(lastIndex: number, bytes: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else {
      this.probeSent = true;
    }
  }

  /** An acceptance up to `index` arrived. Returns false if it told us nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * A rejection of the append at `rejected` arrived; `probeNext` is where the hints say to try.
   * Returns false for a stale rejection (one that answers a message we no longer care about).
   */
  maybeDecreaseTo(rejected: number, probeNext: number): boolean {
    // While a snapshot streams, rejections answer appends sent before it: stale.
    if (this.state === 'snapshot') return false;
    if (this.state === 'replicate') {
      // A rejection at or below match is stale: that prefix is known to agree.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the answer to the message we sent (at next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeNext + 1), this.match + 1);
    invariant(this.next >= 1, 'next index below 1');
    this.probeSent = false;
    return true;
  }
}
