import { BusyError, invariant, NotLeaderError, TransferInProgressError, FlotillaError } from '../errors.js';
import type { InitialState } from '../storage.js';
import {
  EntryType,
  MessageType,
  type SnapshotMeta,
  type AppendMessage,
  type AppendResponseMessage,
  type ConfigState,
  type Entry,
  type HardState,
  type HeartbeatResponseMessage,
  type Message,
  type NodeId,
  type ReadIndexResponseMessage,
  type VoteMessage,
  type VoteResponseMessage,
} from '../types.js';
import { validateRaftOptions, type RaftOptions } from './options.js';
import { Progress } from './progress.js';
import { allMembers, committedIndex, isVoter, quorumActive, voteOutcome } from './quorum.js';
import { decodeConfig, describeConfig, encodeConfig, firstStep, isJoint, leaveJoint, MembershipError, quorumsCanBeDisjoint, sameConfig, validateConfig } from './config.js';
import { RaftLog, type LogReader } from './raft-log.js';
import { SeededRandom } from './random.js';
import { ReadTracker, type ReadFailure, type ReadState } from './reads.js';

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state the runtime reports as events; present in a Ready only when it changed. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId;
  readonly term: number;
}

/**
 * Everything the runtime must do after one batch of events, in this order:
 * 1. send `messages` at once (the leader's appends go out before its own write, thesis §10.2.1);
 * 2. write `hardState` and `entries` durably, then call `persisted()` and send `messagesAfterPersist`
 *    (votes and acknowledgements, which promise durability); a `hardState` whose term and vote are
 *    unchanged only records a higher commit index, which storage may write without a sync;
 * 3. apply `committed` in order, then call `appliedTo()`;
 * 4. resolve `readStates` once the state machine has applied their index, fail `readFailures`.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly readFailures: readonly ReadFailure[];
  /**
   * A snapshot received from the leader replaces the log and the state: reset the store to it
   * (ordered with the writes), restore the state machine from it before applying anything after
   * it, then call `snapshotReset()`. Its acknowledgement is in `messagesAfterPersist`.
   */
  readonly snapshot: SnapshotMeta | undefined;
  /** Followers that need the latest snapshot (index given): stream it, then report the outcome. */
  readonly snapshotRequests: readonly SnapshotRequest[];
  /** Set when the configuration changed since the last Ready (on append, not on commit). */
  readonly config: ConfigState | undefined;
}

export interface SnapshotRequest {
  readonly to: NodeId;
  readonly index: number;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly persistedIndex: number;
  readonly config: ConfigState;
  readonly snapshotIndex: number;
  /** The first index the log still holds (everything below is summed up by a snapshot). */
  readonly firstIndex: number;
  readonly transferTarget: NodeId;
  readonly progress: ReadonlyArray<{ id: NodeId; match: number; next: number; state: string; inflight: number }>;
}

/**
 * The Raft protocol as a deterministic state machine: events in (`tick`, `step`, `propose`,
 * `readIndex`, `transferLeadership`, `persisted`, `appliedTo`), a `Ready` out. No I/O, no clock;
 * randomness only from the seeded generator.
 */
export class Raft {
  readonly id: NodeId;
  private readonly options: RaftOptions;
  private readonly random: SeededRandom;
  readonly log: RaftLog;

  term = 0;
  vote: NodeId = '';
  leader: NodeId = '';
  role: Role = 'follower';
  config: ConfigState;

  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since this node started; the clock of leases. */
  private ticks = 0;
  private transferTarget: NodeId = '';
  /** Payload bytes of this leader's entries not yet committed, with the batches that make them up. */
  private uncommittedBytes = 0;
  private readonly uncommittedBatches: number[] = [];
  private readonly reads: ReadTracker;
  /**
   * Configurations in the log, ascending by index: [0] is the base (the snapshot's, or the bootstrap
   * one at 0), then one per Config entry. The last is in force (effective on append, §4.1).
   */
  private configs: { index: number; config: ConfigState }[];
  /** The index of the latest config change this leader appended; no new change until it commits. */
  private pendingConfigIndex = 0;
  private configChanged = false;
  private snapshotToInstall: SnapshotMeta | undefined;
  private snapshotRequests: SnapshotRequest[] = [];

