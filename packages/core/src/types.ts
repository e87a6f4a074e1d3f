/**
 * The vocabulary shared by every Flotilla package: log entries, hard state, cluster configuration
 * and the Raft messages that travel between peers.
 *
 * Indices and terms are JavaScript numbers (exact up to 2^53) and uint64 on the wire and on disk.
 */

export type NodeId = string;

/** What a log entry carries. */
export const EntryType = {
  /** A user command, handed to the state machine. */
  Normal: 0,
  /** The empty entry a new leader appends so it can commit entries of earlier terms. */
  Noop: 1,
  /** A membership change; its data is an encoded {@link ConfigState}. */
  Config: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * An {@link Entry} as a follower makes them: the transport decodes entries into these and the
 * storage reads them back from disk as these. Any object of the Entry shape is accepted everywhere;
 * the class exists because of how V8 places objects. Object literals are tracked per creation site,
 * and a site whose objects mostly survive young-generation collections is switched to allocating
 * them in the old generation. A follower under light load keeps its recent entries cached for
 * seconds, which trains a literal site that way; when load rises, every entry it decodes is then
 * born old and dies old, and only full collections free them (measured after a C = 1 run: each
 * follower scavenge promoting about 8 MB and taking up to 24 ms, and C = 256's p99 at 5.7-5.9 ms
 * instead of 4.1-4.6). Instances of a class are not tracked per site, so they keep dying young. The
 * leader's proposals stay literals: there an entry lives as long as its proposal is pending, and
 * the same switch saves copying it at high concurrency (with LogEntry there, C = 4096 lost 13%).
 */
export class LogEntry implements Entry {
  constructor(
    readonly index: number,
    readonly term: number,
    readonly type: EntryType,
    readonly data: Uint8Array,
  ) {}
}

/** What must survive a crash before any message that depends on it leaves the node. */
export interface HardState {
  readonly term: number;
  /** The candidate voted for in `term`, or '' for none. */
  readonly vote: NodeId;
  /** A lower bound on the cluster's commit index (never above the durable last index). */
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: '', commit: 0 });

/**
 * The membership of the cluster. When `outgoingVoters` is non-empty the cluster is in a joint
 * configuration and decisions need a majority of both voter sets.
 */
export interface ConfigState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly outgoingVoters: readonly NodeId[];
  /**
   * Learners that whichever node leads promotes to voter by itself once they are within
   * `learnerPromotionLag` entries of its log (`addLearner(id, { promote: true })`). Part of the
   * replicated configuration, so the request survives a change of leader. A subset of `learners`;
   * absent means none.
   */
  readonly autoPromote?: readonly NodeId[];
}

/** Where a snapshot sits in the log and the configuration in force at that point. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly config: ConfigState;
}

export const MessageType = {
  Vote: 1,
  VoteResponse: 2,
  PreVote: 3,
  PreVoteResponse: 4,
  Append: 5,
  AppendResponse: 6,
  Heartbeat: 7,
  HeartbeatResponse: 8,
  Snapshot: 9,
  SnapshotResponse: 10,
  TimeoutNow: 11,
  ReadIndex: 12,
  ReadIndexResponse: 13,
  Propose: 14,
  ProposeResponse: 15,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's current term (for PreVote: the term it would campaign in). */
  readonly term: number;
}

