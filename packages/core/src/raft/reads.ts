import { MessageType, type Message, type NodeId } from '../types.js';
import { quorumValue } from './quorum.js';
import type { Raft } from './raft.js';

/** A read point: the reader may proceed once the state machine has applied `index`. */
export interface ReadState {
  readonly requestId: number;
  readonly index: number;
}

export type ReadFailureReason = 'not-leader' | 'leadership-lost' | 'busy';

export interface ReadFailure {
  readonly requestId: number;
  readonly reason: ReadFailureReason;
  /** The leader known when the read failed ('' if none). */
  readonly leader: NodeId;
}

interface Waiter {
  readonly requestId: number;
  /** The node that asked: this leader itself, or a follower that forwarded the read. */
  readonly from: NodeId;
}

/** Reads that share one heartbeat round. `context` is 0 until its heartbeat is broadcast. */
interface Round {
  context: number;
  index: number;
  readonly waiters: Waiter[];
}

/** Heartbeat send ticks remembered for leases; older acknowledgements no longer extend one. */
const SEND_TICK_HISTORY = 64;

/**
 * ReadIndex (thesis §6.4): a leader records its commit index, confirms with a quorum that it is
 * still the leader, and answers with that index. All reads that arrive before a round's heartbeat
 * is broadcast share it, so a burst of reads costs one heartbeat round. Also tracks the
 * acknowledgement times that leases are computed from, and the reads a follower forwarded.
 */
export class ReadTracker {
  private heartbeatContext = 0;
  private readonly sendTicks = new Map<number, number>();
  private readonly ackedContext = new Map<NodeId, number>();
  private readonly ackedSendTick = new Map<NodeId, number>();
  private rounds: Round[] = [];
  private awaitingCommit: Waiter[] = [];
  private pending = 0;
  private readonly forwarded = new Map<number, NodeId>();
  private states: ReadState[] = [];
  private failures: ReadFailure[] = [];

  constructor(
    private readonly id: NodeId,
    private readonly maxPending: number,
  ) {}

  // ------------------------------------------------------------------ leader side

  request(raft: Raft, requestId: number, from: NodeId, leaseHolds: boolean): void {
    const waiter = { requestId, from };
    if (this.pending >= this.maxPending) {
      this.refuse(raft, waiter, 'busy');
      return;
    }
    if (!raft.committedInCurrentTerm()) {
      // The commit index of a new leader may lag the cluster's until its first entry commits.
      this.awaitingCommit.push(waiter);
      this.pending++;
      return;
    }
    this.admit(raft, waiter, leaseHolds);
  }

  /** Broadcasts the open round's heartbeat, if there is an open round. */
  flushRound(raft: Raft): void {
    const open = this.rounds[this.rounds.length - 1];
    if (open && open.context === 0) open.context = raft.broadcastHeartbeat();
  }

  nextHeartbeatContext(tick: number): number {
    const context = ++this.heartbeatContext;
    this.sendTicks.set(context, tick);
    this.sendTicks.delete(context - SEND_TICK_HISTORY);
    return context;
  }

  acknowledge(raft: Raft, from: NodeId, context: number): void {
    if (context <= (this.ackedContext.get(from) ?? 0)) return;
    this.ackedContext.set(from, context);
    const sent = this.sendTicks.get(context);
    if (sent !== undefined) this.ackedSendTick.set(from, sent);
    while (this.rounds.length > 0) {
      const round = this.rounds[0]!;
      if (round.context === 0 || !raft.quorumOf((id) => (this.ackedContext.get(id) ?? 0) >= round.context)) break;
      this.rounds.shift();
      this.pending -= round.waiters.length;
      for (const waiter of round.waiters) this.answer(raft, waiter, round.index);
    }
  }

  /** Send tick of the newest heartbeat a quorum has acknowledged, or undefined. */
  leaseStart(raft: Raft): number | undefined {
    const start = quorumValue(raft.config, (id) =>
      id === this.id ? Number.POSITIVE_INFINITY : (this.ackedSendTick.get(id) ?? Number.NEGATIVE_INFINITY),
    );
    return Number.isFinite(start) ? start : undefined;
  }

