import { DEFAULT_RAFT_OPTIONS, MemoryLog, Raft, type Message, type NodeId } from '@flotilla/core';

/**
 * A 3-node cluster of pure protocol cores wired by function calls: no I/O, no timers, instant
 * "disks". What it can commit per second is the ceiling the real cluster approaches.
 */
export class ProtocolCluster {
  readonly ids: NodeId[] = ['n1', 'n2', 'n3'];
  private readonly rafts = new Map<NodeId, Raft>();
  private readonly disks = new Map<NodeId, MemoryLog>();
  private inbox: Message[] = [];
  applied = 0;

  constructor() {
    for (const id of this.ids) {
      const disk = new MemoryLog();
      this.disks.set(id, disk);
      this.rafts.set(
        id,
        new Raft(
          { ...DEFAULT_RAFT_OPTIONS, id, seed: id.charCodeAt(1), maxInflightMessages: 1024, maxAppendBytes: 4 * 1024 * 1024 },
          disk,
          { hardState: { term: 0, vote: '', commit: 0 }, snapshot: undefined },
          { voters: this.ids, learners: [], outgoingVoters: [] },
        ),
      );
    }
    this.leader.campaign();
    this.settle();
    if (this.leader.role !== 'leader') throw new Error('benchmark cluster did not elect n1');
  }

  get leader(): Raft {
    return this.rafts.get('n1')!;
  }

  /** Proposes one batch and runs the cluster until it is committed and applied everywhere. */
  round(batch: readonly Uint8Array[]): void {
    this.leader.propose(batch);
    this.settle();
  }

  private settle(): void {
    for (let guard = 0; guard < 1000; guard++) {
      let busy = false;
      for (const [id, raft] of this.rafts) {
        if (!raft.hasReady()) continue;
        busy = true;
        const rd = raft.ready();
        for (const m of rd.messages) this.inbox.push(m);
        if (rd.entries.length > 0) {
          const disk = this.disks.get(id)!;
          disk.append(rd.entries);
          const last = rd.entries[rd.entries.length - 1]!;
          raft.persisted(last.index, last.term);
        }
        for (const m of rd.messagesAfterPersist) this.inbox.push(m);
        if (rd.committed.length > 0) {
          this.applied += rd.committed.length;
          raft.appliedTo(rd.committed[rd.committed.length - 1]!.index);
        }
      }
      if (this.inbox.length > 0) {
        busy = true;
        const messages = this.inbox;
        this.inbox = [];
        for (const m of messages) this.rafts.get(m.to)!.step(m);
      }
      if (!busy) {
        this.compact();
        return;
      }
    }
    throw new Error('benchmark cluster did not settle');
  }

  /** Keeps the in-memory logs small so a long run measures the protocol, not array growth. */
  private compact(): void {
    for (const [id, disk] of this.disks) {
      const keepFrom = this.rafts.get(id)!.log.applied - 1024;
      if (keepFrom - disk.firstIndex() > 200_000) disk.compact(keepFrom);
    }
  }
}

/** The floor: the least any JS replication of an entry to three nodes must do (allocate, store). */
export class ArrayFloor {
  private readonly logs: { index: number; term: number; data: Uint8Array }[][] = [[], [], []];
  private index = 0;

  round(batch: readonly Uint8Array[]): void {
    for (const data of batch) {
      const entry = { index: ++this.index, term: 1, data };
      for (const log of this.logs) log.push(entry);
    }
    if (this.logs[0]!.length > 200_000) for (const log of this.logs) log.length = 0;
  }
}
