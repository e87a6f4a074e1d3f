/**
 * The list-append checker. Each key is a list; an append adds a unique value; a read returns the
 * whole list. With linearizable appends and reads, every key's reads are prefixes of one list, in
 * real-time order, and that list holds every acknowledged append exactly once, in an order that
 * respects real time. Pure: no I/O. O(reads × list length) per key.
 */
import type { ListOp } from './history.js';

export type ListAnomalyKind =
  /** A value appears twice in one read. */
  | 'duplicate'
  /** A read holds a value nobody appended. */
  | 'phantom'
  /** A read holds the value of an append that definitely failed. */
  | 'failed-append-visible'
  /** Two reads where neither is a prefix of the other. */
  | 'divergent'
  /** A read that began after another ended saw less (or something else) than it. */
  | 'non-monotonic'
  /** Reads that began after an append was acknowledged do not hold its value (reported once per append). */
  | 'stale-read'
  /** The final read does not hold an acknowledged append. */
  | 'lost'
  /** A read that ended before an append was invoked already held its value. */
  | 'from-the-future'
  /** Two appends, one acknowledged before the other was invoked, appear in the opposite order. */
  | 'order';

/** Report order: the root causes first (a lost append also makes stale reads). */
const SEVERITY: readonly ListAnomalyKind[] = ['lost', 'duplicate', 'failed-append-visible', 'phantom', 'divergent', 'order', 'from-the-future', 'non-monotonic', 'stale-read'];

export interface ListAnomaly {
  readonly kind: ListAnomalyKind;
  readonly key: string;
  readonly message: string;
  /** The operations involved, by id. */
  readonly ops: readonly number[];
}

export interface ListCheckResult {
  readonly valid: boolean;
  readonly anomalies: readonly ListAnomaly[];
  /** Counts per kind (the anomalies list keeps at most `maxReported` of each). */
  readonly counts: Readonly<Record<string, number>>;
  readonly keys: number;
  readonly acknowledgedAppends: number;
}

/**
 * `finalReads` are the lists read (linearizably, after healing and convergence) at the end, by key:
 * every acknowledged append must be in its key's final read exactly once.
 */
