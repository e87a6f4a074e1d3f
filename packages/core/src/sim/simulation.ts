import { FlotillaError } from '../errors.js';
import { SeededRandom, seedFrom } from '../raft/random.js';
import { RaftNode } from '../runtime/raft-node.js';
import type { Command, StateMachine } from '../state-machine.js';
import type { NodeId } from '../types.js';
import { digest, SafetyChecker } from './checker.js';
import { EventQueue } from './event-queue.js';
import { DiskState, SimDisk } from './sim-disk.js';
import { SimNetwork, type SimTransport } from './sim-network.js';
import { SimScheduler } from './sim-scheduler.js';

export interface SimulationOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Virtual milliseconds of faults. */
  readonly faultMs: number;
  /** Virtual milliseconds after healing, in which a leader must emerge and proposals must commit. */
  readonly healthyMs: number;
  /** Keep a trace of the last events, printed with a failure. */
  readonly trace: boolean;
  /** Nodes snapshot every few dozen entries and compact their logs; followers catch up by snapshot. */
  readonly snapshots: boolean;
  /**
   * Membership churn: spare nodes join as learners, voters are replaced (grow to 7, shrink to 1,
   * remove the leader) while the other faults go on.
   */
  readonly churn: boolean;
}

export const DEFAULT_SIMULATION: Omit<SimulationOptions, 'seed'> = { nodes: 3, faultMs: 6000, healthyMs: 3000, trace: false, snapshots: false, churn: false };

/** Nodes that start outside the cluster when churn is on (so up to 7 can be voters). */
const SPARE_NODES = 4;

export interface SimulationResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly trace: readonly string[];
  readonly stats: {
    events: number;
    proposed: number;
    acknowledged: number;
    reads: number;
    crashes: number;
    partitions: number;
    pauses: number;
    maxTerm: number;
    committed: number;
    snapshots: number;
    restores: number;
    memberships: number;
  };
}

const ELECTION_TIMEOUT_MS = 150;
const HEARTBEAT_MS = 15;
/** After healing: a leader must be elected within this long... */
const LEADER_BOUND_MS = 2000;
/** ...and each proposal made after that must commit within this long. */
const COMMIT_BOUND_MS = 1000;
const TRACE_LINES = 200;

/** The replicated state of the simulation: a running digest, checked for exactly-once, in-order apply. */
class SimStateMachine implements StateMachine<number> {
  restores = 0;
  lastApplied = 0;
  rolling = 0;
  readonly digests = new Map<number, number>();

  constructor(
    private readonly id: NodeId,
    private readonly checker: SafetyChecker,
  ) {}

  apply(commands: readonly Command[]): number[] {
    const out: number[] = [];
    for (const command of commands) {
      if (command.index <= this.lastApplied) {
        this.checker.violation(`${this.id} applied index ${command.index} after ${this.lastApplied} (not exactly once, in order)`);
      }
      this.lastApplied = command.index;
      this.rolling = digest(command.data, this.rolling);
      this.digests.set(command.index, this.rolling);
      this.checker.onApply(this.id, command.index, command.term, command.data);
      out.push(command.index);
    }
    return out;
  }

  snapshot(): Uint8Array[] {
    return [new TextEncoder().encode(JSON.stringify({ lastApplied: this.lastApplied, rolling: this.rolling }))];
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of chunks) text += decoder.decode(chunk, { stream: true });
    const state = JSON.parse(text + decoder.decode()) as { lastApplied: number; rolling: number };
    const known = this.checker.applied.get(state.lastApplied);
    if (state.lastApplied > 0 && !known) this.checker.violation(`${this.id} restored a snapshot at ${state.lastApplied}, an index no node applied`);
    this.lastApplied = state.lastApplied;
    this.rolling = state.rolling;
    this.digests.set(state.lastApplied, state.rolling);
    this.restores++;
  }
}

