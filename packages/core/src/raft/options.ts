import { ConfigError } from '../errors.js';
import type { NodeId } from '../types.js';

/** Options of the pure protocol core, in ticks (the runtime turns milliseconds into ticks). */
export interface RaftOptions {
  readonly id: NodeId;
  /**
   * Ticks without hearing from a leader before a follower campaigns. The actual timeout is drawn
   * uniformly from [electionTicks, 2 × electionTicks) so that split votes resolve quickly.
   */
  readonly electionTicks: number;
  /** Ticks between heartbeats. Must be well below electionTicks, or followers time out. */
  readonly heartbeatTicks: number;
  /**
   * Pre-vote (thesis §9.6): before bumping its term a candidate asks whether it could win. A node
   * rejoining after a partition then cannot force a healthy cluster into a new term.
   */
  readonly preVote: boolean;
  /**
   * Check-quorum: a leader that has not heard from a majority within an election timeout steps
   * down, and followers that hear from a leader ignore vote requests for that long. Prevents a
   * partitioned leader from serving forever and is required for lease reads.
   */
  readonly checkQuorum: boolean;
  /**
   * Lease reads answer linearizable reads without a round trip while the leader's lease holds.
   * Safe only if clocks advance at nearly the same rate: see `leaseDriftTicks`.
   */
  readonly leaseRead: boolean;
  /**
   * Ticks subtracted from the lease to absorb clock-rate drift and tick phase. The lease lasts
   * electionTicks - 1 - leaseDriftTicks ticks from the send time of the last quorum-acknowledged
   * heartbeat.
   */
  readonly leaseDriftTicks: number;
  /**
   * Pipelined AppendEntries per follower. With a window of W messages of B bytes and a round
   * trip of R, throughput to a follower is at most W × B / R.
   */
  readonly maxInflightMessages: number;
  /**
   * Ticks a follower may leave pipelined appends unanswered before the leader treats it as
   * unreachable: it stops pipelining and probes (one append at a time) until the follower answers.
   */
  readonly rpcTimeoutTicks: number;
  /** Bytes of entry payload unacknowledged per follower (0: no byte bound). */
  readonly maxInflightBytes: number;
  /** Payload bytes per AppendEntries message (at least one entry is always sent). */
  readonly maxAppendBytes: number;
  /** Payload bytes proposed but not committed; past it proposals fail with BusyError. */
  readonly maxUncommittedBytes: number;
  /** Payload bytes of committed entries handed out for applying per Ready. */
  readonly maxApplyBytes: number;
  /** Outstanding read-index rounds; past it reads fail with BusyError. */
  readonly maxPendingReads: number;
  /** Seed of the generator behind randomized election timeouts. */
  readonly seed: number;
}

export const DEFAULT_RAFT_OPTIONS: Omit<RaftOptions, 'id' | 'seed'> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  leaseRead: false,
  leaseDriftTicks: 1,
  maxInflightMessages: 256,
  rpcTimeoutTicks: 5,
  maxInflightBytes: 16 * 1024 * 1024,
  maxAppendBytes: 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxApplyBytes: 16 * 1024 * 1024,
  maxPendingReads: 65536,
};

function positiveInteger(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(field, `must be a positive integer, got ${value}`);
}

export function validateRaftOptions(options: RaftOptions): RaftOptions {
  if (typeof options.id !== 'string' || options.id.length === 0) throw new ConfigError('id', 'must be a non-empty string');
  positiveInteger('electionTicks', options.electionTicks);
  positiveInteger('heartbeatTicks', options.heartbeatTicks);
  if (options.heartbeatTicks >= options.electionTicks) {
    throw new ConfigError('heartbeatTicks', `must be below electionTicks (${options.electionTicks}), got ${options.heartbeatTicks}`);
  }
  positiveInteger('maxInflightMessages', options.maxInflightMessages);
  positiveInteger('rpcTimeoutTicks', options.rpcTimeoutTicks);
  positiveInteger('maxAppendBytes', options.maxAppendBytes);
  positiveInteger('maxUncommittedBytes', options.maxUncommittedBytes);
  positiveInteger('maxApplyBytes', options.maxApplyBytes);
  positiveInteger('maxPendingReads', options.maxPendingReads);
  if (!Number.isSafeInteger(options.maxInflightBytes) || options.maxInflightBytes < 0) {
    throw new ConfigError('maxInflightBytes', `must be a non-negative integer, got ${options.maxInflightBytes}`);
  }
  if (!Number.isSafeInteger(options.leaseDriftTicks) || options.leaseDriftTicks < 0) {
    throw new ConfigError('leaseDriftTicks', `must be a non-negative integer, got ${options.leaseDriftTicks}`);
  }
  if (options.leaseRead && !options.checkQuorum) {
    throw new ConfigError('leaseRead', 'requires checkQuorum: without it a deposed leader could serve stale reads');
  }
  if (options.leaseRead && options.electionTicks - 1 - options.leaseDriftTicks < 1) {
    throw new ConfigError('leaseDriftTicks', 'leaves no lease: electionTicks - 1 - leaseDriftTicks must be at least 1');
  }
  return options;
}