export function checkListAppend(ops: readonly ListOp[], finalReads: ReadonlyMap<string, readonly string[]>, maxReported = 5): ListCheckResult {
  const anomalies: ListAnomaly[] = [];
  const counts: Record<string, number> = {};
  const report = (kind: ListAnomalyKind, key: string, message: string, involved: number[]): void => {
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (counts[kind]! <= maxReported) anomalies.push({ kind, key, message, ops: involved });
  };

  const byKey = new Map<string, ListOp[]>();
  for (const op of ops) {
    if (!byKey.has(op.key)) byKey.set(op.key, []);
    byKey.get(op.key)!.push(op);
  }
  for (const key of finalReads.keys()) if (!byKey.has(key)) byKey.set(key, []);
  let acknowledged = 0;

  for (const [key, keyOps] of byKey) {
    const appends = new Map<string, Extract<ListOp, { f: 'append' }>>();
    for (const op of keyOps) {
      if (op.f !== 'append') continue;
      if (appends.has(op.value)) throw new Error(`the history appends ${JSON.stringify(op.value)} to ${key} twice: values must be unique`);
      appends.set(op.value, op);
      if (op.outcome === 'ok') acknowledged++;
    }
    const reads = keyOps.filter((op): op is Extract<ListOp, { f: 'read' }> & { list: readonly string[] } => op.f === 'read' && op.outcome === 'ok' && op.list !== undefined);
    const final = finalReads.get(key);
    type Observation = { readonly id: number; readonly call: number; readonly ret: number; readonly list: readonly string[]; readonly final: boolean };
    const observations: Observation[] = reads.map((r) => ({ id: r.id, call: r.call, ret: r.ret, list: r.list, final: false }));
    if (final) observations.push({ id: -1, call: Infinity, ret: Infinity, list: final, final: true });
    const name = (o: Observation): string => (o.final ? 'the final read' : `read #${o.id}`);

    // Each read on its own: no duplicates, nothing that was not appended, nothing that failed,
    // nothing appended only after the read had ended.
    for (const o of observations) {
      const seen = new Set<string>();
      for (const value of o.list) {
        if (seen.has(value)) report('duplicate', key, `${name(o)} holds ${JSON.stringify(value)} twice`, [o.id]);
        seen.add(value);
        const append = appends.get(value);
        if (!append) report('phantom', key, `${name(o)} holds ${JSON.stringify(value)}, which no client appended`, [o.id]);
        else if (append.outcome === 'fail') report('failed-append-visible', key, `${name(o)} holds ${JSON.stringify(value)}, whose append #${append.id} definitely failed`, [o.id, append.id]);
        else if (append.call > o.ret) report('from-the-future', key, `${name(o)} holds ${JSON.stringify(value)}, appended by #${append.id} only after the read ended`, [o.id, append.id]);
      }
    }

    // All reads are prefixes of the longest one, and in real-time order they only grow.
    const sorted = [...observations].sort((a, b) => a.list.length - b.list.length);
    const isPrefix = (a: readonly string[], b: readonly string[]): boolean => a.length <= b.length && a.every((v, i) => b[i] === v);
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [sorted[i - 1]!, sorted[i]!];
      if (!isPrefix(a.list, b.list)) report('divergent', key, `${name(a)} ${JSON.stringify(a.list)} is not a prefix of ${name(b)} ${JSON.stringify(b.list)}`, [a.id, b.id]);
    }
    const byCall = [...observations].sort((a, b) => a.call - b.call);
    // For each read, the longest read that ended before it began (a running maximum over ret order).
    const byRet = [...observations].sort((a, b) => a.ret - b.ret);
    let j = 0;
    let longestEnded: Observation | undefined;
    for (const o of byCall) {
      while (j < byRet.length && byRet[j]!.ret < o.call) {
        if (!longestEnded || byRet[j]!.list.length > longestEnded.list.length) longestEnded = byRet[j];
        j++;
      }
      if (longestEnded && !isPrefix(longestEnded.list, o.list)) {
        report('non-monotonic', key, `${name(o)} ${JSON.stringify(o.list)} began after ${name(longestEnded)} ${JSON.stringify(longestEnded.list)} ended, but does not extend it`, [longestEnded.id, o.id]);
      }
    }

    // Acknowledged appends are seen by every read that began after them, and kept by the final read.
    for (const append of appends.values()) {
      if (append.outcome !== 'ok') continue;
      const missing = observations.filter((o) => !o.final && o.call > append.ret && !o.list.includes(append.value));
      if (missing.length > 0) {
        const first = missing.reduce((a, b) => (b.call < a.call ? b : a));
        report('stale-read', key, `${name(first)}${missing.length > 1 ? ` (and ${missing.length - 1} later reads)` : ''} began after append #${append.id} of ${JSON.stringify(append.value)} was acknowledged, but does not hold it`, [append.id, ...missing.map((o) => o.id)]);
      }
      if (final && !final.includes(append.value)) report('lost', key, `the acknowledged append #${append.id} of ${JSON.stringify(append.value)} is not in the final list`, [append.id]);
    }

    // Real-time order of appends in the final list (or the longest read).
    const longest = sorted[sorted.length - 1]?.list ?? [];
    const position = new Map(longest.map((v, i) => [v, i]));
    const placed = [...appends.values()].filter((a) => a.outcome === 'ok' && position.has(a.value)).sort((a, b) => a.call - b.call);
    for (const later of placed) {
      for (const earlier of placed) {
        if (earlier.ret < later.call && position.get(earlier.value)! > position.get(later.value)!) {
          report('order', key, `append #${earlier.id} (${JSON.stringify(earlier.value)}) was acknowledged before #${later.id} (${JSON.stringify(later.value)}) began, but comes after it`, [earlier.id, later.id]);
        }
      }
    }
  }
  const rank = (kind: ListAnomalyKind): number => SEVERITY.indexOf(kind);
  anomalies.sort((a, b) => rank(a.kind) - rank(b.kind));
  return { valid: anomalies.length === 0, anomalies, counts, keys: byKey.size, acknowledgedAppends: acknowledged };
}