class SimNode {
  readonly disk = new DiskState();
  node: RaftNode<number> | undefined;
  sm: SimStateMachine | undefined;
  scheduler: SimScheduler | undefined;
  private simDisk: SimDisk | undefined;
  private transport: SimTransport | undefined;
  incarnation = 0;
  /** Snapshot restores of earlier incarnations. */
  private earlierRestores = 0;
  lastTerm = 0;
  lastCommit = 0;
  lastApplied = 0;
  lastDurableTerm = 0;

  constructor(readonly id: NodeId) {}

  get up(): boolean {
    return this.node !== undefined;
  }

  get running(): boolean {
    return this.node !== undefined && !this.scheduler!.paused;
  }

  async start(sim: Simulation): Promise<void> {
    this.incarnation++;
    const o = sim.options;
    this.scheduler = new SimScheduler(sim.queue, 1 + (sim.random.next() - 0.5) * 0.02);
    this.simDisk = new SimDisk(this.disk, sim.queue, sim.random);
    this.transport = sim.network.transport(this.id, this.scheduler);
    if (this.sm) this.earlierRestores += this.sm.restores;
    this.sm = new SimStateMachine(this.id, sim.checker);
    this.lastTerm = 0;
    this.lastCommit = 0;
    this.lastApplied = 0;
    const spare = !sim.initialVoters.includes(this.id);
    const snapshotTuning = o.snapshots
      ? {
          snapshotStore: this.simDisk.snapshotStore(),
          snapshotEntries: sim.snapshotEvery,
          snapshotKeepEntries: sim.snapshotKeep,
          snapshotChunkBytes: 16,
          snapshotWindowChunks: 2,
          snapshotTimeoutMs: 60,
        }
      : {};
    const node = await RaftNode.start<number>({
      id: this.id,
      members: spare ? [] : sim.initialVoters,
      join: spare,
      ...snapshotTuning,
      learnerPromotionLag: 5,
      stateMachine: this.sm,
      storage: this.simDisk,
      transport: this.transport,
      scheduler: this.scheduler,
      seed: seedFrom(`${this.id}#${this.incarnation}`, sim.options.seed),
      electionTimeoutMs: ELECTION_TIMEOUT_MS,
      heartbeatIntervalMs: HEARTBEAT_MS,
      proposalTimeoutMs: 3000,
      readTimeoutMs: 3000,
      maxInflightMessages: 8,
      leaseRead: true,
      maxAppendBytes: 256,
    });
    node.on('stateChange', (state) => {
      sim.log(`${this.id} ${state.role} term ${state.term} leader ${state.leader || '-'}`);
      if (state.role === 'leader') sim.checker.onLeader(this.id, state.term, (i) => node.termAt(i), node.status().firstIndex);
    });
    node.on('error', (error) => sim.checker.violation(`${this.id} failed: ${error.message}`));
    node.on('snapshot', (meta) => {
      sim.countSnapshot();
      sim.log(`${this.id} snapshot at ${meta.index}`);
    });
    node.on('snapshotRestored', (meta) => sim.log(`${this.id} restored snapshot ${meta.index}/${meta.term}`));
    node.on('membershipChange', (c) => sim.log(`${this.id} config voters ${c.voters.join(',')} outgoing ${c.outgoingVoters.join(',') || '-'} learners ${c.learners.join(',') || '-'}`));
    this.node = node;
  }

  get restores(): number {
    return this.earlierRestores + (this.sm?.restores ?? 0);
  }

  crash(): void {
    this.scheduler!.alive = false;
    this.simDisk!.crash();
    void this.transport!.close();
    this.node = undefined;
  }
}

