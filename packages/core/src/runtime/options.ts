import { ConfigError } from '../errors.js';
import { DEFAULT_RAFT_OPTIONS, validateRaftOptions, type RaftOptions } from '../raft/options.js';
import type { NodeId } from '../types.js';

/** Timing and limits of a RaftNode, in milliseconds and bytes. Every field has a default. */
export interface RaftNodeTuning {
  /**
   * Minimum time without a leader before a follower campaigns (the actual timeout is drawn from
   * [electionTimeoutMs, 2 × electionTimeoutMs)). Must exceed several heartbeat intervals plus the
   * worst round trip, or healthy leaders get deposed.
   */
  electionTimeoutMs: number;
  /** Interval between leader heartbeats, and the resolution of every timer in the node. */
  heartbeatIntervalMs: number;
  /**
   * How long a follower may leave pipelined appends unanswered before the leader treats it as
   * unreachable and falls back to probing it one append at a time.
   */
  rpcTimeoutMs: number;
  /** Default time a proposal may take before it fails with TimeoutError (outcome unknown). */
  proposalTimeoutMs: number;
  /** Default time a read may take before it fails with TimeoutError. */
  readTimeoutMs: number;
  /** Pre-vote: a rejoining node cannot disrupt a healthy cluster. */
  preVote: boolean;
  /** Check-quorum: a leader cut off from a majority steps down within an election timeout. */
  checkQuorum: boolean;
  /**
   * Serve `consistency: 'lease'` reads from the leader's lease without a round trip. Requires
   * checkQuorum. Correct only while clocks advance at the same rate within `leaseDriftTicks`
   * heartbeat intervals per election timeout (see the README).
   */
  leaseRead: boolean;
  leaseDriftTicks: number;
  maxInflightMessages: number;
  maxInflightBytes: number;
  maxAppendBytes: number;
  maxUncommittedBytes: number;
  maxApplyBytes: number;
  maxPendingReads: number;
  /** Proposals waiting for their result; past it propose() fails with BusyError. */
  maxPendingProposals: number;
  /** Largest single command in bytes. */
  maxCommandBytes: number;
  /**
   * Take a snapshot after this many entries were applied since the last one (0: never by count).
   * Snapshots need a `snapshotStore` and a state machine with snapshot() and restore().
   */
  snapshotEntries: number;
  /** ...or after this many bytes of commands were applied since the last one (0: never by size). */
  snapshotBytes: number;
  /**
   * Entries kept below a snapshot when the log is compacted, so that a follower slightly behind
   * catches up from the log instead of receiving a whole snapshot.
   */
  snapshotKeepEntries: number;
  /** Bytes per InstallSnapshot chunk. */
  snapshotChunkBytes: number;
  /** Chunks in flight per snapshot stream (flow control). */
  snapshotWindowChunks: number;
  /** A snapshot stream with no acknowledgement for this long resends; after a few times it is abandoned. */
  snapshotTimeoutMs: number;
  /** A learner added with `promote: true` becomes a voter once it is within this many entries of the leader. */
  learnerPromotionLag: number;
}

export const DEFAULT_TUNING: RaftNodeTuning = {
  electionTimeoutMs: 1000,
  heartbeatIntervalMs: 100,
  rpcTimeoutMs: 500,
  proposalTimeoutMs: 5000,
  readTimeoutMs: 5000,
  preVote: DEFAULT_RAFT_OPTIONS.preVote,
  checkQuorum: DEFAULT_RAFT_OPTIONS.checkQuorum,
  leaseRead: DEFAULT_RAFT_OPTIONS.leaseRead,
  leaseDriftTicks: DEFAULT_RAFT_OPTIONS.leaseDriftTicks,
  maxInflightMessages: DEFAULT_RAFT_OPTIONS.maxInflightMessages,
  maxInflightBytes: DEFAULT_RAFT_OPTIONS.maxInflightBytes,
  maxAppendBytes: DEFAULT_RAFT_OPTIONS.maxAppendBytes,
  maxUncommittedBytes: DEFAULT_RAFT_OPTIONS.maxUncommittedBytes,
  maxApplyBytes: DEFAULT_RAFT_OPTIONS.maxApplyBytes,
  maxPendingReads: DEFAULT_RAFT_OPTIONS.maxPendingReads,
  maxPendingProposals: 1_000_000,
  maxCommandBytes: 8 * 1024 * 1024,
  snapshotEntries: 100_000,
  snapshotBytes: 256 * 1024 * 1024,
  snapshotKeepEntries: 10_000,
  snapshotChunkBytes: 1024 * 1024,
  snapshotWindowChunks: 8,
  snapshotTimeoutMs: 5000,
  learnerPromotionLag: 1000,
};

/** Fields where 0 is allowed (it switches the feature off or means none). */
const NON_NEGATIVE = new Set<string>(['maxInflightBytes', 'leaseDriftTicks', 'snapshotEntries', 'snapshotBytes', 'snapshotKeepEntries', 'learnerPromotionLag']);

function check(field: string, value: unknown, kind: 'positive' | 'non-negative' | 'boolean'): void {
  if (kind === 'boolean') {
    if (typeof value !== 'boolean') throw new ConfigError(field, `must be true or false, got ${String(value)}`);
    return;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (kind === 'positive' ? 1 : 0)) {
    throw new ConfigError(field, `must be a ${kind} integer, got ${String(value)}`);
  }
}

/** Validates tuning, naming the bad field, and derives the protocol's tick-based options. */
export function resolveTuning(id: NodeId, seed: number, partial: Partial<RaftNodeTuning> | undefined): {
  tuning: RaftNodeTuning;
  raft: RaftOptions;
} {
  const tuning: RaftNodeTuning = { ...DEFAULT_TUNING, ...partial };
  for (const key of Object.keys(partial ?? {})) {
    if (!(key in DEFAULT_TUNING)) throw new ConfigError(key, 'is not a known option');
  }
  for (const [key, value] of Object.entries(tuning)) {
    const kind = typeof DEFAULT_TUNING[key as keyof RaftNodeTuning] === 'boolean' ? 'boolean' : NON_NEGATIVE.has(key) ? 'non-negative' : 'positive';
    check(key, value, kind);
  }
  const electionTicks = Math.floor(tuning.electionTimeoutMs / tuning.heartbeatIntervalMs);
  if (electionTicks < 3) {
    throw new ConfigError(
      'electionTimeoutMs',
      `must be at least 3 × heartbeatIntervalMs (${tuning.heartbeatIntervalMs} ms), got ${tuning.electionTimeoutMs} ms`,
    );
  }
  const raft = validateRaftOptions({
    id,
    seed,
    electionTicks,
    heartbeatTicks: 1,
    preVote: tuning.preVote,
    checkQuorum: tuning.checkQuorum,
    leaseRead: tuning.leaseRead,
    leaseDriftTicks: tuning.leaseDriftTicks,
    maxInflightMessages: tuning.maxInflightMessages,
    rpcTimeoutTicks: Math.max(1, Math.ceil(tuning.rpcTimeoutMs / tuning.heartbeatIntervalMs)),
    maxInflightBytes: tuning.maxInflightBytes,
    maxAppendBytes: tuning.maxAppendBytes,
    maxUncommittedBytes: tuning.maxUncommittedBytes,
    maxApplyBytes: tuning.maxApplyBytes,
    maxPendingReads: tuning.maxPendingReads,
  });
  return { tuning, raft };
}