/** RequestVote, or the pre-vote probe that precedes it (same fields, no state change on receipt). */
export interface VoteMessage extends Envelope {
  readonly type: typeof MessageType.Vote | typeof MessageType.PreVote;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set when the election was started by a leadership transfer: voters ignore their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponseMessage extends Envelope {
  readonly type: typeof MessageType.VoteResponse | typeof MessageType.PreVoteResponse;
  readonly reject: boolean;
}

export interface AppendMessage extends Envelope {
  readonly type: typeof MessageType.Append;
  readonly prevIndex: number;
  readonly prevTerm: number;
  /** Consecutive entries starting at prevIndex + 1. */
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendResponseMessage extends Envelope {
  readonly type: typeof MessageType.AppendResponse;
  /**
   * Accepted: the last index known to match the leader's log (and durable on the sender).
   * Rejected: the prevIndex that did not match.
   */
  readonly index: number;
  readonly reject: boolean;
  /** On reject: the follower's guess at the highest index that could match (fast backtracking). */
  readonly hintIndex: number;
  /** On reject: the follower's term at hintIndex. */
  readonly hintTerm: number;
}

export interface HeartbeatMessage extends Envelope {
  readonly type: typeof MessageType.Heartbeat;
  /** min(leader commit, follower's known match): never beyond what the follower is known to hold. */
  readonly commit: number;
  /** The read-index round this heartbeat belongs to (0: none). */
  readonly context: number;
}

export interface HeartbeatResponseMessage extends Envelope {
  readonly type: typeof MessageType.HeartbeatResponse;
  readonly context: number;
}

/** One chunk of an InstallSnapshot stream. */
export interface SnapshotMessage extends Envelope {
  readonly type: typeof MessageType.Snapshot;
  readonly meta: SnapshotMeta;
  /** Byte offset of `data` within the snapshot. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** Set on the last chunk. */
  readonly done: boolean;
  /** CRC32C of the whole snapshot; meaningful on the last chunk. */
  readonly checksum: number;
}

export interface SnapshotResponseMessage extends Envelope {
  readonly type: typeof MessageType.SnapshotResponse;
  /** The snapshot's last included index. */
  readonly index: number;
  /** The offset the follower expects next (after the last chunk: the snapshot size). */
  readonly nextOffset: number;
  readonly reject: boolean;
}

/** Tells the transfer target to campaign at once. */
export interface TimeoutNowMessage extends Envelope {
  readonly type: typeof MessageType.TimeoutNow;
}

/** A follower asking the leader for a read index on behalf of its own readers. */
export interface ReadIndexMessage extends Envelope {
  readonly type: typeof MessageType.ReadIndex;
  readonly requestId: number;
}

export interface ReadIndexResponseMessage extends Envelope {
  readonly type: typeof MessageType.ReadIndexResponse;
  readonly requestId: number;
  /** The commit index the reader must wait to apply; meaningless when rejected. */
  readonly index: number;
  readonly reject: boolean;
}

/** Proposals forwarded from a follower to the leader. */
export interface ProposeMessage extends Envelope {
  readonly type: typeof MessageType.Propose;
  readonly requestId: number;
  readonly data: Uint8Array;
}

export const ProposeError = {
  None: 0,
  NotLeader: 1,
  Busy: 2,
  Timeout: 3,
  TooLarge: 4,
  Unknown: 5,
} as const;
export type ProposeError = (typeof ProposeError)[keyof typeof ProposeError];

export interface ProposeResponseMessage extends Envelope {
  readonly type: typeof MessageType.ProposeResponse;
  readonly requestId: number;
  readonly error: ProposeError;
  readonly index: number;
  readonly entryTerm: number;
  /** The leader known to the responder ('' if none), for NotLeader. */
  readonly leaderHint: NodeId;
  /** The state machine's result, encoded by the application (empty if none or on error). */
  readonly result: Uint8Array;
}

export type Message =
  | VoteMessage
  | VoteResponseMessage
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | SnapshotResponseMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | ProposeMessage
  | ProposeResponseMessage;

/** Payload bytes a message carries, used to bound inflight windows and queues. */
export function messagePayloadBytes(message: Message): number {
  switch (message.type) {
    case MessageType.Append: {
      let bytes = 0;
      for (const entry of message.entries) bytes += entry.data.byteLength;
      return bytes;
    }
    case MessageType.Snapshot:
    case MessageType.Propose:
      return message.data.byteLength;
    case MessageType.ProposeResponse:
      return message.result.byteLength;
    default:
      return 0;
  }
}
