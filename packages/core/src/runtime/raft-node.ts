import {
  BusyError,
  ClosedError,
  ConfigError,
  FlotillaError,
  LeadershipLostError,
  NotLeaderError,
  TimeoutError,
  TransferInProgressError,
} from '../errors.js';
import { Raft, type RaftStatus, type Ready, type Role, type SoftState } from '../raft/raft.js';
import type { RaftOptions } from '../raft/options.js';
import { autoPromoteOf, EMPTY_CONFIG, isJoint, MembershipError } from '../raft/config.js';
import { isVoter } from '../raft/quorum.js';
import type { ReadFailure } from '../raft/reads.js';
import type { Command, StateMachine } from '../state-machine.js';
import type { LogStore, SnapshotStore } from '../storage.js';
import type { MessageReceiver, Transport } from '../transport.js';
import {
  EntryType,
  MessageType,
  ProposeError,
  type ConfigState,
  type Entry,
  type Message,
  type NodeId,
  type SnapshotMeta,
  type ProposeMessage,
  type ProposeResponseMessage,
} from '../types.js';
import { DeadlineWheel, keysWithin } from './deadlines.js';
import { PendingProposals } from './pending-proposals.js';
import { firstRequestId } from './request-ids.js';
import { TypedEmitter } from './events.js';
import { resolveTuning, type RaftNodeTuning } from './options.js';
import { realScheduler, type Scheduler } from './scheduler.js';
import { SnapshotReceiver, SnapshotSender, snapshotChunks, type SnapshotProgress, type TransferLimits } from './snapshot-transfer.js';

export interface RaftNodeOptions<Result> extends Partial<RaftNodeTuning> {
  readonly id: NodeId;
  /**
   * The voters of a new cluster, by id (a record maps ids to addresses; only the ids matter here).
   * Used only while neither the log nor a snapshot holds a configuration; ignored with `join`.
   */
  readonly members?: readonly NodeId[] | Readonly<Record<NodeId, string>>;
  /**
   * Start as a node joining an existing cluster: with no configuration of its own, it neither
   * campaigns nor votes until the leader adds it (as a learner) and replicates the configuration.
   */
  readonly join?: boolean;
  /**
   * Where snapshots are kept. Without one the node never snapshots or compacts its log. Pair
   * durable storage with a durable store (FileSnapshotStore), MemoryStorage with MemorySnapshotStore.
   */
  readonly snapshotStore?: SnapshotStore;
  readonly stateMachine: StateMachine<Result>;
  /** The node owns it from here on and closes it on close(). */
  readonly storage: LogStore;
  /** The node owns it from here on and closes it on close(). */
  readonly transport: Transport;
  /** Seed of randomized election timeouts (default: from the id and the clock). */
  readonly seed?: number;
  /** Time source; the simulator passes a virtual one. */
  readonly scheduler?: Scheduler;
  /**
   * Forward proposals made on a follower to the leader over the peer connection (default false:
   * they fail fast with NotLeaderError naming the leader). Each call can override it.
   */
  readonly forwardProposals?: boolean;
  /** Encodes state-machine results for forwarded proposals (default: JSON; bytes pass through). */
  readonly resultCodec?: ResultCodec<Result>;
}

/** How a state-machine result crosses the wire when a proposal was forwarded. */
export interface ResultCodec<Result> {
  encode(result: Result): Uint8Array;
  decode(bytes: Uint8Array): Result;
}

/** JSON for plain values; Uint8Array results pass through unchanged. */
export const defaultResultCodec: ResultCodec<unknown> = {
  encode(result) {
    if (result instanceof Uint8Array) return concatTag(1, result);
    if (result === undefined) return new Uint8Array(0);
    return concatTag(0, new TextEncoder().encode(JSON.stringify(result)));
  },
  decode(bytes) {
    if (bytes.byteLength === 0) return undefined;
    const body = bytes.subarray(1);
    return bytes[0] === 1 ? body.slice() : JSON.parse(new TextDecoder().decode(body));
  },
};

function concatTag(tag: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.byteLength + 1);
  out[0] = tag;
  out.set(body, 1);
  return out;
}

export interface ProposeResult<Result> {
  readonly index: number;
  readonly term: number;
  readonly result: Result;
}

export interface ProposeOptions {
  /** Fail with TimeoutError (outcome unknown) after this long. Default: proposalTimeoutMs. */
  readonly timeoutMs?: number;
  /** On a follower, forward to the leader instead of failing (default: the node's forwardProposals). */
  readonly forward?: boolean;
}

export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

export interface ReadOptions {
  /** 'linearizable' (default): ReadIndex; 'lease': leader lease (needs leaseRead); 'stale': local state now. */
  readonly consistency?: ReadConsistency;
  readonly timeoutMs?: number;
}

export interface RaftNodeEvents {
  /** Role, leader or term changed. */
  stateChange: [SoftState];
  /** The known leader changed ('' when none is known). */
  leaderChange: [{ leader: NodeId; term: number }];
  /** Commands up to `index` were applied to the state machine. */
  applied: [index: number];
  /** The node hit an error it cannot continue from (storage failure, state machine error) and stopped. */
  error: [Error];
  /** The configuration in force changed (on append of a Config entry, not on its commit). */
  membershipChange: [ConfigState];
  /** A snapshot was taken here and the log compacted below it. */
  snapshot: [SnapshotMeta];
  /** The state was replaced by a snapshot from the leader. */
  snapshotRestored: [SnapshotMeta];
  /** Progress of a snapshot stream, on the sending or the receiving side. */
  snapshotTransfer: [SnapshotProgress];
  /** Something went wrong that the node recovers from by itself (a rejected snapshot, say). */
  warning: [Error];
}

export interface MembershipOptions {
  /** Fail with TimeoutError (outcome unknown) if the change has not committed by then (default: proposalTimeoutMs). */
  readonly timeoutMs?: number;
}

export interface NodeStatus extends RaftStatus {
  readonly closed: boolean;
}

type ApplyItem = readonly Entry[] | { readonly restore: SnapshotMeta };

interface PendingProposal<Result> {
  readonly term: number;
  readonly count: number;
  /** When it times out (scheduler clock). */
  readonly deadline: number;
  /** Results so far of a batch; undefined for a single proposal (resolved with its one result). */
  readonly results: Result[] | undefined;
  readonly resolve: (value: ProposeResult<Result> & ProposeResult<Result>[]) => void;
  readonly reject: (error: Error) => void;
}

/** A proposal forwarded to the leader, with what this node knew when it sent it. */
interface ForwardedProposal<Result> {
  readonly leader: NodeId;
  readonly term: number;
  readonly commit: number;
  /** When it times out (scheduler clock). */
  readonly deadline: number;
  readonly resolve: (r: ProposeResult<Result>) => void;
  readonly reject: (e: Error) => void;
}