  onCommit(raft: Raft): void {
    if (this.awaitingCommit.length === 0 || !raft.committedInCurrentTerm()) return;
    const waiters = this.awaitingCommit;
    this.awaitingCommit = [];
    this.pending -= waiters.length;
    for (const waiter of waiters) this.admit(raft, waiter, false);
  }

  private admit(raft: Raft, waiter: Waiter, leaseHolds: boolean): void {
    const commit = raft.log.committed;
    if (leaseHolds || raft.quorumOf(() => false)) {
      this.answer(raft, waiter, commit);
      return;
    }
    let open = this.rounds[this.rounds.length - 1];
    if (!open || open.context !== 0) {
      open = { context: 0, index: commit, waiters: [] };
      this.rounds.push(open);
    }
    // A later arrival must see every write committed before it arrived.
    open.index = commit;
    open.waiters.push(waiter);
    this.pending++;
  }

  private answer(raft: Raft, waiter: Waiter, index: number): void {
    if (waiter.from === this.id) {
      this.states.push({ requestId: waiter.requestId, index });
    } else {
      raft.send({
        type: MessageType.ReadIndexResponse,
        from: this.id,
        to: waiter.from,
        term: raft.term,
        requestId: waiter.requestId,
        index,
        reject: false,
      });
    }
  }

  private refuse(raft: Raft, waiter: Waiter, reason: ReadFailureReason): void {
    if (waiter.from === this.id) {
      this.failures.push({ requestId: waiter.requestId, reason, leader: raft.leader });
    } else {
      raft.send(this.rejection(raft.term, waiter));
    }
  }

  private rejection(term: number, waiter: Waiter): Message {
    return { type: MessageType.ReadIndexResponse, from: this.id, to: waiter.from, term, requestId: waiter.requestId, index: 0, reject: true };
  }

  // ------------------------------------------------------------------ follower side

  forward(requestId: number, leader: NodeId): void {
    if (this.forwarded.size >= this.maxPending) {
      this.fail(requestId, 'busy', leader);
      return;
    }
    this.forwarded.set(requestId, leader);
  }

  forwardedAnswer(requestId: number, from: NodeId, index: number | undefined): void {
    if (this.forwarded.get(requestId) !== from) return;
    this.forwarded.delete(requestId);
    if (index === undefined) this.fail(requestId, 'not-leader', '');
    else this.states.push({ requestId, index });
  }

  /** The runtime gave up on a read (timeout): forget it. */
  forget(requestId: number): void {
    this.forwarded.delete(requestId);
  }

  fail(requestId: number, reason: ReadFailureReason, leader: NodeId): void {
    this.failures.push({ requestId, reason, leader });
  }

  // ------------------------------------------------------------------ both

  hasOutput(): boolean {
    const open = this.rounds[this.rounds.length - 1];
    return this.states.length > 0 || this.failures.length > 0 || (open !== undefined && open.context === 0);
  }

  take(): { states: ReadState[]; failures: ReadFailure[] } {
    const out = { states: this.states, failures: this.failures };
    if (this.states.length > 0) this.states = [];
    if (this.failures.length > 0) this.failures = [];
    return out;
  }

  /**
   * Leadership or term changed: every pending read fails (its caller may retry) and remote
   * readers are told at once. Returns the rejections to send.
   */
  reset(term: number): Message[] {
    const rejections: Message[] = [];
    const fail = (waiter: Waiter): void => {
      if (waiter.from === this.id) this.failures.push({ requestId: waiter.requestId, reason: 'leadership-lost', leader: '' });
      else rejections.push(this.rejection(term, waiter));
    };
    for (const round of this.rounds) round.waiters.forEach(fail);
    this.awaitingCommit.forEach(fail);
    for (const requestId of this.forwarded.keys()) {
      this.failures.push({ requestId, reason: 'leadership-lost', leader: '' });
    }
    this.rounds = [];
    this.awaitingCommit = [];
    this.forwarded.clear();
    this.pending = 0;
    this.ackedContext.clear();
    this.ackedSendTick.clear();
    return rejections;
  }
}
