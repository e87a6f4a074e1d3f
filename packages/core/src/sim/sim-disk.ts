import { ClosedError } from '../errors.js';
import { MemoryLog } from '../memory/memory-log.js';
import { MemorySnapshotStore } from '../memory/memory-snapshot-store.js';
import type { SeededRandom } from '../raft/random.js';
import type { InitialState, LogStore, SnapshotStore } from '../storage.js';
import { EMPTY_HARD_STATE, type Entry, type HardState, type SnapshotMeta } from '../types.js';
import type { EventQueue } from './event-queue.js';

/** What survives a crash: the durable log and hard state of one simulated node. */
export class DiskState {
  readonly log = new MemoryLog();
  hardState: HardState = EMPTY_HARD_STATE;
  snapshot: SnapshotMeta | undefined;
  /** Committed snapshots survive a crash (the store writes, fsyncs and renames before commit resolves). */
  readonly snapshots = new MemorySnapshotStore();
  /** Virtual write latency in ms, [min, max). The simulator raises it to model a slow disk. */
  latencyMs: [number, number] = [0.05, 0.3];
  /** Called with each batch made durable, for the Log Matching check. */
  onDurable: ((entries: readonly Entry[], log: MemoryLog) => void) | undefined;
}

interface PendingWrite {
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  /** A compaction or reset instead of a write (ordered with the writes, as real stores do). */
  readonly op?: () => void;
  readonly resolve: () => void;
}

/**
 * A LogStore over a DiskState whose writes become durable after a virtual delay, in order. A crash
 * (`crash()`) loses every write not yet durable, except possibly a prefix of the oldest one's
 * entries (a torn batch: never acknowledged, so harmless, but it must not confuse recovery).
 */
export class SimDisk implements LogStore {
  private readonly pending: PendingWrite[] = [];
  private lastCompletion = 0;
  private dead = false;

  constructor(
    private readonly state: DiskState,
    private readonly queue: EventQueue,
    private readonly random: SeededRandom,
  ) {}

  initialState(): InitialState {
    return { hardState: this.state.hardState, snapshot: this.state.snapshot };
  }

  firstIndex(): number {
    return this.state.log.firstIndex();
  }

  lastIndex(): number {
    return this.state.log.lastIndex();
  }

  term(index: number): number | undefined {
    return this.state.log.term(index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.state.log.entries(lo, hi, maxBytes);
  }

  write(hardState: HardState | undefined, entries: readonly Entry[], op?: () => void): Promise<void> {
    if (this.dead) return Promise.reject(new ClosedError('the disk is gone'));
    return new Promise((resolve) => {
      const write: PendingWrite = { hardState, entries, op, resolve };
      this.pending.push(write);
      const [min, max] = this.state.latencyMs;
      const done = Math.max(this.lastCompletion, this.queue.now + min + this.random.next() * (max - min));
      this.lastCompletion = done;
      this.queue.at(done, () => this.complete(write));
    });
  }

  private complete(write: PendingWrite): void {
    if (this.dead || this.pending[0] !== write) return;
    this.pending.shift();
    write.op?.();
    this.state.log.append(write.entries);
    if (write.hardState) this.state.hardState = write.hardState;
    if (write.entries.length > 0) this.state.onDurable?.(write.entries, this.state.log);
    write.resolve();
  }

  /** The process died: in-flight writes are lost (the oldest may leave a prefix of its entries). */
  crash(): void {
    if (this.dead) return;
    this.dead = true;
    const oldest = this.pending[0];
    if (oldest && oldest.entries.length > 0 && this.random.chance(0.5)) {
      const kept = oldest.entries.slice(0, this.random.int(0, oldest.entries.length + 1));
      if (kept.length > 0) {
        this.state.log.append(kept);
        this.state.onDurable?.(kept, this.state.log);
      }
    }
    this.pending.length = 0;
  }

  compact(index: number): Promise<void> {
    return this.write(undefined, [], () => this.state.log.compact(Math.min(index, this.state.log.lastIndex())));
  }

  reset(snapshot: SnapshotMeta): Promise<void> {
    return this.write(undefined, [], () => {
      this.state.log.reset(snapshot);
      this.state.snapshot = snapshot;
    });
  }

  async close(): Promise<void> {
    this.dead = true;
  }

  /** The node's view of its snapshot store: once the process is dead, nothing it does lands. */
  snapshotStore(): SnapshotStore {
    const store = this.state.snapshots;
    const alive = (): void => {
      if (this.dead) throw new ClosedError('the disk is gone');
    };
    return {
      latest: () => store.latest(),
      open: async () => {
        alive();
        return store.open();
      },
      create: async (meta) => {
        alive();
        const writer = await store.create(meta);
        return {
          write: async (chunk) => {
            alive();
            await writer.write(chunk);
          },
          commit: async (checksum) => {
            alive();
            await writer.commit(checksum);
          },
          abort: () => writer.abort(),
        };
      },
    };
  }
}