interface PendingRead {
  index: number;
  /** When it times out (scheduler clock). */
  readonly deadline: number;
  readonly fn: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The runtime around the protocol core: owns the timers, hands each Ready to storage, transport and
 * state machine in the order the Ready contract requires, and resolves proposals and reads.
 * Everything that happens in one event-loop turn becomes one Ready: one write, one send per peer,
 * one apply batch.
 */
export class RaftNode<Result = unknown> extends TypedEmitter<RaftNodeEvents> {
  readonly id: NodeId;
  private raft!: Raft;
  private readonly raftOptions: RaftOptions;
  private readonly bootstrap: ConfigState;
  private readonly snapshotStore: SnapshotStore | undefined;
  private sender!: SnapshotSender;
  private receiver!: SnapshotReceiver;
  private readonly tuning: RaftNodeTuning;
  private readonly storage: LogStore;
  private readonly transport: Transport;
  private readonly stateMachine: StateMachine<Result>;
  private readonly scheduler: Scheduler;

  private scheduled = false;
  /** Whether this turn's Ready may still ask for a follow-up Ready from a microtask (processSoon). */
  private followUpAllowed = true;
  private closed = false;
  private failure: Error | undefined;
  private stopTicker: (() => void) | undefined;
  /** Ticks follow the monotonic clock, not the timer's firings: see catchUpTicks(). */
  private tickOrigin = 0;
  private ticksDone = 0;
  private maxCatchUpTicks = 0;
  private readonly outbox = new Map<NodeId, Message[]>();
  /** Settles after the latest write; acknowledgements wait on it. */
  private lastWrite: Promise<void> = Promise.resolve();
  private writesInFlight = 0;

  private readonly proposals = new PendingProposals<PendingProposal<Result>>();
  private readonly proposalDeadlines: DeadlineWheel;
  private pendingProposalCount = 0;
  private readonly reads = new Map<number, PendingRead>();
  private readonly readDeadlines: DeadlineWheel;
  /** Reads whose index is known, waiting for the state machine to reach it (sorted by index). */
  private readsWaitingApply: number[] = [];
  private nextReadId: number;
  private readonly forwardProposals: boolean;
  private readonly resultCodec: ResultCodec<Result>;
  /** Proposals this follower forwarded, by request id. */
  private readonly forwarded = new Map<number, ForwardedProposal<Result>>();
  private readonly forwardDeadlines: DeadlineWheel;
  private nextForwardId: number;

  private readonly applyQueue: ApplyItem[] = [];
  private lastSnapshotIndex = 0;
  private bytesSinceSnapshot = 0;
  private snapshotting: Promise<SnapshotMeta> | undefined;
  private snapshotWanted: { resolve: (meta: SnapshotMeta) => void; reject: (error: Error) => void }[] = [];
  /** Membership changes waiting to commit (resolved when no change is pending any more). */
  private membershipWaiters: { index: number; term: number; resolve: () => void; reject: (error: Error) => void; cancel: () => void }[] = [];
  private applyBusy = false;
  private applied = 0;
  private activeProposal: { first: number; pending: PendingProposal<Result> } | undefined;

  /** Opens the node: reads the storage, starts the transport and the timers. */
  static async start<Result>(options: RaftNodeOptions<Result>): Promise<RaftNode<Result>> {
    const node = new RaftNode(options);
    await node.recover();
    await node.transport.start(node.messageReceiver);
    node.startTicker();
    return node;
  }

  /**
   * Restores the state machine from the latest snapshot and makes the log continue from it, then
   * builds the protocol core over what storage holds.
   */
  private async recover(): Promise<void> {
    const initial = this.storage.initialState();
    const snapshot = this.snapshotStore?.latest();
    if (!snapshot && initial.snapshot && initial.snapshot.index > 0) {
      throw new FlotillaError(
        'NO_SNAPSHOT',
        `the log starts after a snapshot at index ${initial.snapshot.index} but no snapshot store holds it: pass the snapshotStore this node used`,
      );
    }
    if (snapshot) {
      if (!this.stateMachine.restore) throw new ConfigError('stateMachine', `has no restore() but the snapshot store holds a snapshot at ${snapshot.index}`);
      // A crash between installing a received snapshot and resetting the log leaves a log that
      // does not continue from it: the snapshot wins (it is committed state).
      if (this.storage.term(snapshot.index) !== snapshot.term) await this.storage.reset(snapshot);
      const reader = await this.snapshotStore!.open();
      if (!reader || reader.meta.index !== snapshot.index) throw new FlotillaError('NO_SNAPSHOT', `the snapshot at ${snapshot.index} could not be opened`);
      await this.stateMachine.restore(snapshotChunks(reader, this.tuning.snapshotChunkBytes));
      this.lastSnapshotIndex = snapshot.index;
    }
    this.raft = new Raft(this.raftOptions, this.storage, { hardState: initial.hardState, snapshot }, this.bootstrap);
    this.applied = this.raft.log.applied;
    const limits: TransferLimits = {
      chunkBytes: this.tuning.snapshotChunkBytes,
      windowChunks: this.tuning.snapshotWindowChunks,
      timeoutMs: this.tuning.snapshotTimeoutMs,
      maxRetries: 3,
    };
    const host = {
      id: this.id,
      term: () => this.raft.term,
      send: (message: Message) => {
        this.queueMessages([message]);
        this.schedule();
      },
      now: () => this.scheduler.now(),
      progress: (event: SnapshotProgress) => this.emit('snapshotTransfer', event),
    };
    this.sender = new SnapshotSender(
      this.snapshotStore,
      host,
      limits,
      (peer) => {
        if (this.closed) return;
        this.raft.snapshotFailed(peer);
        this.schedule();
      },
      (peer, index) => {
        if (this.closed) return;
        this.raft.snapshotSent(peer, index);
        this.schedule();
      },
    );
    this.receiver = new SnapshotReceiver(
      this.snapshotStore,
      host,
      limits,
      (leader, meta) => {
        if (this.closed) return;
        try {
          this.raft.installSnapshot(leader, meta);
        } catch (error) {
          this.fail(error as Error);
          return;
        }
        this.schedule();
      },
      (error) => this.emit('warning', error),
    );
  }

