import type { MemoryLog } from '../memory/memory-log.js';
import type { Entry, NodeId } from '../types.js';

/** A cheap, stable digest of bytes (FNV-1a), to compare entries without keeping copies. */
export function digest(bytes: Uint8Array, seed = 2166136261): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 16777619);
  return h >>> 0;
}

/**
 * The safety properties of Raft (Figure 3 of the paper), checked as the simulation runs. Each
 * check is incremental so it can run after every step.
 */
export class SafetyChecker {
  readonly violations: string[] = [];
  /** Election Safety: at most one leader per term. */
  private readonly leaders = new Map<number, NodeId>();
  /** Log Matching: (index, term) determines the entry and the term before it. */
  private readonly durable = new Map<string, { hash: number; prevTerm: number | undefined }>();
  /** State Machine Safety: the command applied at each index, by any node. */
  readonly applied = new Map<number, { term: number; hash: number }>();
  maxAppliedIndex = 0;

  violation(text: string): void {
    if (this.violations.length < 20) this.violations.push(text);
  }

  /** `firstIndex`: the leader's log starts there; below it its snapshot holds the committed state. */
  onLeader(id: NodeId, term: number, termAt: (index: number) => number | undefined, firstIndex = 1): void {
    const existing = this.leaders.get(term);
    if (existing !== undefined && existing !== id) {
      this.violation(`Election Safety: ${existing} and ${id} both led term ${term}`);
    }
    this.leaders.set(term, id);
    // Leader Completeness: every applied (so committed) entry is in the new leader's log.
    for (const [index, entry] of this.applied) {
      if (index < firstIndex) continue;
      const held = termAt(index);
      if (held !== entry.term) {
        this.violation(`Leader Completeness: ${id} leads term ${term} without committed entry ${index} (term ${entry.term}; it holds ${held})`);
        return;
      }
    }
  }

  onDurable(node: NodeId, entries: readonly Entry[], log: MemoryLog): void {
    for (const entry of entries) {
      const key = `${entry.index}:${entry.term}`;
      const hash = digest(entry.data, entry.type);
      const prevTerm = log.term(entry.index - 1);
      const known = this.durable.get(key);
      if (!known) {
        this.durable.set(key, { hash, prevTerm });
        continue;
      }
      if (known.hash !== hash) this.violation(`Log Matching: ${node} holds a different entry at ${key}`);
      if (known.prevTerm !== undefined && prevTerm !== undefined && known.prevTerm !== prevTerm) {
        this.violation(`Log Matching: ${node} has term ${prevTerm} before ${key}, another node has ${known.prevTerm}`);
      }
    }
  }

  onApply(node: NodeId, index: number, term: number, data: Uint8Array): void {
    const hash = digest(data);
    const first = this.applied.get(index);
    if (!first) {
      this.applied.set(index, { term, hash });
      if (index > this.maxAppliedIndex) this.maxAppliedIndex = index;
    } else if (first.term !== term || first.hash !== hash) {
      this.violation(`State Machine Safety: ${node} applied a different command at index ${index}`);
    }
  }
}