  private messages: Message[] = [];
  private messagesAfterPersist: Message[] = [];
  /** Followers that may have something to send (new acks, heartbeat responses). */
  private readonly dirtyPeers = new Set<NodeId>();
  /** New entries or a new commit index: every follower may need an append. */
  private broadcastPending = false;
  private lastHard: { term: number; vote: NodeId; commit: number };
  private lastSoft: SoftState;

  /**
   * `initial.snapshot` is the snapshot the state machine starts from (the runtime restored it);
   * `bootstrap` is the configuration when neither it nor the log holds one.
   */
  constructor(options: RaftOptions, store: LogReader, initial: InitialState, bootstrap: ConfigState) {
    this.options = validateRaftOptions(options);
    this.id = options.id;
    this.random = new SeededRandom(options.seed);
    const snapshot = initial.snapshot;
    this.log = new RaftLog(store, initial.hardState.commit, snapshot);
    this.configs = [{ index: snapshot?.index ?? 0, config: snapshot?.config ?? bootstrap }];
    this.scanConfigs(store, (snapshot?.index ?? 0) + 1);
    this.config = this.configs[this.configs.length - 1]!.config;
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.reads = new ReadTracker(this.id, options.maxPendingReads);
    this.becomeFollower(this.term, '');
    this.lastHard = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.lastSoft = this.softState();
  }

  // ---------------------------------------------------------------- events from the runtime

  tick(): void {
    this.ticks++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Handles one message from a peer. Messages for the runtime (forwarded proposals) are ignored. */
  step(m: Message): void {
    if (m.type === MessageType.Propose || m.type === MessageType.ProposeResponse) return;
    if (m.type === MessageType.ReadIndex || m.type === MessageType.ReadIndexResponse) {
      // Read-index traffic carries no term obligations: the leader answers only after a quorum
      // confirms it, and a follower only waits for an index.
      if (m.type === MessageType.ReadIndex) this.onReadIndexRequest(m.from, m.requestId);
      else this.onReadIndexResponse(m);
      return;
    }
    if (!this.checkTerm(m)) return;
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.onVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  /**
   * Appends user commands to the leader's log. Returns the index of the first and the term.
   * Throws NotLeaderError, TransferInProgressError or BusyError; nothing is appended then.
   */
  propose(payloads: readonly Uint8Array[]): { index: number; term: number } {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader || undefined);
    if (this.transferTarget !== '') throw new TransferInProgressError(this.transferTarget);
    let bytes = 0;
    for (const payload of payloads) bytes += payload.byteLength;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.options.maxUncommittedBytes) {
      throw new BusyError(
        `${this.uncommittedBytes} bytes proposed and not yet committed (limit maxUncommittedBytes = ${this.options.maxUncommittedBytes})`,
      );
    }
    const first = this.log.lastIndex() + 1;
    const entries = new Array<Entry>(payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      // A literal, not a LogEntry (see there): V8 may allocate these straight in the old
      // generation, which suits entries that live as long as their proposal is pending.
      entries[i] = { index: first + i, term: this.term, type: EntryType.Normal, data: payloads[i]! };
    }
    this.appendAsLeader(entries, bytes);
    return { index: first, term: this.term };
  }

  /**
   * Asks for a linearizable read point. The answer arrives in a later Ready as a ReadState
   * (`requestId`, index to wait for) or a ReadFailure. With `lease`, a leader whose lease holds
   * answers without a round trip.
   */
  readIndex(requestId: number, lease = false): void {
    if (this.role === 'leader') {
      this.reads.request(this, requestId, this.id, lease && this.leaseValid());
      return;
    }
    if (this.leader === '') {
      this.reads.fail(requestId, 'not-leader', '');
      return;
    }
    this.reads.forward(requestId, this.leader);
    this.send({ type: MessageType.ReadIndex, from: this.id, to: this.leader, term: this.term, requestId });
  }

  /** The runtime gave up waiting for a read: forget it. */
  forgetRead(requestId: number): void {
    this.reads.forget(requestId);
  }