  private constructor(options: RaftNodeOptions<Result>) {
    super();
    if (typeof options.id !== 'string' || options.id === '') throw new ConfigError('id', 'must be a non-empty string');
    const members = Array.isArray(options.members) ? [...options.members] : Object.keys(options.members ?? {});
    if (members.length === 0 && !options.join) throw new ConfigError('members', 'must name at least one voter (or set join to join an existing cluster)');
    if (new Set(members).size !== members.length) throw new ConfigError('members', 'names a member twice');
    this.bootstrap = options.join ? EMPTY_CONFIG : { voters: members, learners: [], outgoingVoters: [] };
    this.snapshotStore = options.snapshotStore;
    if (!options.stateMachine || typeof options.stateMachine.apply !== 'function') {
      throw new ConfigError('stateMachine', 'must have an apply(commands) method');
    }
    if (!options.storage) throw new ConfigError('storage', 'is required (use MemoryStorage for a volatile node)');
    if (!options.transport) throw new ConfigError('transport', 'is required');
    const tuningInput: Partial<RaftNodeTuning> = {};
    for (const key of Object.keys(options) as (keyof RaftNodeOptions<Result>)[]) {
      if (['id', 'members', 'join', 'snapshotStore', 'stateMachine', 'storage', 'transport', 'seed', 'scheduler', 'forwardProposals', 'resultCodec'].includes(key)) continue;
      if (options[key] === undefined) continue; // an explicit undefined means "the default
      (tuningInput as Record<string, unknown>)[key] = options[key];
    }
    this.scheduler = options.scheduler ?? realScheduler;
    const seed = options.seed ?? (Math.floor(this.scheduler.now() * 1000) ^ hash(options.id)) >>> 0;
    const { tuning, raft } = resolveTuning(options.id, seed, tuningInput);
    this.id = options.id;
    this.tuning = tuning;
    this.storage = options.storage;
    this.transport = options.transport;
    this.stateMachine = options.stateMachine;
    this.raftOptions = raft;
    this.proposalDeadlines = new DeadlineWheel(tuning.heartbeatIntervalMs);
    this.forwardDeadlines = new DeadlineWheel(tuning.heartbeatIntervalMs);
    this.forwardProposals = options.forwardProposals ?? false;
    this.resultCodec = options.resultCodec ?? (defaultResultCodec as ResultCodec<Result>);
    this.readDeadlines = new DeadlineWheel(tuning.heartbeatIntervalMs);
    this.nextReadId = this.nextForwardId = firstRequestId(options.seed);
  }

  // ------------------------------------------------------------------ public API

  /**
   * Replicates one command and resolves with its index, term and the state machine's result once
   * it is applied here. Fails with NotLeaderError (carrying the leader), BusyError, TimeoutError
   * (outcome unknown), LeadershipLostError (definitely not applied) or ClosedError.
   */
  propose(command: Uint8Array, options?: ProposeOptions): Promise<ProposeResult<Result>> {
    if (this.raft.role !== 'leader' && (options?.forward ?? this.forwardProposals)) return this.forward(command, options);
    return this.appendProposal([command], options, false) as Promise<ProposeResult<Result>>;
  }

  private forward(command: Uint8Array, options: ProposeOptions | undefined): Promise<ProposeResult<Result>> {
    const refusal = this.refuseProposal([command], options);
    if (refusal) return Promise.reject(refusal);
    const leader = this.raft.leader;
    if (leader === '') return Promise.reject(this.notLeader());
    const requestId = this.nextForwardId++;
    return new Promise((resolve, reject) => {
      const deadline = this.scheduler.now() + (options?.timeoutMs ?? this.tuning.proposalTimeoutMs);
      this.forwarded.set(requestId, { leader, term: this.raft.term, commit: this.raft.log.committed, deadline, resolve, reject });
      this.pendingProposalCount++;
      this.forwardDeadlines.add(deadline, requestId);
      this.queueMessages([{ type: MessageType.Propose, from: this.id, to: leader, term: this.raft.term, requestId, data: command }]);
      this.schedule();
    });
  }

  /** The leader's side of forwarding: propose on the follower's behalf and send the outcome back. */
  private onForwardedProposal(m: ProposeMessage): void {
    const respond = (fields: Partial<ProposeResponseMessage>): void => {
      this.queueMessages([{
        type: MessageType.ProposeResponse, from: this.id, to: m.from, term: this.raft.term, requestId: m.requestId,
        error: ProposeError.None, index: 0, entryTerm: 0, leaderHint: this.raft.leader, result: EMPTY_BYTES, ...fields,
      }]);
      this.schedule();
    };
    this.proposeBatch([m.data]).then(
      ([r]) => {
        let result: Uint8Array;
        try {
          result = this.resultCodec.encode(r!.result);
        } catch {
          result = EMPTY_BYTES;
        }
        respond({ index: r!.index, entryTerm: r!.term, result });
      },
      (error: unknown) => respond({ error: proposeErrorOf(error) }),
    );
  }

  /** The follower's side: the leader answered a forwarded proposal. */
  private onForwardedResult(m: ProposeResponseMessage): void {
    const pending = this.forwarded.get(m.requestId);
    if (!pending) return;
    // Our entry was appended after the request reached the leader, so in a term no lower than
    // ours then and above the commit index we knew: an answer that says otherwise is not for
    // this proposal (request ids are unique per start; this is the second line of defence).
    if (m.error === ProposeError.None && (m.entryTerm < pending.term || m.index <= pending.commit)) return;
    this.forwarded.delete(m.requestId);
    this.pendingProposalCount--;
    switch (m.error) {
      case ProposeError.None: {
        let result: Result;
        try {
          result = this.resultCodec.decode(m.result);
        } catch (error) {
          pending.reject(new FlotillaError('BAD_RESULT', `the forwarded proposal committed at ${m.index} but its result could not be decoded: ${(error as Error).message}`));
          return;
        }
        pending.resolve({ index: m.index, term: m.entryTerm, result });
        return;
      }
      case ProposeError.NotLeader:
        pending.reject(this.notLeader(m.leaderHint));
        return;
      case ProposeError.Busy:
        pending.reject(new BusyError(`the leader ${m.from} is busy`));
        return;
      case ProposeError.TooLarge:
        pending.reject(new RangeError('the leader refused the command as too large'));
        return;
      default:
        pending.reject(new TimeoutError(`the forwarded proposal's outcome is unknown (leader ${m.from})`, true));
    }
  }

  /** Replicates several commands as consecutive entries, with one promise for all. */
  proposeBatch(commands: readonly Uint8Array[], options?: ProposeOptions): Promise<ProposeResult<Result>[]> {
    return this.appendProposal(commands, options, true) as Promise<ProposeResult<Result>[]>;
  }

  private appendProposal(
    commands: readonly Uint8Array[],
    options: ProposeOptions | undefined,
    batch: boolean,
  ): Promise<ProposeResult<Result> | ProposeResult<Result>[]> {
    const refusal = this.refuseProposal(commands, options);
    if (refusal) return Promise.reject(refusal);
    let first: { index: number; term: number };
    try {
      first = this.raft.propose(commands);
    } catch (error) {
      if (error instanceof NotLeaderError) return Promise.reject(this.notLeader());
      return Promise.reject(error as Error);
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      const deadline = this.scheduler.now() + (options?.timeoutMs ?? this.tuning.proposalTimeoutMs);
      const obsolete = this.proposals.add(first.index, { term: first.term, count: commands.length, deadline, results: batch ? [] : undefined, resolve, reject });
      if (obsolete.length > 0) this.rejectTruncated(obsolete, first.index);
      this.pendingProposalCount += commands.length;
      this.proposalDeadlines.add(deadline, first.index);
    });
  }