/** One seeded run: a cluster under faults, then healed; every step checked. */
export class Simulation {
  readonly queue = new EventQueue();
  readonly random: SeededRandom;
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly ids: NodeId[];
  /** The bootstrap voters; the other ids are spares that join when churn adds them. */
  readonly initialVoters: NodeId[];
  readonly snapshotEvery: number;
  readonly snapshotKeep: number;
  private readonly nodes: SimNode[];
  private readonly traceLines: string[] = [];
  private healthy = false;
  private proposalCounter = 0;
  private maxAckedIndex = 0;
  private readonly healthyProposals = new Map<number, number>();
  private readonly stats = {
    events: 0, proposed: 0, acknowledged: 0, reads: 0, crashes: 0, partitions: 0, pauses: 0, maxTerm: 0, committed: 0, snapshots: 0, restores: 0, memberships: 0,
  };
  private readonly acknowledged: { index: number; term: number; hash: number }[] = [];

  constructor(readonly options: SimulationOptions) {
    this.random = new SeededRandom(options.seed);
    this.network = new SimNetwork(this.queue, new SeededRandom(seedFrom('network', options.seed)));
    const total = options.nodes + (options.churn ? SPARE_NODES : 0);
    this.ids = Array.from({ length: total }, (_, i) => `n${i + 1}`);
    this.initialVoters = this.ids.slice(0, options.nodes);
    const tuning = new SeededRandom(seedFrom('snapshots', options.seed));
    this.snapshotEvery = tuning.int(10, 80);
    this.snapshotKeep = tuning.int(0, 10);
    this.nodes = this.ids.map((id) => new SimNode(id));
    for (const node of this.nodes) node.disk.onDurable = (entries, log) => this.checker.onDurable(node.id, entries, log);
  }

  countSnapshot(): void {
    this.stats.snapshots++;
  }

  log(line: string): void {
    if (!this.options.trace) return;
    const text = `${this.queue.now.toFixed(3).padStart(10)} ms  ${line}`;
    this.traceLines.push(text);
    if (this.traceLines.length > TRACE_LINES) this.traceLines.shift();
  }

  async run(): Promise<SimulationResult> {
    for (const node of this.nodes) await node.start(this);
    this.scheduleWorkload();
    this.scheduleFaults();
    const healAt = this.options.faultMs;
    const end = healAt + this.options.healthyMs;
    this.queue.at(healAt, () => void this.heal());
    while (this.queue.size > 0 && this.checker.violations.length === 0) {
      if (this.queue.peekTime()! > end) break;
      const event = this.queue.pop()!;
      try {
        event();
      } catch (error) {
        this.checker.violation(`uncaught: ${(error as Error).stack ?? String(error)}`);
      }
      this.stats.events++;
      await drainMicrotasks();
      this.checkNodes();
    }
    if (this.checker.violations.length === 0) this.checkEnd();
    this.stats.committed = this.checker.maxAppliedIndex;
    for (const node of this.nodes) this.stats.restores += node.restores;
    return { seed: this.options.seed, violations: this.checker.violations, trace: this.traceLines, stats: this.stats };
  }

  // ------------------------------------------------------------------ checks

  private checkNodes(): void {
    for (const sim of this.nodes) {
      const durableTerm = sim.disk.hardState.term;
      if (durableTerm < sim.lastDurableTerm) this.checker.violation(`${sim.id} durable term went back ${sim.lastDurableTerm} -> ${durableTerm}`);
      sim.lastDurableTerm = durableTerm;
      const node = sim.node;
      if (!node) continue;
      const st = node.status();
      if (st.term < sim.lastTerm) this.checker.violation(`${sim.id} term went back ${sim.lastTerm} -> ${st.term}`);
      if (st.commitIndex < sim.lastCommit) this.checker.violation(`${sim.id} commit went back ${sim.lastCommit} -> ${st.commitIndex}`);
      if (st.appliedIndex < sim.lastApplied) this.checker.violation(`${sim.id} applied went back ${sim.lastApplied} -> ${st.appliedIndex}`);
      if (!(st.snapshotIndex <= st.appliedIndex && st.appliedIndex <= st.commitIndex && st.commitIndex <= st.lastIndex)) {
        this.checker.violation(`${sim.id} breaks snapshot ≤ applied ≤ commit ≤ last: ${st.snapshotIndex} ${st.appliedIndex} ${st.commitIndex} ${st.lastIndex}`);
      }
      sim.lastTerm = st.term;
      sim.lastCommit = st.commitIndex;
      sim.lastApplied = st.appliedIndex;
      if (st.term > this.stats.maxTerm) this.stats.maxTerm = st.term;
    }
  }

