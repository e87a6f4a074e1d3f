import { createHash } from 'node:crypto';
import type { Command, StateMachine } from '@flotilla/core';
import { decodeCommand, Op } from './commands.js';

/** What applying a KV command returned. */
export type KvResult = { readonly deleted?: boolean; readonly ok?: boolean; readonly error?: string };

/** The replicated map. Values are stored as the bytes that were written. */
export class KvStateMachine implements StateMachine<KvResult> {
  private readonly data = new Map<string, Uint8Array>();
  appliedIndex = 0;
  /** Running digest of everything applied (index and command): nodes agree iff digests agree. */
  private rolling = Buffer.alloc(32);
  /** Recent (index → digest), so nodes can be compared at a common index. Bounded. */
  private readonly history = new Map<number, Buffer>();
  private static readonly HISTORY = 100_000;

  apply(commands: readonly Command[]): KvResult[] {
    const results = new Array<KvResult>(commands.length);
    for (let i = 0; i < commands.length; i++) {
      const { index, data } = commands[i]!;
      results[i] = this.applyOne(data);
      this.rolling = createHash('sha256').update(this.rolling).update(String(index), 'latin1').update(data).digest();
      this.appliedIndex = index;
      this.history.set(index, this.rolling);
      if (this.history.size > KvStateMachine.HISTORY) this.history.delete(this.history.keys().next().value!);
    }
    return results;
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
        this.data.set(command.key, Uint8Array.from(command.value));
        return {};
      case Op.Delete:
        return { deleted: this.data.delete(command.key) };
      case Op.Cas: {
        const current = this.data.get(command.key);
        const matches = command.expect === null ? current === undefined : current !== undefined && Buffer.compare(current, command.expect) === 0;
        if (!matches) return { ok: false };
        if (command.value === null) this.data.delete(command.key);
        else this.data.set(command.key, Uint8Array.from(command.value));
        return { ok: true };
      }
    }
  }

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
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
