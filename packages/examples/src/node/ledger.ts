import { createHash } from 'node:crypto';
import type { Command, StateMachine } from '@flotilla/core';

interface LedgerSnapshot {
  appliedIndex: number;
  count: number;
  /** The rolling digest, hex. */
  rolling: string;
  /** The applied list, if the ledger keeps it. */
  entries?: [number, string][];
}

/**
 * A state machine that remembers what it applied: a rolling SHA-256 over (index, command) and,
 * optionally, the list itself. Two nodes agree iff their digests at the same index agree, which is
 * what goRaft's users checked with sha1sum by hand. The result of a command is its index.
 */
export class Ledger implements StateMachine<number> {
  appliedIndex = 0;
  count = 0;
  private rolling = Buffer.alloc(32);
  /** (index, first 8 bytes of the command's hash, as hex) for every applied command, if kept. */
  readonly entries: [number, string][] = [];

  /**
   * @param keepEntries keep the list of applied commands (exactly-once checks)
   * @param hashing maintain the SHA-256 digest (off for benchmarks, which measure the engine, not
   *   the state machine: then it only counts and the digest stays empty)
   */
  constructor(
    private readonly keepEntries: boolean,
    private readonly hashing = true,
  ) {}

  apply(commands: readonly Command[]): number[] {
    const out = new Array<number>(commands.length);
    for (let i = 0; i < commands.length; i++) {
      const { index, data } = commands[i]!;
      if (this.hashing) this.rolling = createHash('sha256').update(this.rolling).update(String(index)).update(data).digest();
      this.appliedIndex = index;
      this.count++;
      if (this.keepEntries) this.entries.push([index, createHash('sha256').update(data).digest('hex').slice(0, 16)]);
      out[i] = index;
    }
    return out;
  }

  /**
   * The whole state as one JSON chunk, taken now (the runtime may read it later). With it the node's
   * snapshot policy compacts the log, as a real service's does: without snapshots a log only grows,
   * and so does the WAL's index of it (4 bytes an entry).
   */
  snapshot(): Uint8Array[] {
    const state: LedgerSnapshot = { appliedIndex: this.appliedIndex, count: this.count, rolling: this.rolling.toString('hex') };
    if (this.keepEntries) state.entries = this.entries;
    return [Buffer.from(JSON.stringify(state))];
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Buffer[] = [];
    for await (const chunk of chunks) parts.push(Buffer.from(chunk));
    let state: Partial<LedgerSnapshot>;
    try {
      state = JSON.parse(Buffer.concat(parts).toString('utf8')) as Partial<LedgerSnapshot>;
    } catch (error) {
      throw new Error(`ledger snapshot is not JSON: ${(error as Error).message}`);
    }
    const count = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
    if (state === null || typeof state !== 'object' || !count(state.appliedIndex) || !count(state.count)) throw new Error('ledger snapshot lacks appliedIndex or count');
    if (typeof state.rolling !== 'string' || !/^[0-9a-f]{64}$/.test(state.rolling)) throw new Error('ledger snapshot has no 32-byte digest');
    const entries = state.entries ?? [];
    if (!Array.isArray(entries) || !entries.every((e) => Array.isArray(e) && e.length === 2 && count(e[0]) && typeof e[1] === 'string'))
      throw new Error('ledger snapshot has malformed entries');
    this.appliedIndex = state.appliedIndex;
    this.count = state.count;
    this.rolling = Buffer.from(state.rolling, 'hex');
    this.entries.length = 0;
    if (this.keepEntries) for (const entry of entries) this.entries.push(entry);
  }

  digest(): { appliedIndex: number; count: number; digest: string } {
    return { appliedIndex: this.appliedIndex, count: this.count, digest: this.rolling.toString('hex') };
  }
}