  /**
   * Runs `fn` against the local state machine at a point that reflects every write completed
   * before the call (linearizable), or now (stale).
   */
  read<T>(fn: () => T, options?: ReadOptions): Promise<T> {
    if (this.closed) return Promise.reject(this.failure ?? new ClosedError());
    const consistency = options?.consistency ?? 'linearizable';
    if (consistency === 'stale') {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    if (consistency !== 'linearizable' && consistency !== 'lease') {
      return Promise.reject(new TypeError(`consistency must be 'linearizable', 'lease' or 'stale', got ${String(consistency)}`));
    }
    if (consistency === 'lease' && !this.tuning.leaseRead) {
      return Promise.reject(new ConfigError('leaseRead', "must be enabled for consistency: 'lease'"));
    }
    const timeoutMs = options?.timeoutMs ?? this.tuning.readTimeoutMs;
    if (!(timeoutMs > 0)) return Promise.reject(new RangeError(`timeoutMs must be positive, got ${timeoutMs}`));
    const requestId = this.nextReadId++;
    return new Promise<T>((resolve, reject) => {
      const deadline = this.scheduler.now() + timeoutMs;
      this.reads.set(requestId, { index: -1, deadline, fn, resolve: resolve as (value: unknown) => void, reject });
      this.readDeadlines.add(deadline, requestId);
      if (consistency === 'lease') this.catchUpTicks();
      this.raft.readIndex(requestId, consistency === 'lease');
      this.schedule();
    });
  }

  /** Hands leadership to `target` and resolves once it leads (or rejects on timeout). */
  async transferLeadership(target: NodeId, options?: { timeoutMs?: number }): Promise<void> {
    if (this.closed) throw this.failure ?? new ClosedError();
    if (this.raft.role !== 'leader') throw this.notLeader();
    if (target === this.id) return; // already leads: nothing to wait for
    this.raft.transferLeadership(target);
    this.schedule();
    const timeoutMs = options?.timeoutMs ?? this.tuning.electionTimeoutMs * 2;
    await new Promise<void>((resolve, reject) => {
      const done = (state: SoftState): void => {
        if (state.leader !== target) return;
        cancel();
        this.off('stateChange', done);
        resolve();
      };
      const cancel = this.scheduler.after(timeoutMs, () => {
        this.off('stateChange', done);
        reject(new TimeoutError(`leadership did not move to ${target} within ${timeoutMs} ms`, false));
      });
      this.on('stateChange', done);
    });
  }

  // ------------------------------------------------------------------ membership

  /**
   * The configuration in force: voters, learners, the outgoing voters while a change is joint, and
   * the learners to promote once caught up.
   */
  members(): ConfigState {
    return this.raft.config;
  }

  /**
   * Replaces the voters (and learners) in one request, by joint consensus: resolves once the new
   * configuration has committed. Learners default to the current ones that are not made voters;
   * `autoPromote` (learners to promote once caught up) defaults to those of the current ones that
   * stay learners. Throws NotLeaderError on a follower, MembershipError while another change is in
   * flight or for an invalid target, TimeoutError (outcome unknown).
   */
  changeMembership(target: { voters: readonly NodeId[]; learners?: readonly NodeId[]; autoPromote?: readonly NodeId[] }, options?: MembershipOptions): Promise<void> {
    const voters = [...(target?.voters ?? [])];
    const learners = [...(target?.learners ?? this.raft.config.learners.filter((id) => !voters.includes(id)))];
    const autoPromote = [...(target?.autoPromote ?? autoPromoteOf(this.raft.config).filter((id) => learners.includes(id)))];
    return this.submitConfig(voters, learners, autoPromote, options);
  }

  /**
   * Adds a learner: it receives the log (and snapshots) but neither votes nor counts for commit.
   * With `promote`, the configuration marks it to be made a voter once it is within
   * learnerPromotionLag entries of the leader's log: whichever node leads then does it, so the
   * request outlives this leader. Asking again with `promote` for a learner already added marks it.
   */
  async addLearner(id: NodeId, options?: MembershipOptions & { promote?: boolean }): Promise<void> {
    checkNodeId(id);
    const config = this.raft.config;
    if (isVoter(config, id)) throw new MembershipError('BAD_MEMBERSHIP', `${id} is already a voter`);
    const learners = config.learners.includes(id) ? config.learners : [...config.learners, id];
    const current = autoPromoteOf(config);
    const autoPromote = options?.promote && !current.includes(id) ? [...current, id] : current;
    await this.submitConfig(config.voters, learners, autoPromote, options);
  }

  /** Makes learner `id` a voter. */
  promote(id: NodeId, options?: MembershipOptions): Promise<void> {
    checkNodeId(id);
    const config = this.raft.config;
    if (config.voters.includes(id)) return Promise.resolve();
    if (!config.learners.includes(id)) return Promise.reject(new MembershipError('BAD_MEMBERSHIP', `${id} is not a learner: add it with addLearner first`));
    return this.submitConfig([...config.voters, id], without(config.learners, id), without(autoPromoteOf(config), id), options);
  }

  /**
   * Removes a voter or learner. Removing the leader itself is allowed: it keeps leading until the
   * new configuration commits, then hands over and steps down.
   */
  removeMember(id: NodeId, options?: MembershipOptions): Promise<void> {
    checkNodeId(id);
    const config = this.raft.config;
    if (!config.voters.includes(id) && !config.learners.includes(id)) return Promise.resolve();
    return this.submitConfig(without(config.voters, id), without(config.learners, id), without(autoPromoteOf(config), id), options);
  }

  private submitConfig(voters: readonly NodeId[], learners: readonly NodeId[], autoPromote: readonly NodeId[], options: MembershipOptions | undefined): Promise<void> {
    if (this.closed) return Promise.reject(this.failure ?? new ClosedError());
    const timeoutMs = options?.timeoutMs ?? this.tuning.proposalTimeoutMs;
    if (!(typeof timeoutMs === 'number' && timeoutMs > 0)) return Promise.reject(new RangeError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`));
    let appended: { index: number; term: number } | undefined;
    try {
      appended = this.raft.changeConfig(voters, learners, autoPromote);
    } catch (error) {
      if (error instanceof NotLeaderError) return Promise.reject(this.notLeader());
      return Promise.reject(error as Error);
    }
    if (!appended) return Promise.resolve();
    this.schedule();
    const { index, term } = appended;
    return new Promise((resolve, reject) => {
      const cancel = this.scheduler.after(timeoutMs, () => {
        this.membershipWaiters = this.membershipWaiters.filter((w) => w !== waiter);
        reject(new TimeoutError(`the membership change at index ${index} did not complete in time; it may still commit`, true));
      });
      const waiter = { index, term, resolve, reject, cancel };
      this.membershipWaiters.push(waiter);
    });
  }

  /** Resolves membership changes whose entry (and, if joint, the leave entry) has committed. */
  private settleMembership(): void {
    if (this.membershipWaiters.length === 0) return;
    const status = this.raft.status();
    const done = !isJoint(status.config) && !this.raft.configChangePending();
    const keep: typeof this.membershipWaiters = [];
    for (const waiter of this.membershipWaiters) {
      const held = this.raft.log.term(waiter.index);
      if (status.commitIndex >= waiter.index && held !== undefined && held !== waiter.term) {
        waiter.cancel();
        waiter.reject(new LeadershipLostError(`the membership change at index ${waiter.index} was replaced by another leader's entry; it did not happen`));
      } else if (done && status.commitIndex >= waiter.index) {
        waiter.cancel();
        waiter.resolve();
      } else keep.push(waiter);
    }
    this.membershipWaiters = keep;
  }