  /** Hands leadership to `target`: catch it up, then tell it to campaign at once. */
  transferLeadership(target: NodeId): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader || undefined);
    if (target === this.id) return;
    if (!isVoter(this.config, target)) {
      throw new FlotillaError('NOT_A_VOTER', `cannot transfer leadership to ${target}: not a voter`);
    }
    if (this.transferTarget === target) return;
    this.transferTarget = target;
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsed = 0;
    const pr = this.progress.get(target)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.dirtyPeers.add(target);
  }

  /**
   * Asks to move to voters `voters` and learners `learners`, of which `autoPromote` are to be made
   * voters by whichever node leads once they have caught up. A change of voters goes through a
   * joint configuration (both majorities decide) that the leader leaves by itself once it commits;
   * a change of learners only is one step. Returns the index of the entry, or undefined if the
   * configuration already is the target. Throws NotLeaderError, TransferInProgressError, or
   * MembershipError (a change is in flight; the target is invalid).
   */
  changeConfig(voters: readonly NodeId[], learners: readonly NodeId[], autoPromote: readonly NodeId[] = []): { index: number; term: number } | undefined {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader || undefined);
    if (this.transferTarget !== '') throw new TransferInProgressError(this.transferTarget);
    if (this.configChangePending()) {
      throw new MembershipError('CONFIG_CHANGE_IN_PROGRESS', 'a membership change is in progress; retry when it has committed');
    }
    const next = firstStep(this.config, voters, learners, autoPromote);
    if (sameConfig(next, this.config)) return undefined;
    return this.appendConfig(next);
  }

  /** True while a configuration change this leader appended (or the joint phase) is not done. */
  configChangePending(): boolean {
    return this.pendingConfigIndex > this.log.committed || isJoint(this.config) || this.lastConfigIndex() > this.log.committed;
  }

  /** The configuration in force at `index` (at or above the oldest one this node remembers). */
  configAt(index: number): ConfigState {
    let found = this.configs[0]!;
    for (const entry of this.configs) {
      if (entry.index > index) break;
      found = entry;
    }
    invariant(found.index <= index || index < this.configs[0]!.index, 'config history out of order');
    return found.config;
  }

  /**
   * The runtime made a durable snapshot at `index` (≤ applied). The log may now be compacted up
   * to it; followers that need entries below the compaction point get this snapshot.
   */
  snapshotTaken(index: number, term: number): void {
    // An older snapshot than the log's (one restored from the leader meanwhile) changes nothing.
    if (index <= this.log.snapshotPoint().index) return;
    invariant(this.log.term(index) === term || this.log.snapshotPoint().index >= index, () => `snapshot at ${index}/${term} does not match the log`);
    this.log.snapshotTaken(index, term);
    // Config entries at or below the snapshot are summed up by the snapshot's configuration.
    const config = this.configAt(index);
    this.configs = [{ index, config }, ...this.configs.filter((c) => c.index > index)];
  }

  /**
   * A snapshot from the leader is durable in the snapshot store. If it is ahead of this log, the
   * log and state are replaced by it (see Ready.snapshot); either way the leader learns how far
   * this node now is.
   */
  installSnapshot(leader: NodeId, meta: SnapshotMeta): void {
    if (this.role === 'leader') return;
    validateConfig(meta.config);
    if (meta.index <= this.log.committed) {
      this.messagesAfterPersist.push(this.appendAccept(leader, this.log.committed));
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We hold that entry: the snapshot only tells us it is committed.
      this.log.commitTo(meta.index);
      this.messagesAfterPersist.push(this.appendAccept(leader, meta.index));
      return;
    }
    this.log.restore(meta);
    this.configs = [{ index: meta.index, config: meta.config }];
    this.setConfig(meta.config);
    this.snapshotToInstall = meta;
    this.messagesAfterPersist.push(this.appendAccept(leader, meta.index));
  }

  /** The store finished resetting to the snapshot at `index` (after Ready.snapshot). */
  snapshotReset(index: number): void {
    this.log.storeReset(index);
  }

  /**
   * `peer` holds the snapshot at `index` durably. If it is still waiting on a snapshot, probe it
   * just past that point (its own acknowledgement may have raced ahead of or behind this report).
   */
  snapshotSent(peer: NodeId, index: number): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(peer);
    if (!pr || pr.state !== 'snapshot') return;
    const next = Math.max(pr.match + 1, Math.min(index, pr.pendingSnapshot) + 1);
    pr.becomeProbe();
    pr.next = next;
    this.dirtyPeers.add(peer);
  }

  /** Streaming a snapshot to `peer` failed or was abandoned: probe it again (a new snapshot if needed). */
  snapshotFailed(peer: NodeId): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(peer);
    if (!pr || pr.state !== 'snapshot') return;
    pr.becomeProbe();
    this.dirtyPeers.add(peer);
  }

  /** Starts an election now (as an election timeout would). */
  campaign(): void {
    if (this.role !== 'leader') this.startElection(false);
  }

  /** The store made entries up to (index, term) durable. */
  persisted(index: number, term: number): void {
    if (!this.log.stableTo(index, term)) return;
    if (this.role === 'leader') this.maybeCommit();
  }

  appliedTo(index: number): void {
    this.log.appliedTo(index);
  }

  /** The transport could not deliver to `peer`: stop pipelining and probe again. */
  peerUnreachable(peer: NodeId): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(peer);
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  hasReady(): boolean {
    return (
      this.messages.length > 0 ||
      this.messagesAfterPersist.length > 0 ||
      this.broadcastPending ||
      this.dirtyPeers.size > 0 ||
      this.reads.hasOutput() ||
      this.configChanged ||
      this.snapshotToInstall !== undefined ||
      this.snapshotRequests.length > 0 ||
      this.log.applying < this.log.committed ||
      this.log.hasUnpersisted() ||
      this.term !== this.lastHard.term ||
      this.vote !== this.lastHard.vote ||
      this.storableCommit() > this.lastHard.commit ||
      this.role !== this.lastSoft.role ||
      this.leader !== this.lastSoft.leader
    );
  }

  /** The commit index as storage may record it: never past the last entry it will hold. */
  private storableCommit(): number {
    return Math.min(this.log.committed, this.log.lastIndex());
  }

  ready(): Ready {
    if (this.role === 'leader') {
      this.flushAppends();
      this.reads.flushRound(this);
    }
    const entries = this.log.takeUnpersisted();
    let hardState: HardState | undefined;
    let messages = this.messages;
    let messagesAfterPersist = this.messagesAfterPersist;
    const commit = this.storableCommit();
    if (this.term !== this.lastHard.term || this.vote !== this.lastHard.vote) {
      // Everything sent from here on speaks for the new term or vote: durable first.
      hardState = { term: this.term, vote: this.vote, commit };
      this.lastHard = hardState;
      messagesAfterPersist = messages.length === 0 ? messagesAfterPersist : messages.concat(messagesAfterPersist);
      messages = [];
    } else if (commit > this.lastHard.commit) {
      // Only the commit index moved. Nothing waits on it (it is a lower bound a restart replays
      // up to), so storage may record it without a sync of its own; messages go out at once.
      hardState = { term: this.term, vote: this.vote, commit };
      this.lastHard = hardState;
    }
    let softState: SoftState | undefined;
    if (this.role !== this.lastSoft.role || this.leader !== this.lastSoft.leader || this.term !== this.lastSoft.term) {
      softState = this.softState();
      this.lastSoft = softState;
    }
    this.messages = [];
    this.messagesAfterPersist = [];
    const { states, failures } = this.reads.take();
    const snapshot = this.snapshotToInstall;
    this.snapshotToInstall = undefined;
    const snapshotRequests = this.snapshotRequests;
    if (snapshotRequests.length > 0) this.snapshotRequests = [];
    const config = this.configChanged ? this.config : undefined;
    this.configChanged = false;
    return {
      snapshot,
      snapshotRequests,
      config,
      softState,
      hardState,
      entries,
      messages,
      messagesAfterPersist,
      committed: this.log.takeCommitted(this.options.maxApplyBytes),
      readStates: states,
      readFailures: failures,
    };
  }

  status(): RaftStatus {
    const progress = [...this.progress].map(([id, pr]) => ({
      id,
      match: pr.match,
      next: pr.next,
      state: pr.state,
      inflight: pr.inflights.length,
    }));
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      lastIndex: this.log.lastIndex(),
      persistedIndex: this.log.persisted,
      config: this.config,
      snapshotIndex: this.log.snapshotPoint().index,
      firstIndex: this.log.firstIndex(),
      transferTarget: this.transferTarget,
      progress,
    };
  }

  // ---------------------------------------------------------------- what ReadTracker needs

  /** A leader may serve reads only once an entry of its own term is committed (thesis §6.4). */
  committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** True if `acked` (the members that confirmed a round) holds a quorum. */
  quorumOf(acked: (id: NodeId) => boolean): boolean {
    return quorumActive(this.config, (id) => id === this.id || acked(id));
  }

  send(message: Message): void {
    this.messages.push(message);
  }

  /** Broadcasts a heartbeat round; returns its context (sequence number). */
  broadcastHeartbeat(): number {
    const context = this.reads.nextHeartbeatContext(this.ticks);
    for (const [id, pr] of this.progress) {
      this.send({
        type: MessageType.Heartbeat,
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed),
        context,
      });
    }
    return context;
  }

  // ---------------------------------------------------------------- roles

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }

  private reset(term: number): void {
    invariant(term >= this.term, () => `term went backwards: ${this.term} -> ${term}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    this.leader = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.options.electionTicks + this.random.int(0, this.options.electionTicks);
    this.transferTarget = '';
    this.votes.clear();
    this.progress.clear();
    this.dirtyPeers.clear();
    this.broadcastPending = false;
    this.uncommittedBytes = 0;
    this.uncommittedBatches.length = 0;
    for (const rejection of this.reads.reset(term)) this.send(rejection);
  }

  private becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'leader', 'a leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote: losing it leaves no trace.
    this.votes.clear();
    this.leader = '';
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    invariant(this.role !== 'leader', 'a leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    invariant(this.role === 'candidate', () => `only a candidate can become leader (was ${this.role})`);
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    const next = this.log.lastIndex() + 1;
    this.syncProgress();
    // An entry of the new term lets the leader commit everything before it (Figure 8). No config
    // change until it commits: a change proposed earlier may still be uncommitted in our log.
    this.appendAsLeader([{ index: next, term: this.term, type: EntryType.Noop, data: new Uint8Array(0) }], 0);
    this.pendingConfigIndex = next;
  }

  /** The leader tracks every member of the configuration in force, and nobody else. */
  private syncProgress(): void {
    const members = allMembers(this.config);
    const next = this.log.lastIndex() + 1;
    for (const id of members) {
      if (id === this.id || this.progress.has(id)) continue;
      const pr = new Progress(next, this.options.maxInflightMessages, this.options.maxInflightBytes);
      pr.recentActive = true;
      pr.lastResponseTick = this.ticks;
      this.progress.set(id, pr);
      this.dirtyPeers.add(id);
    }
    if (this.progress.size + 1 > members.length) {
      const keep = new Set(members);
      for (const id of this.progress.keys()) {
        if (!keep.has(id)) {
          this.progress.delete(id);
          this.dirtyPeers.delete(id);
        }
      }
    }
  }

  private setConfig(config: ConfigState): void {
    if (config === this.config) return;
    this.config = config;
    this.configChanged = true;
    if (this.role === 'leader') {
      this.syncProgress();
      if (this.transferTarget !== '' && !isVoter(config, this.transferTarget)) this.transferTarget = '';
    }
  }

  private lastConfigIndex(): number {
    return this.configs[this.configs.length - 1]!.index;
  }

  /** Reads the Config entries the log holds from `from` on (at start: the log is the truth). */
  private scanConfigs(store: LogReader, from: number): void {
    const last = store.lastIndex();
    let lo = Math.max(from, store.firstIndex());
    while (lo <= last) {
      const batch = store.entries(lo, last + 1, 4 * 1024 * 1024);
      for (const entry of batch) {
        if (entry.type === EntryType.Config) this.trackConfig(entry);
      }
      lo += batch.length;
    }
  }

  /**
   * Entries from `first` on were appended (replacing any suffix from there): drop the configs of
   * replaced entries, take those of new Config entries, and put the latest in force.
   */
  private trackConfigs(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    let changed = false;
    while (this.configs.length > 1 && this.configs[this.configs.length - 1]!.index >= first) {
      this.configs.pop();
      changed = true;
    }
    for (const entry of entries) {
      if (entry.type !== EntryType.Config) continue;
      this.trackConfig(entry);
      changed = true;
    }
    if (changed) this.setConfig(this.configs[this.configs.length - 1]!.config);
  }

  /** The Config entry next in the log. */
  private trackConfig(entry: Entry): void {
    const config = decodeConfig(entry.data);
    const previous = this.configs[this.configs.length - 1]!;
    // Joint consensus: two configurations next to each other in a log always share a quorum.
    invariant(!quorumsCanBeDisjoint(previous.config, config), () => `configuration at ${entry.index} (${describeConfig(config)}) can have a quorum disjoint from the one before it at ${previous.index} (${describeConfig(previous.config)})`);
    this.configs.push({ index: entry.index, config });
  }

  private appendConfig(config: ConfigState): { index: number; term: number } {
    const index = this.log.lastIndex() + 1;
    this.appendAsLeader([{ index, term: this.term, type: EntryType.Config, data: encodeConfig(config) }], 0);
    this.pendingConfigIndex = index;
    return { index, term: this.term };
  }

  /**
   * After a commit: a committed joint configuration is left at once, and a leader that the
   * committed configuration no longer counts as a voter hands over and steps down.
   */
  private afterCommit(): void {
    if (this.role !== 'leader' || this.lastConfigIndex() > this.log.committed || this.pendingConfigIndex > this.log.committed) return;
    if (isJoint(this.config)) {
      this.appendConfig(leaveJoint(this.config));
      return;
    }
    if (!isVoter(this.config, this.id)) this.stepDownRemoved();
  }

  /** This leader is no longer a voter: let the most up-to-date voter take over at once. */
  private stepDownRemoved(): void {
    let best: NodeId = '';
    let bestMatch = -1;
    for (const id of this.config.voters) {
      const match = this.progress.get(id)?.match ?? -1;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    if (best !== '' && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
    this.becomeFollower(this.term, '');
  }

  private promotable(): boolean {
    return isVoter(this.config, this.id);
  }

  private startElection(transfer: boolean): void {
    if (!this.promotable()) return;
    const pre = this.options.preVote && !transfer;
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    const electionTerm = pre ? this.term + 1 : this.term;
    if (this.recordVote(this.id, true) === 'won') {
      if (pre) this.startElection(true);
      else this.becomeLeader();
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    const type = pre ? MessageType.PreVote : MessageType.Vote;
    for (const id of new Set([...this.config.voters, ...this.config.outgoingVoters])) {
      if (id === this.id) continue;
      this.send({ type, from: this.id, to: id, term: electionTerm, lastLogIndex, lastLogTerm, transfer });
    }
  }

  private recordVote(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteOutcome(this.config, this.votes);
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.options.electionTicks) {
      this.electionElapsed = 0;
      if (this.options.checkQuorum) {
        const active = this.quorumOf((id) => this.progress.get(id)?.recentActive === true);
        if (!active) {
          this.becomeFollower(this.term, '');
          return;
        }
        for (const pr of this.progress.values()) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.transferTarget = '';
    }
    for (const [id, pr] of this.progress) {
      if (pr.state === 'replicate' && pr.inflights.length > 0 && this.ticks - pr.lastResponseTick >= this.options.rpcTimeoutTicks) {
        // Appends into silence: stop pipelining until the follower answers again.
        pr.becomeProbe();
        this.dirtyPeers.add(id);
      }
    }
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private leaseValid(): boolean {
    if (!this.options.leaseRead || this.transferTarget !== '') return false;
    const start = this.reads.leaseStart(this);
    return start !== undefined && this.ticks < start + this.options.electionTicks - 1 - this.options.leaseDriftTicks;
  }

  // ---------------------------------------------------------------- message handling

  /** The term rules every message passes first. Returns false if the message is done with. */
  private checkTerm(m: Message): boolean {
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const inLease =
          this.options.checkQuorum && this.leader !== '' && this.electionElapsed < this.options.electionTicks;
        // While we hear from a leader, a vote request is a disruption (a rejoining node), not an election.
        if (inLease && !m.transfer) return false;
      }
      if (m.type === MessageType.PreVote) return true;
      if (m.type === MessageType.PreVoteResponse && !m.reject) return true;
      const fromLeader =
        m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
      this.becomeFollower(m.term, fromLeader ? m.from : '');
      return true;
    }
    if (m.term < this.term) {
      if ((this.options.checkQuorum || this.options.preVote) && (m.type === MessageType.Append || m.type === MessageType.Heartbeat)) {
        // A stale leader learns our term from this answer and steps down.
        this.send({
          type: MessageType.AppendResponse,
          from: this.id,
          to: m.from,
          term: this.term,
          index: 0,
          reject: true,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResponse, from: this.id, to: m.from, term: this.term, reject: true });
      }
      return false;
    }
    return true;
  }

  private onVoteRequest(m: VoteMessage): void {
    const pre = m.type === MessageType.PreVote;
    const canVote =
      this.vote === m.from || (this.vote === '' && this.leader === '') || (pre && m.term > this.term);
    const granted = canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    const type = pre ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    const response: VoteResponseMessage = {
      type,
      from: this.id,
      to: m.from,
      term: granted ? m.term : this.term,
      reject: !granted,
    };
    if (granted && !pre) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
    // A granted vote is a promise: it leaves only once durable.
    if (pre) this.send(response);
    else this.messagesAfterPersist.push(response);
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.onAppend(m);
        break;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.send({ type: MessageType.HeartbeatResponse, from: this.id, to: m.from, term: this.term, context: m.context });
        break;
      case MessageType.TimeoutNow:
        this.startElection(true);
        break;
      case MessageType.Snapshot:
        // The runtime streams the chunks; to the protocol a chunk is word from the leader.
        this.electionElapsed = 0;
        this.leader = m.from;
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        // Someone won this term: follow them.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case MessageType.PreVoteResponse:
      case MessageType.VoteResponse: {
        const mine = (m.type === MessageType.PreVoteResponse) === (this.role === 'pre-candidate');
        if (!mine) break;
        const outcome = this.recordVote(m.from, !m.reject);
        if (outcome === 'won') {
          if (this.role === 'pre-candidate') this.startElection(true);
          else this.becomeLeader();
        } else if (outcome === 'lost') {
          this.becomeFollower(this.term, '');
        }
        break;
      }
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.AppendResponse:
        this.onAppendResponse(m);
        break;
      case MessageType.HeartbeatResponse:
        this.onHeartbeatResponse(m);
        break;
      default:
        // Another leader in our term cannot exist; anything else is not for a leader. Ignore.
        break;
    }
  }

  private onAppend(m: AppendMessage): void {
    const log = this.log;
    if (m.prevIndex < log.committed) {
      this.messagesAfterPersist.push(this.appendAccept(m.from, log.committed));
      return;
    }
    if (!log.matchTerm(m.prevIndex, m.prevTerm)) {
      const hintIndex = log.findConflictByTerm(Math.min(m.prevIndex, log.lastIndex()), m.prevTerm);
      this.send({
        type: MessageType.AppendResponse,
        from: this.id,
        to: m.from,
        term: this.term,
        index: m.prevIndex,
        reject: true,
        hintIndex,
        hintTerm: log.term(hintIndex) ?? 0,
      });
      return;
    }
    const entries = m.entries;
    const lastNew = m.prevIndex + entries.length;
    // Skip the entries we already hold; replace from the first that conflicts.
    let start = 0;
    while (start < entries.length) {
      const entry = entries[start]!;
      invariant(entry.index === m.prevIndex + 1 + start, 'append entries are not consecutive');
      if (log.term(entry.index) !== entry.term) break;
      start++;
    }
    if (start < entries.length) {
      invariant(entries[start]!.index > log.committed, () => `leader ${m.from} conflicts with committed entry ${entries[start]!.index}`);
      const appended = start === 0 ? entries : entries.slice(start);
      log.append(appended);
      this.trackConfigs(appended);
    }
    log.commitTo(Math.min(m.commit, lastNew));
    this.messagesAfterPersist.push(this.appendAccept(m.from, lastNew));
  }

  private appendAccept(to: NodeId, index: number): AppendResponseMessage {
    return { type: MessageType.AppendResponse, from: this.id, to, term: this.term, index, reject: false, hintIndex: 0, hintTerm: 0 };
  }

  private onAppendResponse(m: AppendResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.lastResponseTick = this.ticks;
    if (m.reject) {
      const probeNext = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex;
      if (pr.maybeDecreaseTo(m.index, probeNext)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.dirtyPeers.add(m.from);
      }
      return;
    }
    if (m.index > this.log.lastIndex()) return; // not an answer to anything we sent
    if (pr.maybeUpdate(m.index)) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot') {
        if (pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
      } else pr.inflights.freeLE(m.index);
      this.maybeCommit();
      this.dirtyPeers.add(m.from);
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (m.from === this.transferTarget && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private onHeartbeatResponse(m: HeartbeatResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.lastResponseTick = this.ticks;
    pr.probeSent = false;
    // The follower is alive but the window is full: messages were probably lost (a crash, a
    // partition). Let one more append out; if the follower lacks what it needs, it rejects and
    // we fall back to probing. Without this the window stays full forever.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.log.lastIndex()) {
      // It lags although everything was sent: what was sent may be lost. An append at next - 1
      // either gets acknowledged or rejected, and a rejection puts it back into probing.
      pr.probeWanted = true;
      this.dirtyPeers.add(m.from);
    } else if (pr.sentCommit < this.log.committed) {
      this.dirtyPeers.add(m.from);
    }
    this.reads.acknowledge(this, m.from, m.context);
  }

  private onReadIndexRequest(from: NodeId, requestId: number): void {
    if (this.role !== 'leader') {
      this.send({ type: MessageType.ReadIndexResponse, from: this.id, to: from, term: this.term, requestId, index: 0, reject: true });
      return;
    }
    this.reads.request(this, requestId, from, false);
  }

  private onReadIndexResponse(m: ReadIndexResponseMessage): void {
    this.reads.forwardedAnswer(m.requestId, m.from, m.reject ? undefined : m.index);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: MessageType.TimeoutNow, from: this.id, to, term: this.term });
  }

  // ---------------------------------------------------------------- replication

  private appendAsLeader(entries: Entry[], bytes: number): void {
    invariant(this.role === 'leader', 'only a leader appends its own entries');
    const first = entries[0]!;
    invariant(first.index === this.log.lastIndex() + 1, 'a leader never overwrites its log');
    this.log.append(entries);
    if (first.type === EntryType.Config) this.trackConfigs(entries);
    if (bytes > 0) {
      this.uncommittedBytes += bytes;
      this.uncommittedBatches.push(entries[entries.length - 1]!.index, bytes);
    }
    this.broadcastPending = true;
    // A cluster of one commits as soon as its own write is durable (see persisted()).
  }

  private matchOf = (id: NodeId): number => (id === this.id ? this.log.persisted : (this.progress.get(id)?.match ?? 0));

  private maybeCommit(): void {
    const index = committedIndex(this.config, this.matchOf);
    // Figure 8: count replicas only for entries of our own term.
    if (index <= this.log.committed || this.log.term(index) !== this.term) return;
    this.log.commitTo(index);
    // One splice for all the batches now committed: a splice per batch moved the rest of the
    // array each time, quadratic in the proposals in flight (one batch per propose()).
    const batches = this.uncommittedBatches;
    let done = 0;
    while (done < batches.length && batches[done]! <= index) {
      this.uncommittedBytes -= batches[done + 1]!;
      done += 2;
    }
    if (done > 0) batches.splice(0, done);
    this.broadcastPending = true;
    this.reads.onCommit(this);
    this.afterCommit();
  }

  /** Sends what each follower can take now: new entries within its window, or a new commit index. */
  private flushAppends(): void {
    const peers = this.broadcastPending ? this.progress.keys() : this.dirtyPeers.values();
    for (const id of peers) {
      const pr = this.progress.get(id);
      if (pr) this.sendAppends(id, pr);
    }
    this.broadcastPending = false;
    this.dirtyPeers.clear();
  }

  private sendAppends(to: NodeId, pr: Progress): void {
    const last = this.log.lastIndex();
    let sent = false;
    while (!pr.paused() && pr.next <= last) {
      this.sendAppend(to, pr, last);
      sent = true;
      if (pr.state === 'probe') break;
    }
    if (!sent && (pr.probeWanted || pr.sentCommit < this.log.committed) && !pr.paused()) {
      // Nothing new to send, but the follower lags or does not know the commit index yet.
      this.sendAppend(to, pr, last);
    }
    pr.probeWanted = false;
  }

  private sendAppend(to: NodeId, pr: Progress, last: number): void {
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      // The follower needs entries this log no longer holds.
      const snapshot = this.log.snapshotPoint().index;
      invariant(snapshot >= this.log.firstIndex() - 1, () => `log compacted to ${this.log.firstIndex()} beyond the snapshot at ${snapshot}`);
      pr.becomeSnapshot(snapshot);
      this.snapshotRequests.push({ to, index: snapshot });
      return;
    }
    const entries = pr.next <= last ? this.log.slice(pr.next, last + 1, this.options.maxAppendBytes) : [];
    invariant(pr.next > last || entries.length > 0, () => `no entries from ${pr.next} though the log ends at ${last}`);
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.byteLength;
    const commit = this.log.committed;
    this.send({ type: MessageType.Append, from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit });
    pr.sentEntries(prevIndex + entries.length, bytes, entries.length);
    pr.sentCommit = commit;
  }
}
