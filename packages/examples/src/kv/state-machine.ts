import { createHash } from 'node:crypto';
import type { Command, StateMachine } from '@flotilla/core';
import { decodeCommand, Op } from './commands.js';

function bytesToString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** What applying a KV command returned. */
export type KvResult = { readonly deleted?: boolean; readonly ok?: boolean; readonly error?: string };

/**
 * The replicated map. Values are kept as latin1 strings of the bytes that were written: one byte
 * per character, exactly the bytes, and much smaller and cheaper for the garbage collector than a
 * typed array (and its backing store) per value.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  private readonly data = new Map<string, string>();
  appliedIndex = 0;
  /** Running digest of everything applied (index and command): nodes agree iff digests agree. */
  private rolling = Buffer.alloc(32);
  /** Recent (index → digest), so nodes can be compared at a common index. Bounded. */
  private readonly history = new Map<number, Buffer>();
  private static readonly HISTORY = 100_000;
  /** How far the history may overrun HISTORY before trimHistory drops the excess at once. */
  private static readonly HISTORY_SLACK = 4096;

  apply(commands: readonly Command[]): KvResult[] {
    const results = new Array<KvResult>(commands.length);
    for (let i = 0; i < commands.length; i++) {
      const { index, data } = commands[i]!;
      results[i] = this.applyOne(data);
      this.rolling = createHash('sha256').update(this.rolling).update(String(index), 'latin1').update(data).digest();
      this.appliedIndex = index;
      this.history.set(index, this.rolling);
      if (this.history.size > KvStateMachine.HISTORY + KvStateMachine.HISTORY_SLACK) this.trimHistory();
    }
    return results;
  }

  /**
   * Drops the oldest digests down to HISTORY, in one pass. Not one per apply: `delete(keys().next())`
   * is quadratic, as V8's Map keeps a hole per deleted entry until it rehashes and every new iterator
   * walks over all of them from the start (tens of µs per apply once the history is full).
   */
  private trimHistory(): void {
    let excess = this.history.size - KvStateMachine.HISTORY;
    for (const index of this.history.keys()) {
      if (excess-- <= 0) break;
      this.history.delete(index);
    }
  }

  private applyOne(data: Uint8Array): KvResult {
    let command;
    try {
      command = decodeCommand(data);
    } catch (error) {
      return { error: `malformed command: ${(error as Error).message}` };
    }
    switch (command.op) {
      case Op.Put:
        this.data.set(command.key, bytesToString(command.value));
        return {};
      case Op.Delete:
        return { deleted: this.data.delete(command.key) };
      case Op.Cas: {
        const current = this.data.get(command.key);
        const matches = command.expect === null ? current === undefined : current === bytesToString(command.expect);
        if (!matches) return { ok: false };
        if (command.value === null) this.data.delete(command.key);
        else this.data.set(command.key, bytesToString(command.value));
        return { ok: true };
      }
    }
  }

  get(key: string): Uint8Array | undefined {
    const value = this.data.get(key);
    return value === undefined ? undefined : Buffer.from(value, 'latin1');
  }

  get size(): number {
    return this.data.size;
  }

  /** The digest after applying `index`, if still remembered. */
  digestAt(index: number): string | undefined {
    return index === 0 ? Buffer.alloc(32).toString('hex') : this.history.get(index)?.toString('hex');
  }

  digest(): { appliedIndex: number; digest: string; keys: number } {
    return { appliedIndex: this.appliedIndex, digest: this.rolling.toString('hex'), keys: this.data.size };
  }
}
