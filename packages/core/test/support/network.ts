import { MemoryLog } from '../../src/memory/memory-log.js';
import { DEFAULT_RAFT_OPTIONS, type RaftOptions } from '../../src/raft/options.js';
import { Raft, type Ready } from '../../src/raft/raft.js';
import { SeededRandom, seedFrom } from '../../src/raft/random.js';
import type { ReadFailure, ReadState } from '../../src/raft/reads.js';
import { EMPTY_HARD_STATE, EntryType, type Entry, type HardState, type Message, type NodeId } from '../../src/types.js';

/** One node of a scenario: a Raft over a synchronous in-memory disk. */
export class TestNode {
  readonly disk = new MemoryLog();
  hardState: HardState = EMPTY_HARD_STATE;
  raft: Raft;
  readonly applied: Entry[] = [];
  readonly readStates: ReadState[] = [];
  readonly readFailures: ReadFailure[] = [];

  constructor(
    readonly id: NodeId,
    private readonly voters: NodeId[],
    private readonly options: Partial<RaftOptions>,
  ) {
    this.raft = this.boot();
  }

  private boot(): Raft {
    return new Raft(
      { ...DEFAULT_RAFT_OPTIONS, ...this.options, id: this.id, seed: seedFrom(this.id, this.options.seed ?? 0) },
      this.disk,
      { hardState: this.hardState, snapshot: undefined },
      { voters: this.voters, learners: [], outgoingVoters: [] },
    );
  }

  /** Replaces what is on disk (before the scenario starts) and restarts from it. */
  preload(entries: { index: number; term: number }[], hardState: HardState): void {
    this.disk.append(entries.map((e) => ({ ...e, type: EntryType.Normal, data: new TextEncoder().encode(`${e.term}/${e.index}`) })));
    this.hardState = hardState;
    this.restart();
  }

  /** Restarts from what is on disk (everything here is durable at once). */
  restart(): void {
    this.applied.length = 0;
    this.raft = this.boot();
  }

  /** Handles one Ready as a runtime would, with a disk that is durable immediately. */
  process(): Message[] {
    const out: Message[] = [];
    while (this.raft.hasReady()) {
      const rd: Ready = this.raft.ready();
      out.push(...rd.messages);
      if (rd.hardState) this.hardState = rd.hardState;
      if (rd.entries.length > 0) {
        this.disk.append(rd.entries);
        const last = rd.entries[rd.entries.length - 1]!;
        this.raft.persisted(last.index, last.term);
      }
      out.push(...rd.messagesAfterPersist);
      for (const entry of rd.committed) this.applied.push(entry);
      if (rd.committed.length > 0) this.raft.appliedTo(rd.committed[rd.committed.length - 1]!.index);
      this.readStates.push(...rd.readStates);
      this.readFailures.push(...rd.readFailures);
    }
    return out;
  }
}

/**
 * Several nodes wired together with synchronous delivery, as etcd's raft tests do. Links can be
 * cut one way or both; `deliverAll` runs until no message is left in flight.
 */
export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly cut = new Set<string>();
  /** Every message delivered, for assertions on traffic. */
  readonly delivered: Message[] = [];
  /** A filter that may drop or inspect messages before delivery. */
  filter: ((m: Message) => boolean) | undefined;
  /** When set, each round's messages are shuffled and some are delivered twice. */
  chaos: { random: SeededRandom; duplicateRate: number } | undefined;

  constructor(ids: NodeId[], options: Partial<RaftOptions> = {}) {
    for (const id of ids) this.nodes.set(id, new TestNode(id, ids, options));
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  cutLink(from: NodeId, to: NodeId, bothWays = true): void {
    this.cut.add(`${from}>${to}`);
    if (bothWays) this.cut.add(`${to}>${from}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Processes every node and delivers until quiet (bounded, so a livelock fails the test). */
  deliverAll(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const inFlight: Message[] = [];
      for (const node of this.nodes.values()) inFlight.push(...node.process());
      if (inFlight.length === 0) return;
      if (this.chaos) {
        const { random, duplicateRate } = this.chaos;
        for (const m of [...inFlight]) if (random.chance(duplicateRate)) inFlight.push(m);
        for (let i = inFlight.length - 1; i > 0; i--) {
          const j = random.int(0, i + 1);
          [inFlight[i], inFlight[j]] = [inFlight[j]!, inFlight[i]!];
        }
      }
      for (const m of inFlight) this.deliver(m);
    }
    throw new Error(`network did not settle within ${maxRounds} rounds`);
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}>${m.to}`)) return;
    if (this.filter && !this.filter(m)) return;
    const target = this.nodes.get(m.to);
    if (!target) return;
    this.delivered.push(m);
    target.raft.step(m);
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.raft(id).tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.raft.tick();
      this.deliverAll();
    }
  }

  /** Makes `id` campaign and settles. */
  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.deliverAll();
  }

  leader(): NodeId | undefined {
    for (const [id, node] of this.nodes) if (node.raft.role === 'leader') return id;
    return undefined;
  }

  propose(id: NodeId, ...payloads: string[]): { index: number; term: number } {
    const result = this.raft(id).propose(payloads.map((p) => new TextEncoder().encode(p)));
    this.deliverAll();
    return result;
  }
}

/** Entries for preload: `count` entries of `term` starting at `from`. */
export function run(from: number, count: number, term: number): { index: number; term: number }[] {
  return Array.from({ length: count }, (_, i) => ({ index: from + i, term }));
}

export { SeededRandom };

export function text(entry: Entry): string {
  return new TextDecoder().decode(entry.data);
}

export function appliedTexts(node: TestNode): string[] {
  return node.applied.filter((e) => e.data.byteLength > 0).map(text);
}
