import { ClosedError } from '../errors.js';
import type { InitialState, LogStore } from '../storage.js';
import { EMPTY_HARD_STATE, type Entry, type HardState, type SnapshotMeta } from '../types.js';
import { MemoryLog } from './memory-log.js';

/**
 * A LogStore in memory: every write is "durable" at once and lost with the process. For tests,
 * examples and nodes whose durability comes from elsewhere.
 */
export class MemoryStorage implements LogStore {
  private readonly log = new MemoryLog();
  private hardState: HardState = EMPTY_HARD_STATE;
  private snapshot: SnapshotMeta | undefined;
  private closed = false;

  initialState(): InitialState {
    return { hardState: this.hardState, snapshot: this.snapshot };
  }

  firstIndex(): number {
    return this.log.firstIndex();
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  term(index: number): number | undefined {
    return this.log.term(index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.log.entries(lo, hi, maxBytes);
  }

  async write(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    if (this.closed) throw new ClosedError('the storage is closed');
    this.log.append(entries);
    if (hardState) this.hardState = hardState;
  }

  async compact(index: number): Promise<void> {
    this.log.compact(index);
  }

  async reset(snapshot: SnapshotMeta): Promise<void> {
    this.log.reset(snapshot);
    this.snapshot = snapshot;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