  private checkEnd(): void {
    // Every acknowledged proposal is applied at its index with its bytes.
    for (const ack of this.acknowledged) {
      const applied = this.checker.applied.get(ack.index);
      if (!applied || applied.term !== ack.term || applied.hash !== ack.hash) {
        this.checker.violation(`acknowledged proposal at ${ack.index} (term ${ack.term}) is not what was applied there`);
        return;
      }
    }
    const end = this.options.faultMs + this.options.healthyMs;
    for (const [counter, proposedAt] of this.healthyProposals) {
      if (proposedAt > end - COMMIT_BOUND_MS) continue; // still within its bound when the run ended
      this.checker.violation(`liveness: proposal #${counter} made at ${proposedAt.toFixed(1)} ms after healing did not commit within ${COMMIT_BOUND_MS} ms`);
      return;
    }
    const leader = this.nodes.find((n) => n.node?.role === 'leader');
    if (!leader) {
      this.checker.violation(`liveness: no leader ${this.options.healthyMs} ms after healing`);
      return;
    }
    // Convergence: every member applied the same commands up to the leader's commit.
    const target = leader.node!.status().commitIndex;
    const config = leader.node!.members();
    const members = new Set([...config.voters, ...config.learners, ...config.outgoingVoters]);
    for (const sim of this.nodes) {
      if (!members.has(sim.id)) continue;
      const st = sim.node!.status();
      if (st.appliedIndex < target) {
        const progress = JSON.stringify(leader.node!.status().progress);
        this.checker.violation(`convergence: ${sim.id} applied ${st.appliedIndex} (commit ${st.commitIndex}, last ${st.lastIndex}, role ${st.role}, term ${st.term}) < leader ${leader.id} commit ${target}; leader progress ${progress}`);
        return;
      }
    }
    const reference = leader.sm!;
    for (const sim of this.nodes) {
      if (!members.has(sim.id)) continue;
      const a = sim.sm!.digests.get(reference.lastApplied);
      if (a !== undefined && a !== reference.digests.get(reference.lastApplied)) {
        this.checker.violation(`convergence: ${sim.id} state differs from ${leader.id} at index ${reference.lastApplied}`);
      }
    }
  }

  // ------------------------------------------------------------------ workload

  private scheduleWorkload(): void {
    const propose = (): void => {
      this.propose();
      this.queue.after(this.random.int(1, 8), propose);
    };
    const read = (): void => {
      this.read();
      this.queue.after(this.random.int(10, 40), read);
    };
    this.queue.after(1, propose);
    this.queue.after(5, read);
  }

  private pickTarget(): SimNode | undefined {
    const leaders = this.nodes.filter((n) => n.running && n.node!.role === 'leader');
    if (leaders.length > 0 && this.random.chance(0.9)) return this.random.pick(leaders);
    const up = this.nodes.filter((n) => n.running);
    return up.length > 0 ? this.random.pick(up) : undefined;
  }