  /** The leader promotes the learners the configuration marks for it once they are close enough. */
  private promoteCaughtUpLearners(): void {
    const marked = autoPromoteOf(this.raft.config);
    if (marked.length === 0 || this.raft.role !== 'leader' || this.raft.configChangePending()) return;
    const status = this.raft.status();
    if (status.transferTarget !== '') return; // no changes while leadership moves
    for (const id of marked) {
      const pr = status.progress.find((p) => p.id === id);
      if (!pr || status.lastIndex - pr.match > this.tuning.learnerPromotionLag) continue;
      this.promote(id).catch((error: unknown) => this.emit('warning', error as Error));
      return; // one change at a time
    }
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * Takes a snapshot of the state as of the last applied command now (not waiting for the
   * policy), then compacts the log below it. Resolves with its metadata.
   */
  snapshot(): Promise<SnapshotMeta> {
    if (this.closed) return Promise.reject(this.failure ?? new ClosedError());
    if (!this.snapshotStore) return Promise.reject(new ConfigError('snapshotStore', 'is required for snapshots'));
    if (!this.stateMachine.snapshot || !this.stateMachine.restore) {
      return Promise.reject(new ConfigError('stateMachine', 'must implement snapshot() and restore() for snapshots'));
    }
    return new Promise((resolve, reject) => {
      this.snapshotWanted.push({ resolve, reject });
      if (!this.applyBusy) this.maybeSnapshot();
    });
  }

  /** At a point where the state machine holds exactly `applied`: start a snapshot if one is due. */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.closed || !this.snapshotStore || !this.stateMachine.snapshot || !this.stateMachine.restore) return;
    const wanted = this.snapshotWanted.length > 0;
    const t = this.tuning;
    const due =
      (t.snapshotEntries > 0 && this.applied - this.lastSnapshotIndex >= t.snapshotEntries) ||
      (t.snapshotBytes > 0 && this.bytesSinceSnapshot >= t.snapshotBytes);
    if (!wanted && !due) return;
    const waiting = this.snapshotWanted;
    this.snapshotWanted = [];
    const index = this.applied;
    const latest = this.snapshotStore.latest();
    if (index <= this.lastSnapshotIndex && latest) {
      for (const w of waiting) w.resolve(latest);
      return;
    }
    const meta: SnapshotMeta = { index, term: this.raft.log.term(index) ?? 0, config: this.raft.configAt(index) };
    let source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
    try {
      // Called here, between applies, so it captures the state at `index` exactly.
      source = this.stateMachine.snapshot();
    } catch (error) {
      for (const w of waiting) w.reject(error as Error);
      this.emit('warning', new FlotillaError('SNAPSHOT', `state machine snapshot() failed: ${(error as Error)?.message}`, { cause: error }));
      return;
    }
    this.bytesSinceSnapshot = 0;
    const store = this.snapshotStore;
    const running = (async (): Promise<SnapshotMeta> => {
      const writer = await store.create(meta);
      try {
        for await (const chunk of source) {
          if (this.closed) throw new ClosedError('the node closed during a snapshot');
          await writer.write(chunk);
        }
        await writer.commit();
      } catch (error) {
        await writer.abort().catch(() => undefined);
        throw error;
      }
      if (this.closed) return meta;
      this.raft.snapshotTaken(meta.index, meta.term);
      if (meta.index > this.lastSnapshotIndex) this.lastSnapshotIndex = meta.index;
      const compactTo = Math.min(meta.index - this.tuning.snapshotKeepEntries, this.raft.log.persisted);
      if (compactTo >= this.storage.firstIndex()) {
        try {
          await this.storage.compact(compactTo);
        } catch (error) {
          this.fail(new FlotillaError('STORAGE', `log compaction failed: ${(error as Error)?.message}`, { cause: error }));
          throw error;
        }
      }
      this.emit('snapshot', meta);
      return meta;
    })();
    this.snapshotting = running;
    running.then(
      (done) => {
        this.snapshotting = undefined;
        for (const w of waiting) w.resolve(done);
        // Applies went on meanwhile: another snapshot may be due already.
        if (!this.applyBusy) this.maybeSnapshot();
      },
      (error: unknown) => {
        this.snapshotting = undefined;
        for (const w of waiting) w.reject(error as Error);
        if (!this.closed) this.emit('warning', new FlotillaError('SNAPSHOT', `snapshot at ${meta.index} failed: ${(error as Error)?.message}`, { cause: error }));
      },
    );
  }

  /** Starts an election now. */
  campaign(): void {
    this.raft.campaign();
    this.schedule();
  }

  get role(): Role {
    return this.raft.role;
  }

  get leaderId(): NodeId | undefined {
    return this.raft.leader || undefined;
  }

  get term(): number {
    return this.raft.term;
  }

  /** The term of the entry at `index` in this node's log, or undefined if it holds none there. */
  termAt(index: number): number | undefined {
    return this.raft.log.term(index);
  }

  status(): NodeStatus {
    // Applied and snapshot as the state machine has them (a restore may still be running).
    return { ...this.raft.status(), appliedIndex: this.applied, snapshotIndex: this.lastSnapshotIndex, closed: this.closed };
  }

  /** Stops timers, fails what is pending with ClosedError, closes transport and storage. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTicker?.();
    this.sender?.abortAll();
    this.receiver?.abort();
    this.failEverything(this.failure ?? new ClosedError('the node was closed'));
    await this.transport.close().catch(() => undefined);
    await this.lastWrite.catch(() => undefined);
    await this.storage.close().catch(() => undefined);
  }

  // ------------------------------------------------------------------ the loop

  private readonly messageReceiver: MessageReceiver = {
    receive: (messages) => {
      if (this.closed) return;
      for (const message of messages) {
        if (message.to !== this.id) continue;
        if (message.type === MessageType.Snapshot || message.type === MessageType.SnapshotResponse) {
          try {
            this.raft.step(message);
          } catch (error) {
            this.fail(error as Error);
            return;
          }
          const raft = this.raft;
          if (message.type === MessageType.Snapshot) {
            if (raft.role === 'follower' && raft.term === message.term && raft.leader === message.from) this.receiver.onChunk(message);
          } else if (raft.role === 'leader' && raft.term === message.term) {
            this.sender.onResponse(message);
          }
          continue;
        }
        if (message.type === MessageType.Propose) {
          this.onForwardedProposal(message);
          continue;
        }
        if (message.type === MessageType.ProposeResponse) {
          this.onForwardedResult(message);
          continue;
        }
        try {
          this.raft.step(message);
        } catch (error) {
          this.fail(error as Error);
          return;
        }
      }
      this.schedule();
    },
    peerUnreachable: (peer) => {
      if (this.closed) return;
      this.raft.peerUnreachable(peer);
    },
  };

  private startTicker(): void {
    this.tickOrigin = this.scheduler.now();
    this.maxCatchUpTicks = 2 * Math.floor(this.tuning.electionTimeoutMs / this.tuning.heartbeatIntervalMs) + 1;
    this.stopTicker = this.scheduler.every(this.tuning.heartbeatIntervalMs, () => this.onTick());
  }

  /**
   * Runs the ticks due by the monotonic clock. After a pause (SIGSTOP, a long GC, a blocked
   * event loop) a timer fires once, not once per missed interval; counting firings would let a
   * paused leader wake up believing its lease still holds. Catching up (bounded: enough to expire
   * every election and lease timer) makes it step down or re-confirm first.
   */
  private catchUpTicks(): void {
    const due = Math.floor((this.scheduler.now() - this.tickOrigin) / this.tuning.heartbeatIntervalMs);
    let missing = due - this.ticksDone;
    if (missing > this.maxCatchUpTicks) {
      this.ticksDone += missing - this.maxCatchUpTicks;
      missing = this.maxCatchUpTicks;
    }
    for (; missing > 0; missing--) {
      this.ticksDone++;
      this.raft.tick();
    }
  }

  private onTick(): void {
    if (this.closed) return;
    this.catchUpTicks();
    this.sender.tick();
    this.receiver.tick();
    this.promoteCaughtUpLearners();
    const now = this.scheduler.now();
    // Each operation's own deadline is checked: a range from the wheel can cover operations due
    // later, and a proposal can hold the index of an older one whose deadline is on the wheel.
    this.proposalDeadlines.expire(now, (lo, hi) => {
      for (const index of this.proposals.firstsWithin(lo, hi)) {
        const pending = this.proposals.get(index)!;
        if (pending.deadline > now) continue;
        this.proposals.delete(index);
        this.pendingProposalCount -= pending.count;
        pending.reject(new TimeoutError(`proposal at index ${index} did not complete in time; it may still commit`, true));
      }
    });
    this.forwardDeadlines.expire(now, (lo, hi) => {
      for (const requestId of keysWithin(this.forwarded, lo, hi)) {
        const pending = this.forwarded.get(requestId)!;
        if (pending.deadline > now) continue;
        this.forwarded.delete(requestId);
        this.pendingProposalCount--;
        pending.reject(new TimeoutError('the forwarded proposal did not complete in time; it may still commit', true));
      }
    });
    this.readDeadlines.expire(now, (lo, hi) => {
      for (const requestId of keysWithin(this.reads, lo, hi)) this.expireRead(requestId, now);
    });
    this.schedule();
  }

  private expireRead(requestId: number, now: number): void {
    const read = this.reads.get(requestId)!;
    if (read.deadline > now) return;
    this.reads.delete(requestId);
    // A read whose index is known waits in the apply queue: every id there must stay a live read.
    const queued = read.index >= 0 ? this.readsWaitingApply.indexOf(requestId) : -1;
    if (queued >= 0) this.readsWaitingApply.splice(queued, 1);
    this.raft.forgetRead(requestId);
    read.reject(new TimeoutError('read did not complete in time', false));
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    this.scheduler.defer(this.processReady);
  }

  /** The turn's Ready (from `defer`): it may ask for one follow-up Ready before the turn ends. */
  private readonly processReady = (): void => {
    this.scheduled = false;
    this.followUpAllowed = true;
    this.runReady();
  };

  /**
   * The follow-up Ready, after the continuations of the proposals just resolved, if they left
   * anything to do. One per turn: each follow-up can resolve more proposals, and a chain of them
   * (a single-node cluster over storage that completes at once) would starve timers and I/O.
   */
  private readonly processSoon = (): void => {
    if (!this.closed && this.raft.hasReady()) this.runReady();
  };

  private runReady(): void {
    if (this.closed) return;
    try {
      if (this.raft.hasReady()) {
        const rd = this.raft.ready();
        this.handleReady(rd);
        // Callers whose proposals just resolved often propose again at once (a closed loop): take
        // those in this turn, so their entries leave with the commit messages in one frame per
        // peer instead of a turn later.
        if (this.followUpAllowed && rd.committed.length > 0 && !this.applyBusy && this.scheduler.soon) {
          this.followUpAllowed = false;
          this.scheduler.soon(this.processSoon);
        }
      }
      this.flushOutbox();
    } catch (error) {
      this.fail(error as Error);
    }
  }

  private handleReady(rd: Ready): void {
    if (rd.softState) this.onSoftState(rd.softState);
    if (rd.config) this.onConfig(rd.config);
    this.queueMessages(rd.messages);
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    for (const request of rd.snapshotRequests) this.sender.start(request.to, request.index);
    if (rd.hardState || rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      const afterPersist = rd.messagesAfterPersist;
      this.writesInFlight++;
      const write = this.storage.write(rd.hardState, rd.entries);
      this.lastWrite = write.then(
        () => {
          this.writesInFlight--;
          if (this.closed) return;
          if (last) this.raft.persisted(last.index, last.term);
          this.queueMessages(afterPersist);
          this.schedule();
        },
        (error: unknown) => {
          this.writesInFlight--;
          this.fail(new FlotillaError('STORAGE', `log write failed: ${(error as Error)?.message ?? String(error)}`, { cause: error }));
        },
      );
    } else if (rd.messagesAfterPersist.length > 0) {
      if (this.writesInFlight === 0) {
        this.queueMessages(rd.messagesAfterPersist);
      } else {
        const afterPersist = rd.messagesAfterPersist;
        this.lastWrite = this.lastWrite.then(() => {
          if (this.closed) return;
          this.queueMessages(afterPersist);
          this.schedule();
        });
      }
    }
    if (rd.committed.length > 0) this.enqueueApply(rd.committed);
    for (const state of rd.readStates) this.onReadIndex(state.requestId, state.index);
    for (const failure of rd.readFailures) this.onReadFailure(failure);
    this.settleMembership();
  }

  /**
   * A snapshot from the leader replaces the log: reset the store (ordered before any later write)
   * and restore the state machine after whatever it is applying now.
   */
  private installSnapshot(meta: SnapshotMeta): void {
    this.writesInFlight++;
    this.lastWrite = this.storage.reset(meta).then(
      () => {
        this.writesInFlight--;
        if (this.closed) return;
        this.raft.snapshotReset(meta.index);
        this.schedule();
      },
      (error: unknown) => {
        this.writesInFlight--;
        this.fail(new FlotillaError('STORAGE', `log reset to snapshot ${meta.index} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error }));
      },
    );
    this.applyQueue.push({ restore: meta });
    if (!this.applyBusy) this.drainApply();
  }

  private onConfig(config: ConfigState): void {
    const members = new Set([...config.voters, ...config.learners, ...config.outgoingVoters]);
    if (this.raft.role === 'leader') {
      for (const peer of this.raft.status().progress) if (!members.has(peer.id)) this.sender.abort(peer.id);
    }
    this.emit('membershipChange', config);
  }

  private queueMessages(messages: readonly Message[]): void {
    for (const message of messages) {
      let queue = this.outbox.get(message.to);
      if (!queue) this.outbox.set(message.to, (queue = []));
      queue.push(message);
    }
  }

  private flushOutbox(): void {
    if (this.outbox.size === 0) return;
    for (const [to, messages] of this.outbox) this.transport.send(to, messages);
    this.outbox.clear();
  }

  /**
   * Leadership moved: answers to proposals forwarded to another leader may never come (it may have
   * crashed). Their outcome is unknown (it may have replicated them first); say so now rather than
   * at the deadline.
   */
  private failForwardsToOtherLeaders(leader: NodeId): void {
    for (const [requestId, pending] of this.forwarded) {
      if (pending.leader === leader) continue;
      this.forwarded.delete(requestId);
      this.pendingProposalCount--;
      pending.reject(new TimeoutError(`leadership moved from ${pending.leader} while the forwarded proposal was in flight; the outcome is unknown`, true));
    }
  }

  private onSoftState(state: SoftState): void {
    const previousLeader = this.lastLeader;
    this.lastLeader = state.leader;
    if (state.role !== 'leader') this.sender.abortAll();
    if (state.leader !== previousLeader) this.receiver.abort();
    this.emit('stateChange', state);
    if (state.leader !== previousLeader) {
      this.failForwardsToOtherLeaders(state.leader);
      this.emit('leaderChange', { leader: state.leader, term: state.term });
    }
  }
  private lastLeader: NodeId = '';

  // ------------------------------------------------------------------ apply

  private enqueueApply(entries: readonly Entry[]): void {
    this.applyQueue.push(entries);
    if (!this.applyBusy) this.drainApply();
  }

  private drainApply(): void {
    while (this.applyQueue.length > 0 && !this.closed) {
      const item = this.applyQueue.shift()!;
      if (!Array.isArray(item)) {
        this.restoreSnapshot((item as { restore: SnapshotMeta }).restore);
        return;
      }
      const batch = item as readonly Entry[];
      // An Entry is a Command: hand the batch over as it is unless it holds configuration entries.
      let normal = 0;
      for (const entry of batch) {
        if (entry.type === EntryType.Normal) {
          normal++;
          this.bytesSinceSnapshot += entry.data.byteLength;
        }
      }
      const commands: readonly Command[] = normal === batch.length ? batch : batch.filter((entry) => entry.type === EntryType.Normal);
      let results: readonly Result[] | Promise<readonly Result[]>;
      try {
        results = commands.length > 0 ? this.stateMachine.apply(commands) : [];
      } catch (error) {
        this.fail(new FlotillaError('STATE_MACHINE', `state machine apply failed: ${(error as Error)?.message}`, { cause: error }));
        return;
      }
      if (isPromise(results)) {
        this.applyBusy = true;
        results.then(
          (resolved) => {
            this.applyBusy = false;
            if (this.closed) return;
            this.finishApply(batch, resolved);
            this.maybeSnapshot();
            this.drainApply();
            this.schedule();
          },
          (error: unknown) => {
            this.fail(new FlotillaError('STATE_MACHINE', `state machine apply failed: ${(error as Error)?.message}`, { cause: error }));
          },
        );
        return;
      }
      this.finishApply(batch, results);
      this.maybeSnapshot();
    }
  }

  /** Replaces the state machine's state with the snapshot just installed; applies wait for it. */
  private restoreSnapshot(meta: SnapshotMeta): void {
    this.applyBusy = true;
    const restore = async (): Promise<void> => {
      if (!this.stateMachine.restore) throw new ConfigError('stateMachine', 'has no restore() but the leader sent a snapshot');
      const reader = await this.snapshotStore!.open();
      if (!reader) throw new FlotillaError('NO_SNAPSHOT', `snapshot ${meta.index} is not in the snapshot store`);
      if (reader.meta.index !== meta.index || reader.meta.term !== meta.term) {
        await reader.close();
        throw new FlotillaError('NO_SNAPSHOT', `the snapshot store holds ${reader.meta.index}/${reader.meta.term}, not the installed ${meta.index}/${meta.term}`);
      }
      await this.stateMachine.restore(snapshotChunks(reader, this.tuning.snapshotChunkBytes));
    };
    restore().then(
      () => {
        this.applyBusy = false;
        if (this.closed) return;
        this.activeProposal = undefined;
        this.applied = meta.index;
        if (meta.index > this.lastSnapshotIndex) this.lastSnapshotIndex = meta.index;
        this.bytesSinceSnapshot = 0;
        this.releaseReads();
        this.emit('snapshotRestored', meta);
        this.emit('applied', meta.index);
        this.drainApply();
        this.schedule();
      },
      (error: unknown) => {
        this.fail(new FlotillaError('STATE_MACHINE', `restoring snapshot ${meta.index} failed: ${(error as Error)?.message}`, { cause: error }));
      },
    );
  }

  private finishApply(batch: readonly Entry[], results: readonly Result[]): void {
    let resultIndex = 0;
    for (const entry of batch) {
      const result = entry.type === EntryType.Normal ? results[resultIndex++] : undefined;
      this.settleProposal(entry, result as Result);
    }
    if (resultIndex !== results.length) {
      this.fail(new FlotillaError('STATE_MACHINE', `apply returned ${results.length} results for ${resultIndex} commands`));
      return;
    }
    const last = batch[batch.length - 1]!.index;
    this.applied = last;
    this.raft.appliedTo(last);
    this.releaseReads();
    this.emit('applied', last);
  }

  /**
   * Proposals of an earlier term whose entries at or after `from` were cut from this log (this
   * node now appends there): they can never apply. With a Map keyed by index, the new proposal took
   * the old one's key and the old caller was never answered.
   */
  private rejectTruncated(obsolete: readonly PendingProposal<Result>[], from: number): void {
    for (const pending of obsolete) {
      if (this.activeProposal?.pending === pending) this.activeProposal = undefined;
      this.pendingProposalCount -= pending.count;
      pending.reject(new LeadershipLostError(`the log was cut at index ${from} under a proposal of term ${pending.term}; it was not applied`));
    }
  }

  private settleProposal(entry: Entry, result: Result): void {
    let active = this.activeProposal;
    if (!active) {
      const pending = this.proposals.get(entry.index);
      if (!pending) return;
      active = this.activeProposal = { first: entry.index, pending };
    }
    const { first, pending } = active;
    if (entry.term !== pending.term) {
      // Our entry at this index was replaced by another leader's: it will never apply.
      this.activeProposal = undefined;
      this.proposals.delete(first);
      this.pendingProposalCount -= pending.count;
      pending.reject(new LeadershipLostError(`the entry at index ${entry.index} was replaced by another leader's; it was not applied`));
      return;
    }
    const results = pending.results;
    if (results === undefined) {
      this.activeProposal = undefined;
      if (!this.proposals.delete(first)) return; // timed out meanwhile: nobody is waiting
      this.pendingProposalCount--;
      (pending.resolve as (value: ProposeResult<Result>) => void)({ index: first, term: pending.term, result });
      return;
    }
    results.push(result);
    if (results.length < pending.count) return;
    this.activeProposal = undefined;
    if (!this.proposals.delete(first)) return;
    this.pendingProposalCount -= pending.count;
    (pending.resolve as (value: ProposeResult<Result>[]) => void)(results.map((value, i) => ({ index: first + i, term: pending.term, result: value })));
  }

  // ------------------------------------------------------------------ reads

  private onReadIndex(requestId: number, index: number): void {
    const read = this.reads.get(requestId);
    if (!read) return;
    read.index = index;
    if (index <= this.applied) {
      this.finishRead(requestId, read);
      return;
    }
    const waiting = this.readsWaitingApply;
    let at = waiting.length;
    while (at > 0 && this.reads.get(waiting[at - 1]!)!.index > index) at--;
    waiting.splice(at, 0, requestId);
  }

  private releaseReads(): void {
    const waiting = this.readsWaitingApply;
    let released = 0;
    while (released < waiting.length) {
      const requestId = waiting[released]!;
      const read = this.reads.get(requestId);
      if (read && read.index > this.applied) break;
      released++;
      if (read) this.finishRead(requestId, read);
    }
    if (released > 0) this.readsWaitingApply = waiting.slice(released);
  }

  private finishRead(requestId: number, read: PendingRead): void {
    this.reads.delete(requestId);
    try {
      read.resolve(read.fn());
    } catch (error) {
      read.reject(error as Error);
    }
  }

  private onReadFailure(failure: ReadFailure): void {
    const read = this.reads.get(failure.requestId);
    if (!read) return;
    this.reads.delete(failure.requestId);
    if (failure.reason === 'busy') read.reject(new BusyError('too many reads pending (maxPendingReads)'));
    else if (failure.reason === 'not-leader') read.reject(this.notLeader(failure.leader));
    else read.reject(new LeadershipLostError('leadership changed before the read could be confirmed; retry it'));
  }

  // ------------------------------------------------------------------ failures

  private refuseProposal(commands: readonly Uint8Array[], options: ProposeOptions | undefined): Error | undefined {
    if (this.closed) return this.failure ?? new ClosedError();
    if (!Array.isArray(commands) || commands.length === 0) return new TypeError('commands must be a non-empty array');
    for (const command of commands) {
      if (!(command instanceof Uint8Array)) return new TypeError('every command must be a Uint8Array');
      if (command.byteLength > this.tuning.maxCommandBytes) {
        return new RangeError(`command of ${command.byteLength} bytes exceeds maxCommandBytes (${this.tuning.maxCommandBytes})`);
      }
    }
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0)) {
      return new RangeError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    }
    if (this.pendingProposalCount + commands.length > this.tuning.maxPendingProposals) {
      return new BusyError(`${this.pendingProposalCount} proposals pending (limit maxPendingProposals = ${this.tuning.maxPendingProposals})`);
    }
    return undefined;
  }

  private notLeader(leader: NodeId = this.raft.leader): NotLeaderError {
    return new NotLeaderError(leader || undefined, leader ? this.transport.addressOf?.(leader) : undefined);
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.failure = error;
    this.emit('error', error);
    void this.close();
  }

  private failEverything(error: Error): void {
    for (const pending of this.proposals.values()) {
      pending.reject(error instanceof ClosedError ? new ClosedError('the node closed before the proposal completed; it may still commit') : error);
    }
    this.proposals.clear();
    for (const pending of this.forwarded.values()) pending.reject(new ClosedError('the node closed before the forwarded proposal completed; it may still commit'));
    this.forwarded.clear();
    this.forwardDeadlines.clear();
    this.pendingProposalCount = 0;
    for (const read of this.reads.values()) read.reject(error);
    this.reads.clear();
    this.readsWaitingApply = [];
    this.proposalDeadlines.clear();
    this.readDeadlines.clear();
    for (const waiter of this.membershipWaiters) {
      waiter.cancel();
      waiter.reject(error instanceof ClosedError ? new ClosedError('the node closed before the membership change completed; it may still commit') : error);
    }
    this.membershipWaiters = [];
    for (const w of this.snapshotWanted) w.reject(error);
    this.snapshotWanted = [];
  }
}

/** `list` without `id`: the member lists of a configuration change. */
function without(list: readonly NodeId[], id: NodeId): NodeId[] {
  return list.filter((x) => x !== id);
}

function checkNodeId(id: unknown): asserts id is NodeId {
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) throw new TypeError(`a node id must be a non-empty string of at most 256 characters, got ${JSON.stringify(id)}`);
}

const EMPTY_BYTES = new Uint8Array(0);

function proposeErrorOf(error: unknown): ProposeError {
  if (error instanceof NotLeaderError) return ProposeError.NotLeader;
  if (error instanceof BusyError || error instanceof TransferInProgressError) return ProposeError.Busy;
  if (error instanceof RangeError) return ProposeError.TooLarge;
  if (error instanceof TimeoutError) return ProposeError.Timeout;
  return ProposeError.Unknown;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown })?.then === 'function';
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
