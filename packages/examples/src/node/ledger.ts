import { createHash } from 'node:crypto';
import type { Command, StateMachine } from '@flotilla/core';

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

  digest(): { appliedIndex: number; count: number; digest: string } {
    return { appliedIndex: this.appliedIndex, count: this.count, digest: this.rolling.toString('hex') };
  }
}