  private propose(): void {
    const target = this.pickTarget();
    if (!target) return;
    const counter = ++this.proposalCounter;
    const data = new TextEncoder().encode(`${this.options.seed}:${counter}`);
    const node = target.node!;
    const trackLiveness = this.healthy && this.queue.now >= this.options.faultMs + LEADER_BOUND_MS && node.role === 'leader';
    this.stats.proposed++;
    if (trackLiveness) this.healthyProposals.set(counter, this.queue.now);
    node.propose(data, { forward: this.random.chance(0.5) }).then(
      (result) => {
        this.stats.acknowledged++;
        this.acknowledged.push({ index: result.index, term: result.term, hash: digest(data) });
        if (result.index > this.maxAckedIndex) this.maxAckedIndex = result.index;
        const proposedAt = this.healthyProposals.get(counter);
        if (proposedAt !== undefined && this.queue.now - proposedAt <= COMMIT_BOUND_MS) this.healthyProposals.delete(counter);
      },
      (error: unknown) => {
        // Refused at once (not leader, busy): it was never made, so it owes no progress.
        if (error instanceof FlotillaError && (error.code === 'NOT_LEADER' || error.code === 'BUSY' || error.code === 'TRANSFER_IN_PROGRESS')) {
          this.healthyProposals.delete(counter);
        }
      },
    );
  }

  private read(): void {
    const target = this.pickTarget();
    if (!target) return;
    const floor = this.maxAckedIndex;
    const sm = target.sm!;
    this.stats.reads++;
    const consistency = this.random.chance(0.5) ? 'lease' : 'linearizable';
    target.node!.read(() => sm.lastApplied, { consistency }).then(
      (seen) => {
        if (seen < floor) this.checker.violation(`stale ${consistency} read on ${target.id}: saw index ${seen}, but ${floor} was acknowledged before the read began`);
      },
      () => undefined,
    );
  }

  // ------------------------------------------------------------------ faults

  private scheduleFaults(): void {
    const next = (): void => {
      if (this.queue.now >= this.options.faultMs) return;
      this.injectFault();
      this.queue.after(this.random.int(50, 600), next);
    };
    this.queue.after(this.random.int(100, 400), next);
  }

  private leaderOrRandom(): SimNode {
    const leader = this.nodes.find((n) => n.up && n.node!.role === 'leader');
    return leader && this.random.chance(0.6) ? leader : this.random.pick(this.nodes);
  }

  private injectFault(): void {
    const kind = this.random.int(0, this.options.churn ? 9 : 7);
    if (kind >= 7) {
      this.changeMembership();
      return;
    }
    const until = this.queue.now + this.random.int(50, 1200);
    switch (kind) {
      case 0: {
        const victim = this.leaderOrRandom();
        this.stats.partitions++;
        this.log(`partition: isolate ${victim.id}`);
        for (const other of this.ids) if (other !== victim.id) { this.network.cutLink(victim.id, other); this.network.cutLink(other, victim.id); }
        this.queue.at(until, () => this.healPartition());
        break;
      }
      case 1: {
        const shuffled = [...this.ids].sort(() => this.random.next() - 0.5);
        const cut = this.random.int(1, shuffled.length);
        const left = shuffled.slice(0, cut);
        const right = shuffled.slice(cut);
        this.stats.partitions++;
        this.log(`partition: ${left.join(',')} | ${right.join(',')}`);
        for (const a of left) for (const b of right) { this.network.cutLink(a, b); this.network.cutLink(b, a); }
        this.queue.at(until, () => this.healPartition());
        break;
      }
      case 2: {
        const from = this.leaderOrRandom().id;
        const to = this.random.pick(this.ids.filter((id) => id !== from));
        const reverse = this.random.chance(0.5);
        this.stats.partitions++;
        this.log(`one-way cut ${reverse ? `${to} -> ${from}` : `${from} -> ${to}`}`);
        if (reverse) this.network.cutLink(to, from);
        else this.network.cutLink(from, to);
        this.queue.at(until, () => this.healPartition());
        break;
      }
      case 3: {
        const victim = this.leaderOrRandom();
        if (!victim.up) break;
        this.stats.crashes++;
        this.log(`crash ${victim.id}`);
        victim.crash();
        this.queue.at(until, () => {
          if (!victim.up) {
            this.log(`restart ${victim.id}`);
            void victim.start(this);
          }
        });
        break;
      }
      case 4: {
        const victim = this.leaderOrRandom();
        if (!victim.running) break;
        this.stats.pauses++;
        this.log(`pause ${victim.id}`);
        const scheduler = victim.scheduler!;
        scheduler.paused = true;
        this.queue.at(until, () => {
          this.log(`resume ${victim.id}`);
          scheduler.resume();
        });
        break;
      }
      case 5: {
        const victim = this.random.pick(this.nodes);
        this.log(`slow disk ${victim.id}`);
        victim.disk.latencyMs = [2, 40];
        this.queue.at(until, () => (victim.disk.latencyMs = [0.05, 0.3]));
        break;
      }
      default: {
        const dropRate = this.random.pick([0, 0.01, 0.05, 0.2]);
        const duplicateRate = this.random.pick([0, 0.01, 0.1]);
        const delayMs: [number, number] = this.random.pick([[0.02, 0.1], [0.5, 5], [1, 30]]);
        this.log(`network: drop ${dropRate} duplicate ${duplicateRate} delay ${delayMs.join('-')} ms`);
        this.network.faults = { dropRate, duplicateRate, delayMs };
        break;
      }
    }
  }

  /** Asks the leader for a random new configuration: grow, shrink, replace voters, drop a member. */
  private changeMembership(): void {
    const leader = this.nodes.find((n) => n.running && n.node!.role === 'leader');
    if (!leader) return;
    const node = leader.node!;
    const shuffled = [...this.ids].sort(() => this.random.next() - 0.5);
    const size = Math.min(this.ids.length, this.random.pick([1, 3, 3, 5, 5, 7]));
    const voters = shuffled.slice(0, size);
    // A voter cannot become a learner in one change (it would be both in the joint configuration).
    const current = node.members();
    const others = shuffled.slice(size).filter((id) => !current.voters.includes(id) || current.learners.includes(id));
    // Sometimes a node leaves the cluster altogether.
    const learners = this.random.chance(0.3) ? others.slice(1) : others;
    this.stats.memberships++;
    const mode = this.random.int(0, 3);
    let request: Promise<void>;
    let what: string;
    if (mode === 0 && others.length > 0 && !node.members().learners.includes(others[0]!) && !node.members().voters.includes(others[0]!)) {
      what = `add learner ${others[0]} (promote when caught up)`;
      request = node.addLearner(others[0]!, { promote: true });
    } else if (mode === 1) {
      what = `remove ${leader.id} (the leader)`;
      request = node.removeMember(leader.id);
    } else {
      what = `voters ${voters.join(',')} learners ${learners.join(',') || '-'}`;
      request = node.changeMembership({ voters, learners });
    }
    this.log(`membership on ${leader.id}: ${what}`);
    request.then(
      () => this.log(`membership done: ${what}`),
      (error: unknown) => this.log(`membership refused: ${what}: ${(error as Error).message}`),
    );
  }

  private healPartition(): void {
    if (this.healthy) return;
    this.log('partitions healed');
    this.network.healPartitions();
  }

  private async heal(): Promise<void> {
    this.healthy = true;
    this.log('heal everything');
    this.network.healPartitions();
    this.network.faults = { dropRate: 0, duplicateRate: 0, delayMs: [0.02, 0.1] };
    for (const sim of this.nodes) {
      sim.disk.latencyMs = [0.05, 0.3];
      if (!sim.up) await sim.start(this);
      else if (sim.scheduler!.paused) sim.scheduler!.resume();
    }
  }
}

/** Lets every pending promise callback run (the simulated process's microtasks). */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function simulate(seed: number, options: Partial<Omit<SimulationOptions, 'seed'>> = {}): Promise<SimulationResult> {
  return new Simulation({ ...DEFAULT_SIMULATION, ...options, seed }).run();
}
